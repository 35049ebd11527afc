/**
 * Builds the channel options that select a grpc-ha policy, validating the policy config up
 * front: grpc-js itself silently falls back to pick_first when a config entry is invalid.
 * Policy names and their configs are typed, so an editor completes them and `tsc` rejects a
 * misspelt one; at run time an unknown name or field is an error that suggests the closest.
 */
import type { ChannelOptions, Interceptor } from '@grpc/grpc-js';
import { experimental, logVerbosity } from '@grpc/grpc-js';
import { didYouMean } from '../core/did-you-mean.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { parseHealthCheckConfig, type HealthCheckConfig } from '../core/health/health-config.js';
import { POLICY_NAMES, type PickerPolicyConfigs } from '../core/policies/catalogue.js';
import { HEALTH_AWARE, type HealthAwareFieldsInput } from '../core/policies/health-aware-config.js';
import { warnIfSeveralGrpcJs } from './grpc-js-copy.js';
import { registerPolicies, validatePolicyConfig } from './register-policies.js';
import { registerResolvers } from './resolver.js';
import { streamMarkInterceptor } from './stream-calls.js';

/** A grpc-js duration in a service config: "1.5s" or `{ seconds, nanos }`. */
type Duration = string | { readonly seconds: number; readonly nanos: number };

/** The config of every policy grpc-ha knows, by name: its own policies, `health_aware`, and grpc-js's built-in ones. */
export interface PolicyConfigs extends PickerPolicyConfigs {
  /** The health layer around any child policy (grpc-js's included). */
  readonly health_aware: HealthAwareFieldsInput & { readonly childPolicy: readonly LoadBalancingConfigEntry[] };
  /** grpc-js: endpoints in turn; ignores health. */
  readonly round_robin: Readonly<Record<string, never>>;
  /** grpc-js: the first endpoint that connects. */
  readonly pick_first: { readonly shuffleAddressList?: boolean };
  /** grpc-js (gRFC A58): weights learned from the backends' ORCA load reports. */
  readonly weighted_round_robin: {
    readonly enable_oob_load_report?: boolean;
    readonly oob_load_reporting_period?: Duration;
    readonly blackout_period?: Duration;
    readonly weight_expiration_period?: Duration;
    readonly weight_update_period?: Duration;
    readonly error_utilization_penalty?: number;
  };
}

/** A load balancing policy name: `'least_request' | 'peak_ewma' | 'round_robin' | ...`. */
export type PolicyName = keyof PolicyConfigs;

/**
 * One load balancing config entry, e.g. `{ least_request: { choiceCount: 2 } }`, typed per
 * policy. A policy of your own (`registerPolicy`) is not in the type: pass its entry `as LoadBalancingConfigEntry`.
 */
export type LoadBalancingConfigEntry = { readonly [K in PolicyName]: { readonly [P in K]: PolicyConfigs[P] } }[PolicyName];

/** grpc-js's own policies, in the order error messages list them. */
const GRPC_JS_POLICY_NAMES = ['round_robin', 'pick_first', 'weighted_round_robin'] as const;

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
 * with `extras` (e.g. `healthCheckConfig`) set in the same service config. Registers grpc-ha's
 * policies and resolvers with grpc-js first, so the channel finds both.
 * Throws GrpcHaError(INVALID_CONFIG) naming the policy, field and rule when the config is invalid.
 */
export function policyChannelOptions(
  policy: LoadBalancingConfigEntry | PolicyName,
  base: ChannelOptions = {},
  extras: ServiceConfigExtras = {},
): ChannelOptions {
  registerPolicies();
  registerResolvers();
  warnIfSeveralGrpcJs((message) => experimental.log(logVerbosity.ERROR, `grpc-ha: ${message}`));
  const entry = (typeof policy === 'string' ? { [policy]: {} } : policy) as Readonly<Record<string, unknown>>;
  const names = entry !== null && typeof entry === 'object' ? Object.keys(entry) : [];
  if (names.length !== 1) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `loadBalancingConfig entry must have exactly one policy name, such as { least_request: {} }, got ${JSON.stringify(entry)}`,
    );
  }
  const name = names[0]!;
  if (!experimental.isLoadBalancerNameRegistered(name)) throw unknownPolicy(name);
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
  const options: ChannelOptions = { ...base, 'grpc.service_config': JSON.stringify({ ...existing, ...health, loadBalancingConfig: [entry] }) };
  // grpc-ha's policies keep streams out of their load (stream-calls.ts); a client constructor
  // takes `interceptors` from its options (and deletes them there: one options object per client).
  if (marksStreams(name) && base['interceptor_providers'] === undefined) {
    options['interceptors'] = [...((base['interceptors'] as Interceptor[] | undefined) ?? []), streamMarkInterceptor];
  }
  return options;
}

/** The policy names a channel can use, for messages: grpc-ha's and grpc-js's. */
export function knownPolicyNames(): string[] {
  return [...POLICY_NAMES, HEALTH_AWARE, ...GRPC_JS_POLICY_NAMES.filter((n) => experimental.isLoadBalancerNameRegistered(n))];
}

function unknownPolicy(name: string): GrpcHaError {
  const known = knownPolicyNames();
  return new GrpcHaError(
    ERROR_CODES.INVALID_CONFIG,
    `unknown load balancing policy ${JSON.stringify(name)}${didYouMean(name, known)} (grpc-ha: ${[...POLICY_NAMES, HEALTH_AWARE].join(', ')}; ` +
      `grpc-js: ${GRPC_JS_POLICY_NAMES.join(', ')})`,
  );
}

/** Whether `name` is a grpc-ha policy whose pickers read the stream mark (health_aware strips it for any child). */
export function marksStreams(name: string): boolean {
  return name === HEALTH_AWARE || (POLICY_NAMES as readonly string[]).includes(name);
}
