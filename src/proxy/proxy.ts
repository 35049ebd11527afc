/**
 * `startProxy(config)`: the listener, the clusters and the admin endpoint, plus hot reload. A
 * reload validates the new config first (a bad one changes nothing), keeps clusters whose config
 * did not change (connections, load and health included), starts new ones, and lets removed or
 * changed ones finish their calls in flight before closing: no call is dropped.
 */
import type { Server } from 'node:http';
import { Cluster } from './cluster.js';
import { sameCluster, type ProxyConfig } from './proxy-config.js';
import { ProxyListener } from './proxy-listener.js';
import { Router } from './router.js';
import { startAdminServer } from './admin-server.js';

/** Options of {@link startProxy}. */
export interface StartProxyOptions {
  /** Where to log (one line per event). Defaults to stderr. */
  readonly log?: (message: string) => void;
}

/** A running proxy. */
export interface Proxy {
  /** The bound listener port (useful with port 0). */
  readonly port: number;
  /** The bound admin port, or null when the admin endpoint is off. */
  readonly adminPort: number | null;
  /** Applies a new config; listener settings (listen, tls, limits, admin) need a restart and are kept. */
  reload(config: ProxyConfig): void;
  /** The admin view: clusters, backends, counters. */
  state(): Record<string, unknown>;
  /** Graceful stop: GOAWAY to clients, calls in flight get up to `graceMs` (default 10 s). */
  close(graceMs?: number): Promise<void>;
}

/** Starts a proxy for a validated config. */
export async function startProxy(config: ProxyConfig, options: StartProxyOptions = {}): Promise<Proxy> {
  const log = options.log ?? ((m: string) => console.error(`grpc-ha proxy: ${m}`));
  let current = config;
  let clusters = buildClusters(config, new Map(), config.limits.streamWindowBytes, log);
  let router = new Router(config.routes, clusters);
  let closing = false;
  const retired = new Set<Cluster>();

  const listener = new ProxyListener({
    host: config.listen.host,
    port: config.listen.port,
    tls: config.tls,
    limits: config.limits,
    router: () => router,
    log,
  });
  let port: number;
  try {
    port = await listener.listen();
  } catch (error) {
    for (const c of clusters.values()) c.close(true);
    throw error;
  }

  const state = (): Record<string, unknown> => ({
    listen: `${config.listen.host || '*'}:${port}`,
    connections: listener.connections,
    calls: { ...listener.stats },
    clusters: [...clusters.values()].map((c) => c.toJSON()),
    ...(retired.size > 0 && { draining: [...retired].map((c) => c.toJSON()) }),
  });

  let admin: { server: Server; port: number } | null = null;
  if (config.admin) {
    try {
      admin = await startAdminServer(config.admin.host, config.admin.port, { healthy: () => !closing, state });
    } catch (error) {
      await listener.close(0);
      for (const c of clusters.values()) c.close(true);
      throw error;
    }
  }

  const retire = (cluster: Cluster): void => {
    cluster.close();
    if (cluster.inFlight() === 0) return;
    retired.add(cluster);
    const timer = setInterval(() => {
      if (cluster.inFlight() === 0) {
        retired.delete(cluster);
        clearInterval(timer);
      }
    }, 500);
    timer.unref();
  };

  return {
    port,
    adminPort: admin?.port ?? null,
    reload(next) {
      const ignored = (['listen', 'tls', 'limits', 'admin'] as const).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(current[k]));
      if (ignored.length > 0) log(`reload: ${ignored.join(', ')} changed; these take effect on restart only`);
      const nextClusters = buildClusters(next, clusters, config.limits.streamWindowBytes, log);
      for (const [name, old] of clusters) if (nextClusters.get(name) !== old) retire(old);
      clusters = nextClusters;
      router = new Router(next.routes, clusters);
      current = next;
      log(`reload: ${clusters.size} cluster(s), ${next.routes.length} route(s)`);
    },
    state,
    async close(graceMs = 10_000) {
      closing = true;
      await listener.close(graceMs);
      for (const c of clusters.values()) c.close(true);
      for (const c of retired) c.close(true);
      if (admin) {
        const closed = new Promise<void>((resolve) => admin!.server.close(() => resolve()));
        admin.server.closeAllConnections();
        await closed;
      }
    },
  };
}

/** Clusters for `config`, reusing each of `existing` whose config is unchanged. */
function buildClusters(
  config: ProxyConfig,
  existing: ReadonlyMap<string, Cluster>,
  windowBytes: number,
  log: (m: string) => void,
): Map<string, Cluster> {
  const out = new Map<string, Cluster>();
  const created: Cluster[] = [];
  try {
    for (const [name, c] of config.clusters) {
      const old = existing.get(name);
      if (old && sameCluster(old.config, c)) {
        out.set(name, old);
      } else {
        const cluster = new Cluster(c, { windowBytes, log });
        created.push(cluster);
        out.set(name, cluster);
      }
    }
  } catch (error) {
    for (const c of created) c.close(true);
    throw error;
  }
  for (const c of created) c.start();
  return out;
}
