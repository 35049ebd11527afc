/**
 * A worker of a proxy on workers (primary.ts): it serves the client connections the primary hands
 * it, with its own connections to the backends, its own picks and its own queue — and takes
 * everything else from the primary: the config (validated there), each cluster's backends and
 * their health, ejections included (health-mirror.ts). Its call results go back to the primary's
 * outlier detectors. It loads only what serving needs: no config schemas, no YAML, no registry
 * clients, no admin routes.
 */
import type { Socket } from 'node:net';
import type { ProxyCallCounts } from '../observe/proxy-state.js';
import { Cluster } from './cluster.js';
import { ClusterSet } from './cluster-set.js';
import type { EndpointSource, ProxyEndpoint } from './endpoint-source.js';
import type { ClusterHealthDelta } from './health-snapshot.js';
import { HealthMirror } from './health-mirror.js';
import type { CallCounters } from './proxied-call.js';
import type { ProxyConfig } from './proxy-config.js';
import { ProxyListener } from './proxy-listener.js';
import { ResultBatcher } from './result-batcher.js';
import { fromWire } from './wire-config.js';
import type { FromWorker, ToWorker, WireCluster, WorkerState } from './worker-messages.js';

/** How long a listener replaced by a reload lets its calls finish (as in a proxy of one process). */
const LISTENER_DRAIN_MS = 10_000;
/** Grace of calls in flight when the primary is gone without saying drain. */
const ORPHAN_GRACE_MS = 10_000;
/** How often the worker tells the primary how many client connections it holds, ms. */
const CONNECTIONS_REPORT_MS = 250;

/** The backend list of a cluster, as the primary publishes it. */
class PublishedEndpoints implements EndpointSource {
  private onEndpoints: ((endpoints: readonly ProxyEndpoint[]) => void) | undefined;
  private last: readonly ProxyEndpoint[] | undefined;

  subscribe(onEndpoints: (endpoints: readonly ProxyEndpoint[]) => void): void {
    this.onEndpoints = onEndpoints;
    if (this.last) onEndpoints(this.last);
  }

  deliver(endpoints: readonly ProxyEndpoint[]): void {
    this.last = endpoints;
    this.onEndpoints?.(endpoints);
  }

  close(): void {
    this.onEndpoints = undefined;
  }
}

/** A cluster of this worker and where the primary's view of it goes. */
interface FollowerLink {
  readonly cluster: Cluster;
  readonly endpoints: PublishedEndpoints;
  readonly mirror: HealthMirror;
  /** Tells the cluster that what may be picked changed. */
  readonly changed: () => void;
}

function applyView(link: FollowerLink, delta: ClusterHealthDelta): void {
  link.mirror.apply(delta);
  if (delta.endpoints) link.endpoints.deliver(delta.endpoints);
  else link.changed();
}

