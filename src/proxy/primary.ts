/**
 * A proxy on workers: `workers: N` processes serve calls on one port, and this one — the primary —
 * holds what must be decided once, as Envoy's main thread does for its worker threads:
 *
 * - the listening socket. Node 20 has no SO_REUSEPORT, so the primary accepts and hands each
 *   connection to the worker holding the fewest (worker-pool.ts): gRPC connections live long and
 *   carry many calls, so how connections are spread is how load is spread, and the kernel's
 *   accept() on a shared socket favours whichever worker is awake (docs/proxy.md, "Workers");
 * - each cluster's view: membership (the endpoint source), health (one connection and one active
 *   health check per backend, from here only) and outlier ejection over every worker's call
 *   results, published to every worker as deltas (health-snapshot.ts, health-mirror.ts);
 * - config: validated here, sent to every worker on start and on each reload; a listener change
 *   (address here, TLS or limits in the workers) drains the old one everywhere;
 * - the admin endpoint: /state and /metrics add up every worker's counters;
 * - workers' lives: one that dies is replaced, the others' calls untouched; SIGTERM drains all.
 */
import { createServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { EndpointSetHealth } from '../core/health/endpoint-set-health.js';
import type { ProxyBackendState, ProxyClusterState, ProxyState } from '../observe/proxy-state.js';
import { AdminEndpoint } from './admin-server.js';
import { Cluster } from './cluster.js';
import { ClusterSet } from './cluster-set.js';
import { clusterSource } from './cluster-source.js';
import { HealthPublisher } from './health-snapshot.js';
import { clusterHealth } from './local-cluster-health.js';
import type { CallCounters } from './proxied-call.js';
import type { Proxy } from './proxy.js';
import type { ProxyConfig } from './proxy-config.js';
import { rebind } from './rebind.js';
import { toWire } from './wire-config.js';
import type { WorkerBackendLoad, WorkerState } from './worker-messages.js';
import { WorkerPool, workerCount } from './worker-pool.js';

/** Options of {@link startProxyOnWorkers}. */
export interface ProxyOnWorkersOptions {
  /** Worker processes (>= 1). */
  readonly workers: number;
  /** The worker entry script: the compiled src/cli/proxy-worker.ts. */
  readonly workerEntry: string;
  /** Where to log (one line per event). Defaults to stderr. */
  readonly log?: (message: string) => void;
}

/** A running proxy on workers. */
export interface ProxyOnWorkers extends Proxy {
  /** Process ids of the live workers. */
  workerPids(): number[];
}

/** The primary's connections to backends only carry health checks: the smallest HTTP/2 window will do. */
const PROBE_WINDOW_BYTES = 65_535;

/** The accepting socket: it reads nothing, it hands connections over. */
class Acceptor {
  private readonly server: TcpServer;

  constructor(
    private readonly host: string,
    private readonly port: number,
    onConnection: Parameters<typeof createServer>[1],
  ) {
    this.server = createServer({ pauseOnConnect: true }, onConnection);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host || undefined, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting. The connections it handed over are the workers' to drain: Node's server would
   * wait for the workers to close every one of them before its 'close' event, so nothing waits here.
   */
  close(): Promise<void> {
    if (this.server.listening) this.server.close();
    return Promise.resolve();
  }
}

/** Starts the primary and its workers for a validated config; resolves once every worker serves. */
export async function startProxyOnWorkers(config: ProxyConfig, options: ProxyOnWorkersOptions): Promise<ProxyOnWorkers> {
  const log = options.log ?? ((m: string) => console.error(`grpc-ha proxy: ${m}`));
  let current = config;
  let closing = false;
  /** Bumped when the listener's address, TLS or limits change: workers then drain the old one. */
  let listenerGeneration = 0;
  let nextClusterId = 1;

  /** The primary's clusters, by the id workers know them by. */
  const byId = new Map<number, Cluster>();
  const idOf = new Map<Cluster, number>();
  const publishers = new Map<Cluster, HealthPublisher>();
  const clusters = new ClusterSet((c) => {
    const id = nextClusterId++;
    let health: EndpointSetHealth | undefined;
    const cluster: Cluster = new Cluster(c, {
      windowBytes: PROBE_WINDOW_BYTES,
      picks: false,
      source: clusterSource(c.target, `clusters.${c.name}.target`, log),
      health: (env, changed) => (health = clusterHealth(c, env, log, changed)),
      onRebuild: () => {
        const delta = publishers.get(cluster)?.delta();
        if (delta) pool.broadcast({ t: 'health', id, delta });
      },
    });
    publishers.set(cluster, new HealthPublisher(cluster, health!));
    byId.set(id, cluster);
    idOf.set(cluster, id);
    return cluster;
  });

  const pool: WorkerPool = new WorkerPool(options.workers, {
    entry: options.workerEntry,
    log,
    configMessage: (seq) => ({
      t: 'config',
      seq,
      config: toWire(current),
      listener: listenerGeneration,
      clusters: [...clusters.current].map(([name, c]) => ({ name, id: idOf.get(c)!, view: publishers.get(c)!.full() })),
    }),
    onResults: (runs) => {
      for (const [id, key, statuses] of runs) {
        const cluster = byId.get(id);
        for (let i = 0; cluster && i < statuses.length; i += 2) cluster.health.recordResult(key, statuses[i]!, statuses[i + 1]!);
      }
    },
  });

  const accept = (socket: Socket) => {
    if (closing) socket.destroy();
    else pool.dispatch(socket, listenerGeneration);
  };
  const newAcceptor = (c: ProxyConfig) => new Acceptor(c.listen.host, c.listen.port, accept);

  clusters.update(config);
  let acceptor = newAcceptor(config);
  let port: number;
  try {
    port = await acceptor.listen();
    await pool.start();
  } catch (error) {
    await acceptor.close();
    await pool.stop(0);
    clusters.close(true);
    throw error;
  }

  let workerStates: WorkerState[] = [];
  const state = (): ProxyState => mergeState(current, port, clusters, idOf, workerStates);
  let admin: AdminEndpoint;
  try {
    admin = await AdminEndpoint.open(config.admin, {
      healthy: () => !closing,
      state,
      refresh: async () => {
        workerStates = await pool.collect();
      },
    });
  } catch (error) {
    await acceptor.close();
    await pool.stop(0);
    clusters.close(true);
    throw error;
  }

  return {
    get port() {
      return port;
    },
    get adminPort() {
      return admin.port;
    },
    workerPids: () => pool.pids(),
    async reload(next) {
      const changed = (k: 'listen' | 'tls' | 'limits' | 'admin') => JSON.stringify(next[k]) !== JSON.stringify(current[k]);
      const listenChanged = changed('listen');
      const listenerChanged = listenChanged || changed('tls') || changed('limits');
      if (listenChanged) {
        const old = acceptor;
        const result = await rebind({
          sameAddress: next.listen.host === current.listen.host && next.listen.port === port,
          address: `${next.listen.host || '*'}:${next.listen.port}`,
          fresh: () => newAcceptor(next),
          again: () => newAcceptor(current),
          retire: () => void old.close(),
          discard: (a) => a.close(),
        });
        if (result.t !== 'kept') ({ listener: acceptor, port } = result);
        if (result.t !== 'moved') throw result.error;
      }
      clusters.update(next);
      const adminChanged = changed('admin');
      const workersBefore = current.workers;
      current = next;
      // Connections accepted from now on are for the new listener: workers hold them until they have it.
      if (listenerChanged) listenerGeneration++;
      await pool.configure().catch((error: unknown) => log(`reload: ${(error as Error).message}`));
      if (next.workers !== workersBefore) pool.resize(workerCount(next.workers), 10_000);
      if (adminChanged) {
        try {
          await admin.move(next.admin);
        } catch (error) {
          log(`reload: admin endpoint not moved: ${(error as Error).message}`);
        }
      }
      const moved = [listenerChanged && `listener on ${next.listen.host || '*'}:${port}`, adminChanged && 'admin endpoint'].filter(Boolean);
      log(`reload: ${clusters.current.size} cluster(s), ${next.routes.length} route(s), ${pool.pids().length} worker(s)${moved.length > 0 ? `; new ${moved.join(', ')}` : ''}`);
    },
    state,
    async close(graceMs = 10_000) {
      closing = true;
      await acceptor.close();
      await pool.stop(graceMs);
      clusters.close(true);
      await admin.close();
    },
  };
}

/** Every worker's load of each backend, by cluster id and address, and the calls waiting there. */
function workerLoads(workers: readonly WorkerState[]): Map<number, { pending: number; backends: Map<string, WorkerBackendLoad[]> }> {
  const out = new Map<number, { pending: number; backends: Map<string, WorkerBackendLoad[]> }>();
  for (const w of workers) {
    for (const c of w.clusters) {
      let entry = out.get(c.id);
      if (entry === undefined) out.set(c.id, (entry = { pending: 0, backends: new Map() }));
      entry.pending += c.pending;
      for (const b of c.backends) {
        const list = entry.backends.get(b.address);
        if (list) list.push(b);
        else entry.backends.set(b.address, [b]);
      }
    }
  }
  return out;
}

/**
 * The proxy's state as one process would show it: the primary's view of each cluster
 * (membership, health, ejections) with every worker's load added per backend, and the workers'
 * connections and call counters summed (each worker's own under `workers`).
 */
function mergeState(config: ProxyConfig, port: number, clusters: ClusterSet, idOf: ReadonlyMap<Cluster, number>, workers: readonly WorkerState[]): ProxyState {
  const calls: CallCounters = { started: 0, completed: 0, proxyErrors: 0, retries: 0 };
  let connections = 0;
  for (const w of workers) {
    connections += w.connections;
    for (const k of Object.keys(calls) as (keyof CallCounters)[]) calls[k] += w.calls[k];
  }
  const loads = workerLoads(workers);
  const view = (c: Cluster): ProxyClusterState => {
    const own = c.toJSON();
    const l = loads.get(idOf.get(c)!);
    return { ...own, pending: l?.pending ?? 0, backends: own.backends.map((b) => addLoads(b, l?.backends.get(b.address) ?? [])) };
  };
  return {
    listen: `${config.listen.host || '*'}:${port}`,
    connections,
    calls,
    ...clusters.state(view),
    workers: workers.map((w) => ({ pid: w.pid, connections: w.connections, calls: w.calls })),
  };
}

/** The primary's view of one backend with the workers' loads of it added. */
function addLoads(backend: ProxyBackendState, loads: readonly WorkerBackendLoad[]): ProxyBackendState {
  let weighted = 0;
  let samples = 0;
  let plain = 0;
  let plainCount = 0;
  for (const l of loads) {
    if (l.latencyEwmaMs === null) continue;
    weighted += l.latencyEwmaMs * l.completed;
    samples += l.completed;
    plain += l.latencyEwmaMs;
    plainCount++;
  }
  // The latency estimate weighted by each worker's completed calls.
  const latency = samples > 0 ? weighted / samples : plainCount > 0 ? plain / plainCount : null;
  const sum = (k: 'inFlight' | 'completed' | 'failed' | 'errors') => loads.reduce((a, l) => a + l[k], 0);
  return {
    ...backend,
    // Usable per the primary's view, and connected from at least one worker.
    available: backend.available && (loads.length === 0 || loads.some((l) => l.connected)),
    inFlight: sum('inFlight'),
    completed: sum('completed'),
    failed: sum('failed'),
    errors: sum('errors'),
    latencyEwmaMs: latency === null ? null : Math.round(latency * 1000) / 1000,
  };
}
