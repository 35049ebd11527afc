/**
 * The resilient client factory: any grpc-js service client constructor (generated or
 * proto-loader), a target, a balancing policy and resilience options in; a client whose channel
 * balances, retries idempotent methods within a budget, hedges if asked, and never waits forever.
 */
import { credentials as grpcCredentials, type ChannelCredentials, type ChannelOptions, type Client, type ClientOptions, type Interceptor } from '@grpc/grpc-js';
import { policyChannelOptions, type LoadBalancingConfigEntry } from '../grpc/service-config.js';
import { attemptCountingInterceptor } from './attempt-counting.js';
import { SERVICE_LABEL_OPTION, serviceOfTarget } from '../observe/channel-observer.js';
import { idempotentMatcher } from '../core/idempotent-methods.js';
import { committedRetryInterceptor } from './committed-retry.js';
import { defaultDeadlineInterceptor, errorContextInterceptor } from './interceptors.js';
import { resilienceServiceConfig } from './method-config.js';
import { parseResilienceOptions, type ResilienceInput } from './resilience-options.js';

/** A grpc-js client constructor, as `makeClientConstructor` or generated code provide. */
export type ClientConstructor<C extends Client> = new (address: string, credentials: ChannelCredentials, options?: ClientOptions) => C;

/** Options of {@link createClient}. */
export interface CreateClientOptions extends ResilienceInput {
  /** Balancing policy: a grpc-ha or grpc-js policy name or config entry. Defaults to `least_request`. */
  readonly policy?: LoadBalancingConfigEntry | string;
  /** Channel credentials. Defaults to insecure (plaintext), as for loopback and service meshes. */
  readonly credentials?: ChannelCredentials;
  /** Extra channel options, merged under grpc-ha's. */
  readonly channelOptions?: ChannelOptions;
  /** Interceptors to run inside grpc-ha's (closer to the call). */
  readonly interceptors?: Interceptor[];
  /** Client-side health checking (gRFC A17) of this service name on every endpoint ("" for the whole server). Off by default. */
  readonly healthCheckServiceName?: string;
}

/** The policy grpc-ha recommends when none is named: load-aware and cheap (gRFC A48). */
export const DEFAULT_POLICY = 'least_request';

/** The channel options (service config included) that `createClient` would use; for callers building clients themselves. */
export function resilientChannelOptions(options: CreateClientOptions = {}): ChannelOptions {
  const resilience = parseResilienceOptions(pickResilience(options));
  const health = options.healthCheckServiceName === undefined ? {} : { healthCheckConfig: { serviceName: options.healthCheckServiceName } };
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

/**
 * Creates a client of `Ctor` for `target` (any grpc-js target: "ipv4:a,b", "dns:host:port", or a
 * grpc-ha registry target) with balancing and resilience. Throws GrpcHaError(INVALID_CONFIG)
 * naming the field when an option is invalid.
 */
export function createClient<C extends Client>(Ctor: ClientConstructor<C>, target: string, options: CreateClientOptions = {}): C {
  const resilience = parseResilienceOptions(pickResilience(options));
  const service = serviceOfTarget(target);
  const interceptors: Interceptor[] = [errorContextInterceptor(target), attemptCountingInterceptor(service, resilience)];
  if (resilience.deadlineMs !== null) interceptors.push(defaultDeadlineInterceptor(resilience.deadlineMs));
  // After the deadline is set, so a resend keeps the call's deadline.
  if (resilience.retry !== null && resilience.idempotent.length > 0) interceptors.push(committedRetryInterceptor(idempotentMatcher(resilience.idempotent)));
  interceptors.push(...(options.interceptors ?? []));
  return new Ctor(target, options.credentials ?? grpcCredentials.createInsecure(), {
    [SERVICE_LABEL_OPTION]: service,
    ...resilientChannelOptions(options),
    interceptors,
  });
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
