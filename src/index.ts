/**
 * grpc-ha: high availability for gRPC services on Node.js. Every public export, by name.
 */

// Load-balancing policies for grpc-js channels.
export { register, validatePolicyConfig, POLICY_NAMES } from './grpc/register-policies.js';
export { policyChannelOptions, type LoadBalancingConfigEntry } from './grpc/service-config.js';
export { RANDOM, randomPolicy } from './core/policies/random.js';
export { WEIGHTED_RANDOM, weightedRandomPolicy } from './core/policies/weighted-random.js';
export { STATIC_WEIGHTED_ROUND_ROBIN, staticWeightedRoundRobinPolicy } from './core/policies/static-weighted-round-robin.js';
export { LEAST_REQUEST, leastRequestPolicy } from './core/policies/least-request.js';
export { PEAK_EWMA, peakEwmaPolicy } from './core/policies/peak-ewma.js';
export { RING_HASH, ringHashPolicy } from './core/policies/ring-hash.js';

// Extension point: define and register a policy of your own around a pure picker.
export { registerPolicy } from './grpc/register-policy.js';
export { PolicyConfig, parsePolicyConfig, type PolicyDefinition } from './core/policies/policy-config.js';
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
} from './core/pickers/picker.js';
export { EndpointLoad, DEFAULT_EWMA, type EwmaSettings } from './core/pickers/endpoint-load.js';
export { seededRandom } from './core/pickers/seeded-random.js';
export { createRandomPicker } from './core/pickers/random-picker.js';
export { createRoundRobinPicker } from './core/pickers/round-robin-picker.js';
export { createWeightedRandomPicker, buildAliasTable } from './core/pickers/weighted-random-picker.js';
export {
  createWeightedRoundRobinPicker,
  buildEdfSchedule,
  type WeightedRoundRobinOptions,
} from './core/pickers/weighted-round-robin-picker.js';
export {
  createLeastRequestPicker,
  LEAST_REQUEST_DEFAULTS,
  type LeastRequestOptions,
} from './core/pickers/least-request-picker.js';
export { createPeakEwmaPicker, peakEwmaCost, type PeakEwmaOptions } from './core/pickers/peak-ewma-picker.js';
export {
  createRingHashPicker,
  buildRing,
  lookup as ringLookup,
  RING_HASH_DEFAULTS,
  type RingHashOptions,
  type RingHashPicker,
  type Ring,
} from './core/pickers/ring-hash-picker.js';
export { hash32 } from './core/pickers/hash.js';

// Errors.
export { GrpcHaError, ERROR_CODES, type GrpcHaErrorCode } from './core/errors.js';

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

// Health: client health checking (gRFC A17), outlier ejection, slow start, panic threshold, and
// the server's grpc.health.v1 service.
export { addHealthService, type HealthService, type HealthServiceOptions, type HealthStatus } from './server/health-service.js';
export { type ServiceConfigExtras } from './grpc/service-config.js';
export { HEALTH_AWARE, HealthAwareBalancer, HealthAwareConfig, parseHealthAwareConfig } from './grpc/health-aware-policy.js';
export { HealthLayer, NESTED_HEALTH_LAYER_OPTION, outlierEjectionCounters } from './grpc/health-layer.js';
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
export { Backoff, type BackoffSettings } from './core/backoff.js';
export {
  noHealthyEndpointMessage,
  endpointCondition,
  healthClass,
  type EndpointCondition,
  type HealthCheckStatus,
} from './core/health/endpoint-condition.js';
export { watchHealth, knownHealth, type HealthWatchListener } from './grpc/health-watch.js';

