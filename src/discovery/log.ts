/**
 * Discovery logs through grpc-js's logger by default (so GRPC_VERBOSITY applies), at three
 * levels. Outages are logged once when they start and once when they end, not on every retry.
 */
import { experimental, logVerbosity } from '@grpc/grpc-js';

/** Severity of a discovery log line. */
export type LogLevel = 'debug' | 'info' | 'error';

/** Where discovery writes its log lines. */
export type DiscoveryLogger = (level: LogLevel, message: string) => void;

const VERBOSITY: Record<LogLevel, logVerbosity> = {
  debug: logVerbosity.DEBUG,
  info: logVerbosity.INFO,
  error: logVerbosity.ERROR,
};

/** The default logger: grpc-js's `log`, prefixed "grpc-ha discovery:". */
export const grpcJsLogger: DiscoveryLogger = (level, message) =>
  experimental.log(VERBOSITY[level], `grpc-ha discovery: ${message}`);

let processLogger: DiscoveryLogger = grpcJsLogger;

/** Replaces the logger of every registry and resolver created without a `logger` option. */
export function setDiscoveryLogger(logger: DiscoveryLogger | null): void {
  processLogger = logger ?? grpcJsLogger;
}

/** The logger in force: the one given, else the process-wide one. */
export function loggerOr(logger: DiscoveryLogger | undefined): DiscoveryLogger {
  return logger ?? ((level, message) => processLogger(level, message));
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
      this.logger('error', `${this.subject} failed: ${message}; ${consequence}; retrying`);
    } else {
      this.logger('debug', `${this.subject} failed again (${this.failures} attempts): ${message}`);
    }
  }

  /** Records a success; logs the end of an outage if one was in progress. */
  ok(): void {
    if (this.since === null) return;
    const seconds = ((Date.now() - this.since) / 1000).toFixed(1);
    this.logger('error', `${this.subject} recovered after ${seconds} s and ${this.failures} failed attempts`);
    this.since = null;
    this.failures = 0;
  }
}
