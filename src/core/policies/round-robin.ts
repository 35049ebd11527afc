/**
 * `round_robin`: endpoints in turn (the pure round-robin picker). grpc-js has its own built in, so
 * the grpc-js adapter does not register this one; the proxy offers it as the baseline nginx and
 * HAProxy default to.
 */
import { z } from 'zod';
import { createRoundRobinPicker } from '../pickers/round-robin-picker.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const ROUND_ROBIN = 'round_robin';

/** The `round_robin` policy. */
export const roundRobinPolicy = definePolicy({
  name: ROUND_ROBIN,
  createPicker: createRoundRobinPicker,
  schema: z.object({}),
  toOptions: () => ({}),
});
