/**
 * The resilient client factory: any grpc-js service client constructor (generated or
 * proto-loader), a target, a balancing policy and resilience options in; a client whose channel
 * balances, health-checks its endpoints, retries idempotent methods within a budget, hedges if
 * asked, and never waits forever. Defaults that cannot be misused: the policies and resolvers
 * the target needs are registered here, health checking watches the client's own service, and
 * an option, method name or target that would silently do nothing is an error naming the fix.
 */
import {
  credentials as grpcCredentials,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientOptions,
  type Interceptor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { didYouMean } from '../core/did-you-mean.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { idempotentMatcher, selectorParts, unmatchedSelector } from '../core/idempotent-methods.js';
import { assertOwnGrpcJs } from '../grpc/grpc-js-copy.js';
import { registerPolicies } from '../grpc/register-policies.js';
import { registerResolvers } from '../grpc/resolver.js';
import { policyChannelOptions, type LoadBalancingConfigEntry, type PolicyName } from '../grpc/service-config.js';
import { checkTarget } from '../grpc/target-check.js';
import { SERVICE_LABEL_OPTION, serviceOfTarget } from '../observe/channel-observer.js';
import { attemptCountingInterceptor } from './attempt-counting.js';
import { committedRetryInterceptor } from './committed-retry.js';
import { defaultDeadlineInterceptor, errorContextInterceptor } from './interceptors.js';
import { resilienceServiceConfig } from './method-config.js';
import { parseResilienceOptions, type ResilienceInput, type ResilienceOptions } from './resilience-options.js';

/** A grpc-js client constructor, as `makeClientConstructor`, `loadPackageDefinition` or generated code provide. */
export type ClientConstructor<C extends Client> = (new (address: string, credentials: ChannelCredentials, options?: ClientOptions) => C) & {
  /** The service definition grpc-js attaches to generated and loaded client classes: method paths for checks and defaults. */
  readonly service?: ServiceDefinition;
};

/** Options of {@link createClient}. */
export interface CreateClientOptions extends ResilienceInput {
  /** Balancing policy: a grpc-ha or grpc-js policy name or config entry. Defaults to `least_request`. */
  readonly policy?: LoadBalancingConfigEntry | PolicyName;
  /** Channel credentials. Defaults to insecure (plaintext), as for loopback and service meshes. */
  readonly credentials?: ChannelCredentials;
  /** Extra channel options, merged under grpc-ha's. */
  readonly channelOptions?: ChannelOptions;
  /** Interceptors to run inside grpc-ha's (closer to the call). */
  readonly interceptors?: Interceptor[];
  /**
   * Client-side health checking (gRFC A17): every endpoint is watched for this service name on
   * grpc.health.v1 ("" for the whole server; a server without the health service counts as
   * healthy). Defaults to the client's own service (`shop.Inventory`); `null` turns it off.
   */
  readonly healthCheckServiceName?: string | null;
}

/** Every option of {@link createClient}, for "unknown option" errors. */
const OPTION_NAMES = Object.keys({
  policy: true,
  credentials: true,
  channelOptions: true,
  interceptors: true,
  healthCheckServiceName: true,
  deadlineMs: true,
  idempotent: true,
  retry: true,
  retryBudget: true,
  hedging: true,
} satisfies Record<keyof CreateClientOptions, true>);

/** The policy grpc-ha recommends when none is named: load-aware and cheap (gRFC A48). */
export const DEFAULT_POLICY = 'least_request';

/** The channel options (service config included) that `createClient` would use; for callers building clients themselves. */
export function resilientChannelOptions(options: CreateClientOptions = {}): ChannelOptions {
  checkOptionNames(options);
  return channelOptionsFor(options, parseResilienceOptions(pickResilience(options)), options.healthCheckServiceName ?? null);
}

/**
 * Creates a client of `Ctor` for `target` (any grpc-js target: "ipv4:a,b", "dns:host:port", or a
 * grpc-ha registry target such as "file:///inventory") with balancing, health checking and
 * resilience. Registers grpc-ha's policies and resolvers with grpc-js itself. Throws GrpcHaError
 * naming the option and the valid choices when an option or the target is wrong, and
 * GrpcHaError(GRPC_JS_MISMATCH) when `Ctor` comes from another copy of grpc-js than grpc-ha's.
 */
export function createClient<C extends Client>(Ctor: ClientConstructor<C>, target: string, options: CreateClientOptions = {}): C {
  assertOwnGrpcJs('createClient', Ctor, options.credentials);
  checkOptionNames(options);
  const resilience = parseResilienceOptions(pickResilience(options));
  const paths = Ctor.service ? Object.values(Ctor.service).map((m) => m.path) : [];
  if (paths.length > 0) {
    const unmatched = unmatchedSelector(resilience.idempotent, paths);
    if (unmatched) throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `client: ${unmatched}`);
  }
  registerPolicies();
  registerResolvers();
  checkTarget(target);
  const healthName = options.healthCheckServiceName === undefined ? serviceOfPaths(paths) : options.healthCheckServiceName;
  const service = serviceOfTarget(target);
  const interceptors: Interceptor[] = [errorContextInterceptor(target), attemptCountingInterceptor(service, resilience)];
  if (resilience.deadlineMs !== null) interceptors.push(defaultDeadlineInterceptor(resilience.deadlineMs));
  // After the deadline is set, so a resend keeps the call's deadline.
  if (resilience.retry !== null && resilience.idempotent.length > 0) interceptors.push(committedRetryInterceptor(idempotentMatcher(resilience.idempotent)));
  interceptors.push(...(options.interceptors ?? []));
  const channelOptions = channelOptionsFor(options, resilience, healthName);
  // The policy's own (the stream mark of grpc-ha's policies, service-config.ts) go last.
  interceptors.push(...((channelOptions['interceptors'] as Interceptor[] | undefined) ?? []));
  return new Ctor(target, options.credentials ?? grpcCredentials.createInsecure(), {
    [SERVICE_LABEL_OPTION]: service,
    ...channelOptions,
    interceptors,
  });
}

