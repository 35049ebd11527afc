/**
 * Several processes on one port for CPU-bound services, with Node's `cluster`: the primary forks
 * workers that each run the same `serve()` (the primary hands connections to them), registers
 * the shared address once, and on SIGTERM/SIGINT deregisters and then lets every worker drain in
 * the usual order. A worker that crashes while serving is replaced.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createLogger } from '../observe/logger.js';
import { advertisedAddress, advertiseSetting } from './advertised-address.js';
import type { RegisterHook } from './ha-server.js';

/** Options of {@link runWorkers}. */
export interface WorkersOptions {
  /** Worker processes. Defaults to the number of CPUs. */
  readonly workers?: number;
  /** Runs in each worker: start serving (with `serve({ handleSignals: true, exitOnSignal: true })`) and resolve with the bound port. */
  readonly worker: () => Promise<number>;
  /** Registers the shared address once, from the primary. */
  readonly register?: RegisterHook;
  /** Host the workers bind, for the registration. Defaults to 127.0.0.1. */
  readonly host?: string;
  /** The address to register when it is not `host` (see serve()'s option of the same name). */
  readonly advertiseAddress?: string;
  /** How long the primary waits for workers to exit after a signal before killing them, ms. Defaults to 30 000. */
  readonly stopTimeoutMs?: number;
}

/** What the primary returns once all workers serve. */
export interface WorkersHandle {
  /** The shared port. */
  readonly port: number;
  /** Worker process ids. */
  readonly workerPids: () => number[];
  /** Deregisters, drains every worker, and resolves when all have exited. */
  shutdown(): Promise<void>;
}

interface ListeningMessage {
  readonly grpcHa: 'listening';
  readonly port: number;
}

/**
 * In the primary: forks the workers, waits until all serve, registers, and returns a handle.
 * In a worker: runs `options.worker()` and reports its port; returns null.
 */
export async function runWorkers(options: WorkersOptions): Promise<WorkersHandle | null> {
  if (!cluster.isPrimary) {
    const port = await options.worker();
    process.send?.({ grpcHa: 'listening', port } satisfies ListeningMessage);
    return null;
  }
  const log = createLogger('workers');
  // Checked before any worker starts: a bad value is a config error, not a failed start.
  const advertise = advertiseSetting(options.advertiseAddress);
  const count = options.workers ?? availableParallelism();
  let stopping = false;
  const fork = () => {
    const worker = cluster.fork();
    worker.on('exit', (code, signal) => {
      if (!stopping) {
        log.warn({ event: 'workers.worker_died', pid: worker.process.pid, code, signal }, 'worker died; starting another');
        fork();
      }
    });
    return worker;
  };
  const ready = Array.from({ length: count }, () => {
    const worker = fork();
    return new Promise<number>((resolve, reject) => {
      worker.on('message', (m: ListeningMessage) => m?.grpcHa === 'listening' && resolve(m.port));
      worker.once('exit', (code) => reject(new Error(`worker exited (${code}) before serving`)));
    });
  });
  const ports = await Promise.all(ready);
  const port = ports[0]!;
  const host = options.host ?? '127.0.0.1';
  let registration: { close(): Promise<void> } | undefined;
  if (options.register) {
    const advertised = advertisedAddress({ host, port }, advertise, log);
    registration = await options.register({ host: advertised.host, port: advertised.port, address: advertised.address });
  }
  log.info({ event: 'workers.serving', port, workers: count }, 'all workers serving');

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      stopping = true;
      log.info({ event: 'workers.drain' }, 'draining all workers');
      if (registration) {
        await registration.close().catch((error: unknown) => log.warn({ event: 'drain.deregister_failed', err: error }, 'deregistration failed'));
      }
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              const timer = setTimeout(() => w.process.kill('SIGKILL'), options.stopTimeoutMs ?? 30_000);
              w.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
      log.info({ event: 'workers.stopped' }, 'all workers stopped');
    })());
  const onSignal = () => {
    if (shutdownPromise) {
      // A second signal: force the workers.
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      return;
    }
    void shutdown().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    port,
    workerPids: () => Object.values(cluster.workers ?? {}).flatMap((w) => (w?.process.pid ? [w.process.pid] : [])),
    shutdown,
  };
}
