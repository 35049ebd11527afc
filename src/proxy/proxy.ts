/**
 * `startProxy(config)`: the listener, the clusters and the admin endpoint, plus hot reload. A
 * reload validates the new config first (a bad one changes nothing), keeps clusters whose config
 * did not change (connections, load and health included), starts new ones, and lets removed or
 * changed ones finish their calls in flight before closing: no call is dropped. A changed
 * listener (address, TLS certificates, limits) is bound anew and the old one drains the same way.
 */
import type { ProxyConfig } from './proxy-config.js';
import type { ProxyState } from '../observe/proxy-state.js';
import type { CallCounters } from './proxied-call.js';
import { ProxyListener } from './proxy-listener.js';
import { ClusterSet } from './cluster-set.js';
import { localClusters } from './local-cluster.js';
import { AdminEndpoint } from './admin-server.js';
import { rebind } from './rebind.js';

/** Options of {@link startProxy}. */
export interface StartProxyOptions {
  /** Where to log (one line per event). Defaults to stderr. */
  readonly log?: (message: string) => void;
}

/** A running proxy. */
export interface Proxy {
  /** The bound listener port (useful with port 0); changes when a reload moves the listener. */
  readonly port: number;
  /** The bound admin port, or null when the admin endpoint is off. */
  readonly adminPort: number | null;
  /**
   * Applies a new config without dropping a call: clusters and routes at once; a changed
   * listener (listen, tls, limits) is bound anew and the old one drains (GOAWAY, calls in flight
   * finish); a changed admin endpoint moves. Rejects, changing nothing, when the new listener
   * cannot be bound.
   */
  reload(config: ProxyConfig): Promise<void>;
  /** The admin view: clusters, backends, counters (`GET /state` shows it as JSON). */
  state(): ProxyState;
  /** Graceful stop: GOAWAY to clients, calls in flight get up to `graceMs` (default 10 s). */
  close(graceMs?: number): Promise<void>;
}

/** How long a listener replaced by a reload lets its calls in flight finish (as a graceful stop). */
const LISTENER_DRAIN_MS = 10_000;

/** Starts a proxy for a validated config. */
export async function startProxy(config: ProxyConfig, options: StartProxyOptions = {}): Promise<Proxy> {
  const log = options.log ?? ((m: string) => console.error(`grpc-ha proxy: ${m}`));
  let current = config;
  const clusters = new ClusterSet(localClusters(log));
  clusters.update(config);
  let closing = false;
  /** Listeners replaced by a reload, still finishing their calls. */
  const draining = new Set<Promise<void>>();
  /** Call counters of listeners replaced by reloads, so /state counts every call. */
  const pastCounters: CallCounters[] = [];

  const newListener = (c: ProxyConfig) =>
    new ProxyListener({ host: c.listen.host, port: c.listen.port, tls: c.tls, limits: c.limits, router: () => clusters.router, log });
  let listener = newListener(config);
  let port: number;
  try {
    port = await listener.listen();
  } catch (error) {
    clusters.close(true);
    throw error;
  }

  const state = (): ProxyState => {
    const calls = { ...listener.counters };
    for (const past of pastCounters) for (const k of Object.keys(calls) as (keyof CallCounters)[]) calls[k] += past[k];
    return {
      listen: `${current.listen.host || '*'}:${port}`,
      connections: listener.connections,
      calls,
      ...clusters.state(),
    };
  };
  const adminSource = { healthy: () => !closing, state };

  let admin: AdminEndpoint;
  try {
    admin = await AdminEndpoint.open(config.admin, adminSource);
  } catch (error) {
    await listener.close(0);
    clusters.close(true);
    throw error;
  }

  const drain = (old: ProxyListener): void => {
    pastCounters.push(old.counters);
    const closed = old.close(LISTENER_DRAIN_MS).finally(() => draining.delete(closed));
    draining.add(closed);
  };

  const replaceListener = async (next: ProxyConfig): Promise<void> => {
    const old = listener;
    const result = await rebind({
      sameAddress: next.listen.host === current.listen.host && next.listen.port === port,
      address: `${next.listen.host || '*'}:${next.listen.port}`,
      fresh: () => newListener(next),
      again: () => newListener(current),
      retire: () => drain(old),
      discard: (l) => l.close(0),
    });
    if (result.t !== 'kept') ({ listener, port } = result);
    if (result.t !== 'moved') throw result.error;
  };

  return {
    get port() {
      return port;
    },
    get adminPort() {
      return admin.port;
    },
    async reload(next) {
      const changed = (k: 'listen' | 'tls' | 'limits' | 'admin') => JSON.stringify(next[k]) !== JSON.stringify(current[k]);
      const listenerChanged = changed('listen') || changed('tls') || changed('limits');
      if (listenerChanged) await replaceListener(next);
      clusters.update(next);
      const adminChanged = changed('admin');
      current = next;
      if (adminChanged) {
        try {
          await admin.move(next.admin);
        } catch (error) {
          log(`reload: admin endpoint not moved: ${(error as Error).message}`);
        }
      }
      const moved = [listenerChanged && `listener on ${next.listen.host || '*'}:${port}`, adminChanged && 'admin endpoint'].filter(Boolean);
      log(`reload: ${clusters.current.size} cluster(s), ${next.routes.length} route(s)${moved.length > 0 ? `; new ${moved.join(', ')}` : ''}`);
    },
    state,
    async close(graceMs = 10_000) {
      closing = true;
      await Promise.all([listener.close(graceMs), ...draining]);
      clusters.close(true);
      await admin.close();
    },
  };
}
