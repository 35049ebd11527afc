/**
 * Structured logs (pino): one JSON line per state change on stderr, with an `event` name that
 * the dashboard and the docs use too. Level from GRPC_HA_LOG_LEVEL (default "info"; "silent" off).
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const root: Logger = pino(
  { name: 'grpc-ha', level: process.env.GRPC_HA_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: true }),
);

/** A logger for one component, e.g. `createLogger('server')`; every line carries `component`. */
export function createLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...fields });
}
