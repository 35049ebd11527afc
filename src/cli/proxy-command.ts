/**
 * `grpc-ha proxy`: the grpc-ha gRPC proxy (src/proxy) as a long-running process. It loads the
 * config (a YAML file, or the zero-config form with a listen address and a target, static or a
 * registry), starts the proxy — in this process, or with `workers: N` as the primary of N worker
 * processes (src/proxy/primary.ts, whose workers run proxy-worker.ts) — prints one JSON line once
 * listening — {"event":"listening","port":N,"adminPort":N|null[,"workers":[pid,...]]} — reloads
 * the file on SIGHUP (a bad file is logged and changes nothing) and stops gracefully on
 * SIGTERM/SIGINT (GOAWAY, calls in flight get the grace period).
 */
import { fileURLToPath } from 'node:url';
import { GrpcHaError } from '../core/errors.js';
import type { ProxyConfig } from '../proxy/proxy-config.js';
import type { Proxy } from '../proxy/proxy.js';
import { workerCount } from '../proxy/worker-pool.js';
import { CliError, EXIT } from './exit-codes.js';
import { loadConfigInChild, type ProxyConfigSource } from './proxy-config-source.js';

/** The script each proxy worker process runs. */
const WORKER_ENTRY = fileURLToPath(new URL('./proxy-worker.js', import.meta.url));

/** Flags of the proxy command, as commander parses them. */
export interface ProxyCommandOptions {
  readonly config?: string;
  readonly listen?: string;
  readonly target?: string;
  readonly policy?: string;
  readonly admin?: string;
  /** Grace period for calls in flight on SIGTERM, ms. */
  readonly grace: number;
  /** Worker processes; overrides the config file's `workers`. */
  readonly workers?: number | 'auto';
}

/** Runs the proxy until SIGTERM/SIGINT; resolves with the exit code. */
export async function runProxyCommand(o: ProxyCommandOptions): Promise<number> {
  let source: ProxyConfigSource;
  if (o.config !== undefined) {
    const extra = (['listen', 'target', 'policy', 'admin'] as const).filter((k) => o[k] !== undefined);
    if (extra.length > 0) throw new CliError(`proxy: --config goes alone; ${extra.map((k) => `--${k}`).join(', ')} go in the file`, EXIT.USAGE);
    source = { configPath: o.config };
  } else if (o.target !== undefined) {
    source = { target: o.target, listen: o.listen, policy: o.policy, admin: o.admin };
  } else {
    throw new CliError('proxy: --config <file> or --target <target> is required', EXIT.USAGE);
  }
  return runProxyProcess(source, o.grace, o.workers);
}

/**
 * Runs the proxy until SIGTERM/SIGINT; resolves with the exit code: 0 after a graceful stop, 1
 * when it cannot start (e.g. port in use), 2 for bad flags or config. Errors go to stderr as one
 * line prefixed "grpc-ha proxy".
 */
async function runProxyProcess(source: ProxyConfigSource, graceMs: number, workersFlag: number | 'auto' | undefined): Promise<number> {
  const prefix = 'grpc-ha proxy';
  // --workers wins over the file's, on start and on every reload.
  const load = async (): Promise<ProxyConfig> => {
    const config = await loadConfigInChild(source);
    return workersFlag === undefined ? config : { ...config, workers: workersFlag };
  };
  let config: ProxyConfig;
  try {
    config = await load();
  } catch (error) {
    console.error(`${prefix}: ${(error as Error).message}`);
    return EXIT.USAGE;
  }
  const log = (m: string) => console.error(`${prefix}: ${m}`);
  const workers = workerCount(config.workers);
  let proxy: Proxy;
  let workerPids: (() => number[]) | undefined;
  try {
    if (workers > 1) {
      const { startProxyOnWorkers } = await import('../proxy/primary.js');
      const primary = await startProxyOnWorkers(config, { workers, workerEntry: WORKER_ENTRY, log });
      proxy = primary;
      workerPids = () => primary.workerPids();
    } else {
      // Loaded only here: the primary of a proxy on workers serves no call, so it does not load the listener and call path.
      const { startProxy } = await import('../proxy/proxy.js');
      proxy = await startProxy(config, { log });
    }
  } catch (error) {
    console.error(`${prefix}: cannot start: ${(error as Error).message}`);
    return EXIT.FAILURE;
  }
  // One reload at a time, in signal order: a SIGHUP during a reload runs after it.
  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      if (!('configPath' in source)) {
        console.error(`${prefix}: SIGHUP ignored: no --config file to reload`);
        return;
      }
      try {
        const next = await load();
        if (workerPids === undefined && workerCount(next.workers) > 1) log(`reload: workers: ${String(next.workers)} takes a restart (this proxy runs in one process)`);
        await proxy.reload(next);
        console.log(JSON.stringify({ event: 'reloaded', port: proxy.port, adminPort: proxy.adminPort, ...(workerPids && { workers: workerPids() }) }));
      } catch (error) {
        const message = error instanceof GrpcHaError ? error.message : String(error);
        console.error(`${prefix}: reload rejected, keeping the running config: ${message}`);
        console.log(JSON.stringify({ event: 'reload-failed', error: message }));
      }
    });
  };
  process.on('SIGHUP', onHup);
  const stop = new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  // Only now: a supervisor (or a test) may signal as soon as it reads this line, and a signal
  // that comes before its handler kills the process with the default action.
  console.log(JSON.stringify({ event: 'listening', port: proxy.port, adminPort: proxy.adminPort, ...(workerPids && { workers: workerPids() }) }));
  await stop;
  process.off('SIGHUP', onHup);
  await reloading;
  await proxy.close(graceMs);
  return EXIT.OK;
}