/** Runs this process as a proxy worker until the primary says drain (or goes away). */
export function runProxyWorker(): void {
  const send = (message: FromWorker): void => {
    if (process.connected) process.send!(message);
  };
  const log = (message: string) => console.error(`grpc-ha proxy worker ${process.pid}: ${message}`);
  const batcher = new ResultBatcher((runs) => send({ t: 'results', runs }));

  const links = new Map<number, FollowerLink>();
  const idOf = new Map<Cluster, number>();
  /** The clusters of the config being applied, by name. */
  let incoming = new Map<string, WireCluster>();
  const clusters = new ClusterSet(
    (config, windowBytes) => {
      const wire = incoming.get(config.name)!;
      const endpoints = new PublishedEndpoints();
      const failureCodes = config.health.outlierEjection?.failureCodes;
      const mirror = new HealthMirror(config.health, (key, code, count) => batcher.add(wire.id, key, code, count, failureCodes?.has(code) ?? false));
      let changed = () => {};
      const cluster = new Cluster(config, {
        windowBytes,
        source: endpoints,
        checksHealth: false,
        health: (_env, onChange) => {
          changed = onChange;
          return mirror;
        },
      });
      links.set(wire.id, { cluster, endpoints, mirror, changed: () => changed() });
      idOf.set(cluster, wire.id);
      return cluster;
    },
    (existing, next) => idOf.get(existing) === incoming.get(next.name)?.id,
  );

  /** Listeners by generation: the current one and those draining after a listener change. */
  const listeners = new Map<number, ProxyListener>();
  const pastCounters: CallCounters[] = [];
  let generation = -1;
  /** The newest listener generation a config announced; its connections wait until that config is applied. */
  let announced = -1;
  const early = new Map<number, Socket[]>();
  let draining = false;

  const configure = async (m: Extract<ToWorker, { t: 'config' }>): Promise<void> => {
    const config: ProxyConfig = await fromWire(m.config);
    incoming = new Map(m.clusters.map((c) => [c.name, c]));
    const before = new Set(links.keys());
    clusters.update(config);
    for (const c of m.clusters) if (!before.has(c.id)) applyView(links.get(c.id)!, c.view);
    const live = new Set(m.clusters.map((c) => c.id));
    for (const [id, link] of links) {
      if (!live.has(id)) {
        links.delete(id);
        idOf.delete(link.cluster);
      }
    }
    if (m.listener !== generation) {
      const previous = generation;
      const old = listeners.get(previous);
      generation = m.listener;
      const listener = new ProxyListener({ host: config.listen.host, port: config.listen.port, tls: config.tls, limits: config.limits, router: () => clusters.router, log });
      listeners.set(generation, listener);
      for (const socket of early.get(generation) ?? []) listener.adopt(socket);
      early.delete(generation);
      if (old) {
        pastCounters.push(old.counters);
        void old.close(LISTENER_DRAIN_MS).finally(() => listeners.delete(previous));
      }
    }
  };

  const state = (): WorkerState => {
    const calls: CallCounters = { started: 0, completed: 0, proxyErrors: 0, retries: 0 };
    let connections = 0;
    for (const counters of [...pastCounters, ...[...listeners.values()].map((l) => l.counters)]) {
      for (const k of Object.keys(calls) as (keyof ProxyCallCounts)[]) calls[k] += counters[k];
    }
    for (const l of listeners.values()) connections += l.connections;
    return {
      pid: process.pid,
      connections,
      calls,
      clusters: [...links].map(([id, { cluster }]) => ({
        id,
        pending: cluster.toJSON().pending,
        backends: [...cluster.upstreams.values()].map((u) => {
          const { address, inFlight, completed, failed, errors, latencyEwmaMs } = u.toJSON();
          return { address, inFlight, completed, failed, errors, latencyEwmaMs, connected: u.state === 'ready' };
        }),
      })),
    };
  };

  const drain = async (graceMs: number): Promise<void> => {
    if (draining) return;
    draining = true;
    clearInterval(reporter);
    await Promise.all([...listeners.values()].map((l) => l.close(graceMs)));
    batcher.flush();
    clusters.close(true);
    process.exit(0);
  };

  let reported = -1;
  const reporter = setInterval(() => {
    let open = 0;
    for (const l of listeners.values()) open += l.connections;
    if (open !== reported) send({ t: 'connections', open: (reported = open) });
  }, CONNECTIONS_REPORT_MS);

  // Configs and the primary's deltas are applied one after the other, in the order they came.
  let applying = Promise.resolve();
  process.on('message', (m: ToWorker, handle?: Socket) => {
    switch (m.t) {
      case 'connection': {
        if (handle === undefined) break;
        const listener = draining ? undefined : listeners.get(m.listener);
        if (listener) listener.adopt(handle);
        else if (!draining && m.listener > generation && m.listener <= announced) early.set(m.listener, [...(early.get(m.listener) ?? []), handle]);
        else handle.destroy();
        break;
      }
      case 'health':
        // After any config still being applied: a delta may be about a cluster that config creates.
        applying = applying.then(() => {
          const link = links.get(m.id);
          if (link) applyView(link, m.delta);
        });
        break;
      case 'config':
        announced = Math.max(announced, m.listener);
        applying = applying.then(() =>
          configure(m).then(
            () => send({ t: 'configured', seq: m.seq }),
            (error: unknown) => send({ t: 'configured', seq: m.seq, error: (error as Error).message }),
          ),
        );
        break;
      case 'state':
        send({ t: 'state', seq: m.seq, state: state() });
        break;
      case 'drain':
        void drain(m.graceMs);
        break;
    }
  });
  // The primary coordinates reloads and stops: a signal sent to the whole process group is its to act on.
  process.on('SIGHUP', () => {});
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void drain(ORPHAN_GRACE_MS));
  process.on('disconnect', () => void drain(ORPHAN_GRACE_MS));
  send({ t: 'ready' });
}
