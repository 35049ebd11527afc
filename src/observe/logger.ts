/**
 * Structured logs (pino): one JSON line per state change on stderr, with an `event` name that
 * the dashboard and the docs use too. Level from GRPC_HA_LOG_LEVEL (default "info"; "silent" off).
 */
import { pino, type Logger as PinoLogger } from 'pino';

/** A grpc-ha component's structured logger (pino). */
export type Logger = PinoLogger;

const root: Logger = pino(
  { name: 'grpc-ha', level: process.env.GRPC_HA_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: true }),
);

const children = new Set<WeakRef<Logger>>();

/** A logger for one component, e.g. `createLogger('server')`; every line carries `component`. */
export function createLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  const child = root.child({ component, ...fields });
  children.add(new WeakRef(child));
  return child;
}

/** Sets the level of every grpc-ha logger, as GRPC_HA_LOG_LEVEL does at startup ("silent" for none). */
export function setLogLevel(level: string): void {
  root.level = level;
  // A pino child keeps the level it was created with; component loggers are created at import time.
  for (const ref of children) {
    const child = ref.deref();
    if (child) child.level = level;
    else children.delete(ref);
  }
}
