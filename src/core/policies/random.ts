/** `random`: uniform random choice among READY endpoints. Config: `{"random": {}}`. */
import { z } from 'zod';
import { createRandomPicker } from '../pickers/random-picker.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const RANDOM = 'random';

/** The `random` policy. */
export const randomPolicy = definePolicy({
  name: RANDOM,
  createPicker: createRandomPicker,
  schema: z.object({}),
  toOptions: () => ({}),
});
