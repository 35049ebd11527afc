/**
 * Builds the channel options that select a grpc-ha policy, validating the policy config up
 * front: grpc-js itself silently falls back to pick_first when a config entry is invalid.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { parseHealthCheckConfig, type HealthCheckConfig } from '../core/health/health-config.js';
import { registerPolicies, validatePolicyConfig } from './register-policies.js';

/** One load balancing config entry, e.g. `{ least_request: { choiceCount: 2 } }`. */
export type LoadBalancingConfigEntry = Readonly<Record<string, object>>;

/** Service config fields set next to the load balancing config. */
export interface ServiceConfigExtras {
  /**
   * Client-side health checking (gRFC A17): every endpoint is watched on
   * grpc.health.v1.Health/Watch for this service name ("" for the whole server). Off by default.
   */
  readonly healthCheckConfig?: HealthCheckConfig;
}

/**
 * Channel options selecting `policy` (a config entry or a bare policy name), merged over `base`,
 * with `extras` (e.g. `healthCheckConfig`) set in the same service config.
 * Throws GrpcHaError(INVALID_CONFIG) naming the policy, field and rule when the config is invalid.
 */
export function policyChannelOptions(
  policy: LoadBalancingConfigEntry | string,
  base: ChannelOptions = {},
  extras: ServiceConfigExtras = {},
): ChannelOptions {
  registerPolicies();
  const entry: LoadBalancingConfigEntry = typeof policy === 'string' ? { [policy]: {} } : policy;
  const names = Object.keys(entry);
  if (names.length !== 1) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `loadBalancingConfig entry must have exactly one policy name, got ${JSON.stringify(names)}`,
    );
  }
  if (!experimental.isLoadBalancerNameRegistered(names[0]!)) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `unknown load balancing policy ${JSON.stringify(names[0])}`);
  }
  const name = names[0]!;
  if (!validatePolicyConfig(name, entry[name])) {
    // One of grpc-js's own policies (round_robin, pick_first, ...): it validates them itself.
    try {
      experimental.parseLoadBalancingConfig(entry as never);
    } catch (error) {
      throw GrpcHaError.from(error, ERROR_CODES.INVALID_CONFIG);
    }
  }
  const existing = base['grpc.service_config'] ? (JSON.parse(base['grpc.service_config']) as object) : {};
  const health = extras.healthCheckConfig === undefined ? {} : { healthCheckConfig: parseHealthCheckConfig(extras.healthCheckConfig) };
  return { ...base, 'grpc.service_config': JSON.stringify({ ...existing, ...health, loadBalancingConfig: [entry] }) };
}
