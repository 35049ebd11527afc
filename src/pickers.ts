/**
 * `grpc-ha/pickers`: the pure pickers under every grpc-ha policy and the proxy — no grpc-js
 * types, randomness and clock injected — for benchmarks, simulations and your own balancer.
 * An immutable picker snapshot is built from endpoints with their loads; `pick()` never blocks.
 */
export {
  defaultPickerEnv,
  randomIndex,
  type EndpointPicker,
  type PickerEndpoint,
  type PickerEnv,
  type PickerFactory,
  type RandomSource,
  type Clock,
} from './core/pickers/picker.js';
export { EndpointLoad, DEFAULT_EWMA, type EwmaSettings } from './core/pickers/endpoint-load.js';
export { seededRandom } from './core/pickers/seeded-random.js';
export { createRandomPicker } from './core/pickers/random-picker.js';
export { createRoundRobinPicker } from './core/pickers/round-robin-picker.js';
export { createWeightedRandomPicker } from './core/pickers/weighted-random-picker.js';
export { createWeightedRoundRobinPicker, type WeightedRoundRobinOptions } from './core/pickers/weighted-round-robin-picker.js';
export { createLeastRequestPicker, LEAST_REQUEST_DEFAULTS, type LeastRequestOptions } from './core/pickers/least-request-picker.js';
export { createPeakEwmaPicker, type PeakEwmaOptions } from './core/pickers/peak-ewma-picker.js';
export { createRingHashPicker, RING_HASH_DEFAULTS, type RingHashOptions, type RingHashPicker, type Ring } from './core/pickers/ring-hash-picker.js';
