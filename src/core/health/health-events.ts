/**
 * What the endpoint-set health model reports when an endpoint's condition or the set's panic mode
 * changes: one mapping from condition transitions to event names, used by every front end (the
 * grpc-js health layer, the proxy cluster), so a dashboard or an alert sees the same names for
 * the same change wherever it happened. The names are those of the observability bus
 * (src/observe/events.ts), which core does not import: the adapters hand the model a sink.
 */
import type { EndpointCondition } from './endpoint-condition.js';

/** The events the model emits; each is one of the bus's EVENT_NAMES. */
export type HealthEventName =
  | 'endpoint_healthy'
  | 'endpoint_not_serving'
  | 'endpoint_health_check_failing'
  | 'endpoint_unreachable'
  | 'endpoint_ejected'
  | 'endpoint_returned'
  | 'panic_entered'
  | 'panic_left';

/** Where the model reports changes; the adapter puts them on the bus and in its log. */
export interface HealthSink {
  /** A state change, as an event (`endpoint` and `reason` when known). */
  emit(event: HealthEventName, endpoint?: string, reason?: string): void;
  /** A line for the operator's log (ejections and returns, with their durations). */
  log(message: string): void;
}

/** One event of a transition, without its endpoint. */
export interface TransitionEvent {
  readonly event: HealthEventName;
  readonly reason?: string;
}

/** Why an ejected endpoint came back, as its endpoint_returned event says. */
export const RETURN_REASONS = {
  /** Its ejection time ran out (or outlier ejection was switched off). */
  expired: 'its ejection ended',
  /** Envoy successful_active_health_check_uneject_host. */
  healthCheck: 'its health check says SERVING',
} as const;

/** One of {@link RETURN_REASONS}. */
export type ReturnReason = (typeof RETURN_REASONS)[keyof typeof RETURN_REASONS];

/**
 * The events of an endpoint going from `from` to `to` (conditions of different kinds). Leaving
 * an ejection is `endpoint_returned` with `returned` as its reason, followed by the new
 * condition's own event unless it is healthy (returning says that already). Connecting and
 * awaiting a first health answer are not news.
 */
export function transitionEvents(from: EndpointCondition, to: EndpointCondition, returned: ReturnReason): TransitionEvent[] {
  const events: TransitionEvent[] = [];
  if (from.t === 'ejected') events.push({ event: 'endpoint_returned', reason: returned });
  switch (to.t) {
    case 'healthy':
      if (from.t !== 'ejected') events.push({ event: 'endpoint_healthy' });
      break;
    case 'ejected':
      events.push({ event: 'endpoint_ejected', reason: to.reason });
      break;
    case 'not_serving':
      events.push({ event: 'endpoint_not_serving', reason: to.status });
      break;
    case 'health_check_failing':
      events.push({ event: 'endpoint_health_check_failing', reason: to.error });
      break;
    case 'transient_failure':
      events.push(to.error ? { event: 'endpoint_unreachable', reason: to.error } : { event: 'endpoint_unreachable' });
      break;
    case 'awaiting_health_check':
    case 'connecting':
      break;
  }
  return events;
}
