/**
 * The event bus: every state change grpc-ha sees (an endpoint ejected, returned, registered,
 * NOT_SERVING, a registry unreachable, a server draining) is one typed event, emitted once. From
 * it come the structured log line (pino, one line per event, `event` = the name), the dashboard's
 * event log and live stream, and the event counters of /metrics — the same names everywhere.
 */
import { createLogger, type Logger } from './logger.js';

/** Names of the state changes grpc-ha reports; stable (dashboards and alerts key on them). */
export const EVENT_NAMES = [
  'endpoint_registered',
  'endpoint_deregistered',
  'endpoint_healthy',
  'endpoint_not_serving',
  'endpoint_health_check_failing',
  'endpoint_unreachable',
  'endpoint_ejected',
  'endpoint_returned',
  'panic_entered',
  'panic_left',
  'registry_unreachable',
  'registry_recovered',
  'server_serving',
  'server_draining',
  'server_stopped',
] as const;

/** One of {@link EVENT_NAMES}. */
export type EventName = (typeof EVENT_NAMES)[number];

/** One state change. */
export interface HaEvent {
  /** What happened. */
  readonly event: EventName;
  /** Wall-clock time, ms since the epoch. */
  readonly at: number;
  /** The service (a channel's target service, a registry's service, a server's name). */
  readonly service: string;
  /** The endpoint ("host:port") it happened to, when it is about one. */
  readonly endpoint?: string;
  /** Why, in words ("5 consecutive UNAVAILABLE"), when known. */
  readonly reason?: string;
  /** Where it was seen: "client" (a channel), "registry", "server", "proxy", "xds" (the control plane's health checks). */
  readonly source: 'client' | 'registry' | 'server' | 'proxy' | 'xds';
}

/** Receives every event as it is emitted. */
export type EventListener = (event: HaEvent) => void;

const WARN_EVENTS: ReadonlySet<EventName> = new Set(['endpoint_ejected', 'registry_unreachable']);
/** Events kept for a dashboard that connects later: enough for a few minutes of a busy demo. */
const RECENT_LIMIT = 500;

const listeners = new Set<EventListener>();
const recent: HaEvent[] = [];
const loggers = new Map<string, Logger>();

/**
 * Emits a state change: one pino line (`event`, `service`, `endpoint`, `reason`) and every
 * listener (`log: false` when the caller wrote the line itself). A throwing listener is logged
 * and does not stop the others.
 */
export function emitEvent(fields: Omit<HaEvent, 'at'> & { at?: number }, options: { log?: boolean } = {}): void {
  const event: HaEvent = { ...fields, at: fields.at ?? Date.now() };
  if (options.log !== false) {
    const log = loggerOf(event.source);
    const { at: _at, source: _source, ...line } = event;
    const text = event.endpoint ? `${event.event} ${event.endpoint}${event.reason ? `: ${event.reason}` : ''}` : event.event;
    if (WARN_EVENTS.has(event.event)) log.warn(line, text);
    else log.info(line, text);
  }
  recent.push(event);
  if (recent.length > RECENT_LIMIT) recent.splice(0, recent.length - RECENT_LIMIT);
  counts.set(event.event, (counts.get(event.event) ?? 0) + 1);
  for (const listener of listeners) {
    try {
      listener(event);
    } catch (error) {
      loggerOf(event.source).error({ err: error }, 'event listener failed');
    }
  }
}

const counts = new Map<EventName, number>();

/** The logger of one source, made when it first logs (a proxy that logs its own lines never loads pino). */
function loggerOf(source: HaEvent['source']): Logger {
  let log = loggers.get(source);
  if (!log) loggers.set(source, (log = createLogger(source)));
  return log;
}

/** Subscribes to every later event; returns the unsubscribe function. */
export function onEvent(listener: EventListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The last events of this process (at most 500), oldest first. */
export function recentEvents(): readonly HaEvent[] {
  return [...recent];
}

/** How many events of each name this process emitted. */
export function eventCounts(): ReadonlyMap<EventName, number> {
  return counts;
}
