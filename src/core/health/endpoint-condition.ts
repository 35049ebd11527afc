/**
 * The condition of one endpoint as the health layer sees it, as a tagged union, plus what the
 * layer derives from it: whether it counts as healthy for the panic threshold, and the sentence
 * a failed call carries when no endpoint can be picked:
 * `no healthy endpoint for greeter.Greeter: 3 known — 1 NOT_SERVING, 1 ejected (5 consecutive UNAVAILABLE), 1 connecting`.
 */

/** Result of the endpoint's health-check stream (A17). */
export type HealthCheckStatus =
  /** Health checking is not configured for the channel. */
  | { readonly t: 'off' }
  /** Not connected, or connected and waiting for the first answer. */
  | { readonly t: 'pending' }
  | { readonly t: 'serving' }
  /** The server answered NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN. */
  | { readonly t: 'not_serving'; readonly status: string }
  /** The stream failed; retrying with backoff. */
  | { readonly t: 'failing'; readonly error: string }
  /** The server does not implement grpc.health.v1 (UNIMPLEMENTED): A17 treats it as healthy. */
  | { readonly t: 'disabled' };

/** Whether a health-check status lets the endpoint take calls. */
export function healthCheckPasses(status: HealthCheckStatus): boolean {
  return status.t === 'serving' || status.t === 'off' || status.t === 'disabled';
}

/** Connectivity of a subchannel, named as gRPC names it. */
export type Connectivity = 'IDLE' | 'CONNECTING' | 'READY' | 'TRANSIENT_FAILURE' | 'SHUTDOWN';

/** What the layer knows of one subchannel of an endpoint. */
export interface SubchannelFacts {
  readonly connectivity: Connectivity;
  /** Has been READY or TRANSIENT_FAILURE at least once: its health is no longer unknown. */
  readonly settled: boolean;
  /** Last connection error reported, if any. */
  readonly lastError: string | undefined;
  readonly health: HealthCheckStatus;
}

/** The condition of an endpoint. */
export type EndpointCondition =
  /**
   * Connected and passing. `checked`: an active health check says SERVING (rather than no check
   * configured, or a server without the health service); only such an endpoint can pass a check
   * "anew" and return early from an ejection (Envoy successful_active_health_check_uneject_host).
   */
  | { readonly t: 'healthy'; readonly checked?: boolean }
  | { readonly t: 'ejected'; readonly reason: string }
  | { readonly t: 'not_serving'; readonly status: string }
  | { readonly t: 'health_check_failing'; readonly error: string }
  | { readonly t: 'awaiting_health_check' }
  /** Connecting; `settled` false on the first attempt (health unknown), true after a loss or failure. */
  | { readonly t: 'connecting'; readonly settled: boolean }
  | { readonly t: 'transient_failure'; readonly error: string | undefined };

/**
 * How a condition counts for the panic threshold: 'unknown' is an endpoint not settled yet (first
 * connection attempt, first health answer pending), which the layer counts as healthy.
 */
export type HealthClass = 'healthy' | 'unhealthy' | 'unknown';

/** Every kind of condition, in the order /metrics lists them; written as a record so the compiler checks the list is whole. */
export const CONDITION_KINDS = Object.keys({
  healthy: true,
  ejected: true,
  not_serving: true,
  health_check_failing: true,
  awaiting_health_check: true,
  connecting: true,
  transient_failure: true,
} satisfies Record<EndpointCondition['t'], true>) as readonly EndpointCondition['t'][];

const RANK: Record<EndpointCondition['t'], number> = {
  healthy: 0,
  awaiting_health_check: 1,
  not_serving: 2,
  health_check_failing: 3,
  connecting: 4,
  transient_failure: 5,
  ejected: 6,
};

const HEALTHY: EndpointCondition = { t: 'healthy' };
const CHECKED_HEALTHY: EndpointCondition = { t: 'healthy', checked: true };