function channelOptionsFor(options: CreateClientOptions, resilience: ResilienceOptions, healthCheckServiceName: string | null): ChannelOptions {
  const health = healthCheckServiceName === null ? {} : { healthCheckConfig: { serviceName: healthCheckServiceName } };
  const base = policyChannelOptions(options.policy ?? DEFAULT_POLICY, options.channelOptions ?? {}, health);
  const serviceConfig = JSON.parse(base['grpc.service_config']!) as Record<string, unknown>;
  const extra = resilienceServiceConfig(resilience);
  return {
    ...base,
    'grpc.service_config': JSON.stringify({
      ...serviceConfig,
      methodConfig: [...((serviceConfig.methodConfig as object[] | undefined) ?? []), ...extra.methodConfig],
      ...(extra.retryThrottling ? { retryThrottling: extra.retryThrottling } : {}),
    }),
  };
}

/** The service of a client's methods ("/shop.Inventory/GetStock" → "shop.Inventory"), or null when unknown. */
function serviceOfPaths(paths: readonly string[]): string | null {
  const services = new Set(paths.map((p) => selectorParts(p)[0]));
  return services.size === 1 ? [...services][0]! : null;
}

/** A misspelt option would be ignored by a plain options object: reject it, naming the closest. */
function checkOptionNames(options: CreateClientOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `client: options must be an object, got ${JSON.stringify(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (OPTION_NAMES.includes(key)) continue;
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `client: unknown option ${key}${didYouMean(key, OPTION_NAMES)} (options: ${OPTION_NAMES.join(', ')})`,
    );
  }
}

function pickResilience(options: CreateClientOptions): ResilienceInput {
  const { deadlineMs, idempotent, retry, retryBudget, hedging } = options;
  const out: Record<string, unknown> = {};
  if (deadlineMs !== undefined) out.deadlineMs = deadlineMs;
  if (idempotent !== undefined) out.idempotent = idempotent;
  if (retry !== undefined) out.retry = retry;
  if (retryBudget !== undefined) out.retryBudget = retryBudget;
  if (hedging !== undefined) out.hedging = hedging;
  return out as ResilienceInput;
}
