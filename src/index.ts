/**
 * grpc-ha: high availability for gRPC services on Node.js. Every public export, by name.
 */

// Load-balancing policies for grpc-js channels.
export { register, validatePolicyConfig, POLICY_NAMES } from './policies/register.js';
export { policyChannelOptions, type LoadBalancingConfigEntry } from './grpc/service-config.js';
export { RANDOM, randomPolicy } from './policies/random.js';
export { WEIGHTED_RANDOM, weightedRandomPolicy } from './policies/weighted-random.js';
export { STATIC_WEIGHTED_ROUND_ROBIN, staticWeightedRoundRobinPolicy } from './policies/static-weighted-round-robin.js';
export { LEAST_REQUEST, leastRequestPolicy } from './policies/least-request.js';
export { PEAK_EWMA, peakEwmaPolicy } from './policies/peak-ewma.js';
export { RING_HASH, ringHashPolicy } from './policies/ring-hash.js';

// Extension point: define and register a policy of your own around a pure picker.
export { registerPolicy } from './grpc/register-policy.js';
export { PolicyConfig, parsePolicyConfig, type PolicyDefinition } from './grpc/policy-config.js';
export { PickerLoadBalancer, DEFAULT_FAILURE_CODES } from './grpc/picker-balancer.js';
export {
  withAttributes,
  attributesOf,
  endpointKey,
  type EndpointAttributes,
  type AttributedEndpoint,
} from './grpc/endpoint-attributes.js';

// Pure pickers (no grpc-js types), shared by the policies, the proxy and the benchmarks.
export {
  defaultPickerEnv,
  randomIndex,
  type EndpointPicker,
  type PickerEndpoint,
  type PickerEnv,
  type PickerFactory,
  type RandomSource,
  type Clock,
} from './algorithms/picker.js';
export { EndpointLoad, DEFAULT_EWMA, type EwmaSettings } from './algorithms/endpoint-load.js';
export { seededRandom } from './algorithms/seeded-random.js';
export { createRandomPicker } from './algorithms/random-picker.js';
export { createRoundRobinPicker } from './algorithms/round-robin-picker.js';
export { createWeightedRandomPicker, buildAliasTable } from './algorithms/weighted-random-picker.js';
export {
  createWeightedRoundRobinPicker,
  buildEdfSchedule,
  type WeightedRoundRobinOptions,
} from './algorithms/weighted-round-robin-picker.js';
export {
  createLeastRequestPicker,
  LEAST_REQUEST_DEFAULTS,
  type LeastRequestOptions,
} from './algorithms/least-request-picker.js';
export { createPeakEwmaPicker, peakEwmaCost, type PeakEwmaOptions } from './algorithms/peak-ewma-picker.js';
export {
  createRingHashPicker,
  buildRing,
  lookup as ringLookup,
  RING_HASH_DEFAULTS,
  type RingHashOptions,
  type RingHashPicker,
  type Ring,
} from './algorithms/ring-hash-picker.js';
export { hash32 } from './algorithms/hash.js';

// Errors.
export { GrpcHaError, ERROR_CODES, type GrpcHaErrorCode } from './errors.js';

// The example service (proto/example/v1/echo.proto), for experiments, tests and benchmarks.
export {
  startExampleServer,
  type ExampleServer,
  type ExampleServerOptions,
  type FailureSpec,
} from './example/example-server.js';
export {
  EchoClient,
  ECHO_SERVICE_NAME,
  echoServiceDefinition,
  type EchoRequest,
  type EchoReply,
  type StreamRequest,
} from './example/echo-service.js';
