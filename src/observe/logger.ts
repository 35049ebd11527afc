/**
 * Structured logs (pino): one JSON line per state change on stderr, with an `event` name that
 * the dashboard and the docs use too. Level from GRPC_HA_LOG_LEVEL (default "info"; "silent" off).
 */
import { createRequire } from 'node:module';
import type { Logger as PinoLogger } from 'pino';

/** A grpc-ha component's structured logger (pino). */
export type Logger = PinoLogger;

let rootLogger: Logger | undefined;

/**
 * The root logger, made on first use: a process that never logs through pino (a proxy worker, a
 * proxy whose events go to its own log lines) does not load it. pino is CommonJS, so a synchronous
 * require() loads it on any Node 20.
 */
function root(): Logger {
  if (rootLogger === undefined) {
    const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
    rootLogger = pino(
      { name: 'grpc-ha', level: process.env.GRPC_HA_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
      pino.destination({ fd: 2, sync: true }),
    );
  }
  return rootLogger;
}

const children = new Set<WeakRef<Logger>>();

/** A logger for one component, e.g. `createLogger('server')`; every line carries `component`. */
export function createLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  const child = root().child({ component, ...fields });
  children.add(new WeakRef(child));
  return child;
}

/** Sets the level of every grpc-ha logger, as GRPC_HA_LOG_LEVEL does at startup ("silent" for none). */
export function setLogLevel(level: string): void {
  root().level = level;
  // A pino child keeps the level it was created with; component loggers are created at import time.
  for (const ref of children) {
    const child = ref.deref();
    if (child) child.level = level;
    else children.delete(ref);
  }
}
