/**
 * `grpc-ha/policy-kit`: what a policy author needs — define a policy around a pure picker
 * (`grpc-ha/pickers`) and register it with grpc-js, the built-in policy definitions to reuse,
 * endpoint attributes for your own resolver, and the transport-free health primitives (outlier
 * detection, slow start, panic threshold, backoff) with their defaults.
 */

// The admin routes (metrics, state, dashboard) for a front end's own HTTP server, as the proxy's admin port serves them.
export { createAdminHandler } from './observe/admin-server.js';

// Your own policy around a pure picker.
export { registerPolicy } from './grpc/register-policy.js';
export { PolicyConfig, parsePolicyConfig, type PolicyDefinition } from './core/policies/policy-config.js';
export { randomPolicy } from './core/policies/random.js';
export { weightedRandomPolicy } from './core/policies/weighted-random.js';
export { staticWeightedRoundRobinPolicy } from './core/policies/static-weighted-round-robin.js';
export { leastRequestPolicy } from './core/policies/least-request.js';
export { peakEwmaPolicy } from './core/policies/peak-ewma.js';
export { ringHashPolicy } from './core/policies/ring-hash.js';
export { HEALTH_AWARE } from './core/policies/health-aware-config.js';

// Endpoint attributes (weight, zone, ...) a resolver attaches and the policies read.
export {
  withAttributes,
  attributesOf,
  endpointKey,
  type EndpointAttributes,
  type AttributedEndpoint,
} from './grpc/endpoint-attributes.js';

// Health primitives: client health checking (gRFC A17), outlier ejection (A50), slow start,
// panic threshold, backoff — pure, driven by the grpc-js adapter and the proxy alike.
export {
  DEFAULT_HEALTH_SETTINGS,
  healthFields,
  parseHealthCheckConfig,
  toHealthSettings,
  type HealthCheckConfig,
  type HealthSettings,
} from './core/health/health-config.js';
export {
  HEALTH_CHECK_BACKOFF,
  DEFAULT_FAILURE_CODE_NAMES,
  OUTLIER_EJECTION_DEFAULTS,
  SUCCESS_RATE_DEFAULTS,
  FAILURE_PERCENTAGE_DEFAULTS,
  SLOW_START_DEFAULTS,
  DEFAULT_PANIC_THRESHOLD_PERCENT,
} from './core/health/health-defaults.js';
export {
  OutlierDetector,
  ejectionTimeMs,
  emptyEjectionCounters,
  type OutlierEjectionSettings,
  type Ejection,
  type EjectionKind,
  type EjectionCounters,
} from './core/health/outlier-detector.js';
export {
  successRateOutliers,
  failurePercentageOutliers,
  type SuccessRateSettings,
  type FailurePercentageSettings,
  type IntervalCounts,
  type Outlier,
} from './core/health/outlier-statistics.js';
export { slowStartFactor, keepProbability, type SlowStartSettings } from './core/health/slow-start.js';
export { inPanic } from './core/health/panic-threshold.js';
export { EndpointSetHealth, type EndpointSetHealthOptions } from './core/health/endpoint-set-health.js';
export { type HealthSink, type HealthEventName } from './core/health/health-events.js';
export { Backoff, type BackoffSettings } from './core/backoff.js';
export {
  noHealthyEndpointMessage,
  endpointCondition,
  healthClass,
  type EndpointCondition,
  type HealthCheckStatus,
} from './core/health/endpoint-condition.js';
export { watchHealth, knownHealth, type HealthWatchListener } from './grpc/health-watch.js';
