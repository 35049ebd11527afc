/**
 * `static_weighted_round_robin`: round robin in proportion to static weights (from the config or
 * the registry), evenly interleaved. Named apart from grpc-js's own `weighted_round_robin`
 * (gRFC A58), which learns weights from backend ORCA load reports: use that one when backends
 * report load, this one when an operator assigns capacity.
 */
import { z } from 'zod';
import {
  createWeightedRoundRobinPicker,
  DEFAULT_MAX_SCHEDULE_LENGTH,
  type WeightedRoundRobinOptions,
} from '../pickers/weighted-round-robin-picker.js';
import { integer } from '../parse-config.js';
import { definePolicy } from './policy-config.js';

/** The service config key. */
export const STATIC_WEIGHTED_ROUND_ROBIN = 'static_weighted_round_robin';

/** The `static_weighted_round_robin` policy. */
export const staticWeightedRoundRobinPolicy = definePolicy({
  name: STATIC_WEIGHTED_ROUND_ROBIN,
  createPicker: createWeightedRoundRobinPicker,
  schema: z.object({ maxScheduleLength: integer(1, 1 << 24).optional() }),
  toOptions: (p): WeightedRoundRobinOptions => ({ maxScheduleLength: (p.maxScheduleLength as number | undefined) ?? DEFAULT_MAX_SCHEDULE_LENGTH }),
});
