/**
 * Discovery logs through grpc-ha's pino logger by default (component "discovery", level from
 * GRPC_HA_LOG_LEVEL), at three levels; `setDiscoveryLogger` sends the lines elsewhere. Outages
 * are logged once when they start and once when they end, not on every retry, and are state
 * changes: registry_unreachable / registry_recovered events (dashboard, /metrics).
 */
import { experimental, logVerbosity } from '@grpc/grpc-js';
import { createLogger } from '../observe/logger.js';
import { emitEvent, type EventName } from '../observe/events.js';

/** Severity of a discovery log line. */
export type LogLevel = 'debug' | 'info' | 'error';

/** Where discovery writes its log lines; `fields` carry the event name of a state change. */
export type DiscoveryLogger = (level: LogLevel, message: string, fields?: { event: EventName; service: string }) => void;

const VERBOSITY: Record<LogLevel, logVerbosity> = {
  debug: logVerbosity.DEBUG,
  info: logVerbosity.INFO,
  error: logVerbosity.ERROR,
};

/** The default logger: grpc-js's `log`, prefixed "grpc-ha discovery:". */
export const grpcJsLogger: DiscoveryLogger = (level, message) =>
  experimental.log(VERBOSITY[level], `grpc-ha discovery: ${message}`);

const pinoLog = createLogger('discovery');

/** The default logger: one pino line per message, with the event's fields when it is a state change. */
export const pinoDiscoveryLogger: DiscoveryLogger = (level, message, fields) => pinoLog[level](fields ?? {}, message);

let processLogger: DiscoveryLogger = pinoDiscoveryLogger;

/** Replaces the logger of every registry and resolver created without a `logger` option (null: back to pino). */
export function setDiscoveryLogger(logger: DiscoveryLogger | null): void {
  processLogger = logger ?? pinoDiscoveryLogger;
}

/** The logger in force: the one given, else the process-wide one. */
export function loggerOr(logger: DiscoveryLogger | undefined): DiscoveryLogger {
  return logger ?? ((level, message, fields) => processLogger(level, message, fields));
}

/**
 * Tracks one outage: logs the first failure at ERROR, later ones at DEBUG, and the recovery at
 * ERROR too (with the outage's length), so a reader of the default log sees both ends.
 */
export class OutageLog {
  private since: number | null = null;
  private failures = 0;

  constructor(
    private readonly logger: DiscoveryLogger,
    private readonly subject: string,
    /** The service the outage is about, for the events; defaults to the subject. */
    private readonly service: string = subject,
  ) {}

  /** Whether an outage is in progress. */
  get down(): boolean {
    return this.since !== null;
  }

  /** Records a failed attempt; `consequence` says what we do meanwhile. */
  failed(error: unknown, consequence: string): void {
    const message = error instanceof Error ? error.message : String(error);
    this.failures++;
    if (this.since === null) {
      this.since = Date.now();
      const text = `${this.subject} failed: ${message}; ${consequence}; retrying`;
      // The logger writes the line (with the event's name); the bus only tells the dashboard and /metrics.
      this.logger('error', text, { event: 'registry_unreachable', service: this.service });
      emitEvent({ event: 'registry_unreachable', service: this.service, reason: text, source: 'registry' }, { log: false });
    } else {
      this.logger('debug', `${this.subject} failed again (${this.failures} attempts): ${message}`);
    }
  }

  /** Records a success; logs the end of an outage if one was in progress. */
  ok(): void {
    if (this.since === null) return;
    const seconds = ((Date.now() - this.since) / 1000).toFixed(1);
    const text = `${this.subject} recovered after ${seconds} s and ${this.failures} failed attempts`;
    this.logger('error', text, { event: 'registry_recovered', service: this.service });
    emitEvent({ event: 'registry_recovered', service: this.service, reason: text, source: 'registry' }, { log: false });
    this.since = null;
    this.failures = 0;
  }
}

/** How many distinct bad entries a {@link BadEntryLog} remembers; the oldest is forgotten first. */
const BAD_ENTRIES_REMEMBERED = 10_000;

/** What each scope's bad entries were logged with, shared by every registry of the process. */
const badEntriesByScope = new Map<string, Map<string, string>>();

/**
 * Logs each bad registry entry (garbage value, unresolvable address, torn file) once per key and
 * content, however often it is read again: on every revision, list change, channel or registry
 * instance of the process that reads the same storage (`scope`: the etcd endpoints, "file" for
 * absolute paths). A key that turns good is forgotten, so breaking it again is logged again.
 * Bounded: at most 10,000 keys per scope.
 */
export class BadEntryLog {
  private readonly logged: Map<string, string>;

  constructor(
    private readonly logger: DiscoveryLogger,
    scope: string,
  ) {
    let logged = badEntriesByScope.get(scope);
    if (!logged) badEntriesByScope.set(scope, (logged = new Map()));
    this.logged = logged;
  }

  /** Logs `message` at ERROR unless `key` was already logged with this `content`. */
  report(key: string, content: string, message: string): void {
    if (this.logged.get(key) === content) return;
    this.logged.delete(key); // re-insert: the Map's order is the eviction order
    this.logged.set(key, content);
    if (this.logged.size > BAD_ENTRIES_REMEMBERED) this.logged.delete(this.logged.keys().next().value!);
    this.logger('error', message);
  }

  /** `key` is good (or gone): a later bad content is logged again. */
  clear(key: string): void {
    this.logged.delete(key);
  }
}
