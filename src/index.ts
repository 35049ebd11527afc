/**
 * grpc-ha: high availability for gRPC services on Node.js — what an application uses, by name.
 * Extension points have their own entry points: `grpc-ha/pickers` (pure pickers),
 * `grpc-ha/policy-kit` (your own policy, the health primitives) and `grpc-ha/example` (the
 * example Echo service, for experiments).
 */

// Load-balancing policies for grpc-js channels.
export { registerPolicies, POLICY_NAMES } from './grpc/register-policies.js';
export { policyChannelOptions, type LoadBalancingConfigEntry, type PolicyName, type ServiceConfigExtras } from './grpc/service-config.js';
export type { HealthCheckConfig } from './core/health/health-config.js';

// Resilient clients: deadlines, retries within a budget, hedging, deadline propagation.
export { createClient, resilientChannelOptions, type ClientConstructor, type CreateClientOptions } from './client/create-client.js';
export { downstreamCallOptions, type ServerCall } from './client/propagate.js';
export { reopenStream, type ReopenStreamOptions } from './client/reopen-stream.js';

// Servers: serve with health and drain, Node workers on one port, the grpc.health.v1 service, logs.
export { serve, type ServeOptions, type HaServer, type ServiceBinding, type RegisterHook, type ServerState } from './server/ha-server.js';
export { drainSignal, type CallEndReason } from './server/call-tracker.js';
export { runWorkers, type WorkersOptions, type WorkersHandle } from './server/workers.js';
export { addHealthService, type HealthService, type HealthServiceOptions, type HealthStatus } from './server/health-service.js';
export { createLogger, type Logger } from './observe/logger.js';

// Service discovery and registration: the Registry interface, its backends (embedded file
// directory, etcd, Consul, static), the read-only DNS and Kubernetes sources, and grpc-js
// resolvers for file:, etcd:, consul:, static:, ha-dns:, k8s: targets.
export type {
  InstanceSource,
  Registry,
  Registration,
  RegistrationState,
  RegisterOptions,
  ServiceQuery,
  WatchHandler,
  Unsubscribe,
} from './discovery/registry.js';
export type { ServiceInstance, ServiceInstanceInput } from './discovery/instance.js';
export { registerResolvers, registryChannelOptions } from './grpc/resolver.js';
export { parseDiscoveryTarget, type DiscoveryTarget } from './discovery/target.js';
export { registrar, type RegistrarOptions } from './discovery/registrar.js';
export { FileRegistry, type FileRegistryOptions } from './discovery/file-registry.js';
export { EtcdRegistry, type EtcdRegistryOptions, type EtcdTlsOptions } from './discovery/etcd-registry.js';
export { ConsulRegistry, type ConsulRegistryOptions, type ConsulCheck } from './discovery/consul-registry.js';
export { StaticRegistry, type StaticRegistryOptions } from './discovery/static-registry.js';
// Their options types stay out of the main entry (kept under 80 names): ConstructorParameters<typeof DnsDiscovery>[0].
export { DnsDiscovery } from './discovery/dns/dns-discovery.js';
export { KubernetesDiscovery } from './discovery/kubernetes/kubernetes-discovery.js';
export { setDiscoveryLogger, type DiscoveryLogger } from './discovery/log.js';

// Observability: the admin server (Prometheus metrics, state API, dashboard), state-change events.
export { startAdminServer, type AdminServer, type AdminServerOptions } from './observe/admin-server.js';
export { registerGrpcHaMetrics, grpcHaMetricsRegistry } from './observe/metrics.js';
export { onEvent, recentEvents, type HaEvent, type EventName, type EventListener } from './observe/events.js';
export { SERVICE_LABEL_OPTION } from './observe/channel-observer.js';

// The grpc-ha proxy: a gRPC HTTP/2 load balancer driven by the same policies and registries.
export { startProxy, type Proxy, type StartProxyOptions } from './proxy/proxy.js';
export { parseProxyConfig, loadProxyConfigFile, type ProxyConfig, type ProxyConfigInput } from './proxy/proxy-config.js';

// Errors: one error type with a stable code.
export { GrpcHaError, ERROR_CODES, type GrpcHaErrorCode } from './core/errors.js';
