/** `weighted_random`: random choice in proportion to static weights. Config: `{"weighted_random": {"weights": {...}}}`. */
import { z } from 'zod';
import { createWeightedRandomPicker } from '../pickers/weighted-random-picker.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const WEIGHTED_RANDOM = 'weighted_random';

/** The `weighted_random` policy. */
export const weightedRandomPolicy = definePolicy({
  name: WEIGHTED_RANDOM,
  createPicker: createWeightedRandomPicker,
  schema: z.object({}),
  toOptions: () => ({}),
});