/** The condition of one subchannel, ignoring ejection. */
export function subchannelCondition(facts: SubchannelFacts): EndpointCondition {
  switch (facts.connectivity) {
    case 'READY':
      switch (facts.health.t) {
        case 'serving':
          return CHECKED_HEALTHY;
        case 'off':
        case 'disabled':
          return HEALTHY;
        case 'pending':
          return { t: 'awaiting_health_check' };
        case 'not_serving':
          return { t: 'not_serving', status: facts.health.status };
        case 'failing':
          return { t: 'health_check_failing', error: facts.health.error };
      }
      break;
    case 'TRANSIENT_FAILURE':
      return { t: 'transient_failure', error: facts.lastError };
  }
  return { t: 'connecting', settled: facts.settled };
}

/**
 * The condition of an endpoint: ejected if ejected, otherwise the best condition among its
 * subchannels (an endpoint with several addresses is as good as its best connection).
 */
export function endpointCondition(subchannels: Iterable<SubchannelFacts>, ejectionReason: string | null): EndpointCondition {
  if (ejectionReason !== null) return { t: 'ejected', reason: ejectionReason };
  let best: EndpointCondition = { t: 'connecting', settled: false };
  let bestRank = Number.POSITIVE_INFINITY;
  for (const facts of subchannels) {
    const c = subchannelCondition(facts);
    if (RANK[c.t] < bestRank) {
      best = c;
      bestRank = RANK[c.t];
    }
  }
  return best;
}

/** How `condition` counts for the panic threshold. */
export function healthClass(condition: EndpointCondition): HealthClass {
  switch (condition.t) {
    case 'healthy':
      return 'healthy';
    case 'awaiting_health_check':
      return 'unknown';
    case 'connecting':
      return condition.settled ? 'unhealthy' : 'unknown';
    default:
      return 'unhealthy';
  }
}

/** A short label for a condition, as counted in a failure message. */
export function conditionLabel(condition: EndpointCondition): string {
  switch (condition.t) {
    case 'healthy':
      return 'healthy';
    case 'ejected':
      return `ejected (${condition.reason})`;
    case 'not_serving':
      return condition.status;
    case 'health_check_failing':
      return 'health check failing';
    case 'awaiting_health_check':
      return 'awaiting health check';
    case 'connecting':
      return 'connecting';
    case 'transient_failure':
      return 'TRANSIENT_FAILURE';
  }
}

/** `conditions` counted by label, in order of first appearance: ["1 NOT_SERVING", "2 ejected (5 consecutive UNAVAILABLE)"]. */
export function conditionCounts(conditions: Iterable<EndpointCondition>): string[] {
  const groups = new Map<string, number>();
  for (const c of conditions) {
    const label = conditionLabel(c);
    groups.set(label, (groups.get(label) ?? 0) + 1);
  }
  return [...groups].map(([label, n]) => `${n} ${label}`);
}

/**
 * The message of a call that found no endpoint to pick:
 * `no healthy endpoint for S: 3 known — 1 NOT_SERVING, 1 ejected (5 consecutive UNAVAILABLE), 1 connecting`,
 * then the last connection or health-check error when there is one.
 */
export function noHealthyEndpointMessage(service: string, conditions: readonly EndpointCondition[], note = ''): string {
  let lastError: string | undefined;
  for (const c of conditions) {
    if (c.t === 'transient_failure' && c.error) lastError = c.error;
    else if (c.t === 'health_check_failing' && lastError === undefined) lastError = `health check: ${c.error}`;
  }
  const where = service ? ` for ${service}` : '';
  const parts = conditionCounts(conditions).join(', ');
  return (
    `no healthy endpoint${where}: ${conditions.length} known${parts ? ` — ${parts}` : ''}` +
    (lastError ? `. Last error: ${lastError}` : '') +
    (note ? ` (${note})` : '')
  );
}

/** What a condition says beyond its kind (the ejection's reason, the health status, the error), if anything. */
export function conditionDetail(condition: EndpointCondition): string | undefined {
  switch (condition.t) {
    case 'ejected':
      return condition.reason;
    case 'not_serving':
      return condition.status;
    case 'health_check_failing':
    case 'transient_failure':
      return condition.error;
    default:
      return undefined;
  }
}