// Service discovery and registration: the Registry interface, its backends (embedded file
// directory, etcd, Consul, static), grpc-js resolvers for file:, etcd:, consul:, static: targets,
// and central service config documents.
export { registerResolvers, registryChannelOptions, toEndpoints, REGISTRY_CHANNEL_OPTION, MIN_RERESOLUTION_MS_OPTION, DEFAULT_MIN_RERESOLUTION_MS } from './grpc/resolver.js';
export { parseDiscoveryTarget, DISCOVERY_SCHEMES, type DiscoveryScheme, type DiscoveryTarget } from './discovery/target.js';
export type {
  Registry,
  Registration,
  RegistrationState,
  RegisterOptions,
  ServiceQuery,
  WatchHandler,
  Unsubscribe,
} from './discovery/registry.js';
export { parseRegistration, type ServiceInstance, type InstanceRegistration } from './discovery/instance.js';
export { parseAddress, splitAddress, formatAddress, type HostPort } from './core/address.js';
export { FileRegistry, FILE_REGISTRY_DEFAULTS, defaultRegistryDir, type FileRegistryOptions } from './discovery/file-registry.js';
export { EtcdRegistry, ETCD_REGISTRY_DEFAULTS, type EtcdRegistryOptions, type EtcdTlsOptions } from './discovery/etcd-registry.js';
export { encodeEndpoint as encodeEtcdEndpoint, decodeEndpoint as decodeEtcdEndpoint } from './discovery/etcd-naming.js';
export { ConsulRegistry, CONSUL_REGISTRY_DEFAULTS, type ConsulRegistryOptions, type ConsulCheck } from './discovery/consul-registry.js';
export { StaticRegistry, parseStaticList, type StaticRegistryOptions } from './discovery/static-registry.js';
export { parseServiceConfigDocument, MAX_SERVICE_CONFIG_BYTES, type ServiceConfigResult } from './discovery/service-config-doc.js';
export { setDiscoveryLogger, type DiscoveryLogger, type LogLevel } from './discovery/log.js';
export { registrar, type HookRegistration, type RegistrarOptions } from './discovery/registrar.js';
export { type BackoffOptions, DEFAULT_BACKOFF, registryBackoff } from './discovery/backoff.js';

// Resilient clients: deadlines, retries within a budget, hedging, deadline propagation.
export { createClient, resilientChannelOptions, DEFAULT_POLICY, type ClientConstructor, type CreateClientOptions } from './client/create-client.js';
export {
  parseResilienceOptions,
  DEFAULT_DEADLINE_MS,
  RETRY_DEFAULTS,
  RETRY_BUDGET_DEFAULTS,
  HEDGING_DEFAULTS,
  type ResilienceInput,
  type ResilienceOptions,
} from './client/resilience-options.js';
export { downstreamCallOptions, type ServerCall } from './client/propagate.js';
export { defaultDeadlineInterceptor, errorContextInterceptor } from './client/interceptors.js';

// Server lifecycle: serve, drain, cluster mode; structured logs.
export {
  serve,
  SERVER_DEFAULTS,
  type ServeOptions,
  type HaServer,
  type ServiceBinding,
  type Register,
  type Registration as ServerRegistration,
  type ServerState,
} from './server/ha-server.js';
export { runCluster, type ClusterOptions, type ClusterHandle } from './server/workers.js';
export { createLogger, type Logger } from './observe/logger.js';
export { createEchoService, type EchoService } from './example/example-server.js';

// Observability: Prometheus metrics, the admin API and dashboard, state-change events.
export { startAdminServer, createAdminHandler, adminState, ADMIN_DEFAULTS, type AdminServer, type AdminServerOptions } from './observe/admin-server.js';
export { registerGrpcHaMetrics, grpcHaMetricsRegistry } from './observe/metrics.js';
export { METRICS, type MetricDefinition } from './observe/metrics-table.js';
export { onEvent, recentEvents, EVENT_NAMES, type HaEvent, type EventName, type EventListener } from './observe/events.js';
export { SERVICE_LABEL_OPTION, type ChannelState, type EndpointState } from './observe/channel-observer.js';

// The grpc-ha proxy: a gRPC HTTP/2 load balancer driven by the same pickers and registries.
export { startProxy, type Proxy, type StartProxyOptions } from './proxy/proxy.js';
export {
  parseProxyConfig,
  loadProxyConfigFile,
  zeroConfig as proxyZeroConfig,
  PROXY_DEFAULTS,
  type ProxyConfig,
  type ProxyConfigInput,
  type ClusterConfig as ProxyClusterConfig,
  type RouteConfig as ProxyRouteConfig,
} from './proxy/proxy-config.js';
export {
  registerEndpointSourceScheme,
  staticEndpointSource,
  type EndpointSource,
  type EndpointSourceFactory,
  type ProxyEndpoint,
} from './proxy/endpoint-source.js';
