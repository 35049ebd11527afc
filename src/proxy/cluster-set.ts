/**
 * The clusters of a running proxy and the route table over them, replaced as one by a reload:
 * clusters whose config did not change are kept (connections, load and health included), new ones
 * start, and removed or changed ones stop taking calls but finish those in flight before they
 * close, so no call is dropped. A proxy of one process, the primary of a proxy on workers and each
 * worker hold one; they differ in how a cluster is built (`ClusterFactory`) and kept.
 */
import type { ProxyClusterState } from '../observe/proxy-state.js';
import type { Cluster } from './cluster.js';
import type { ClusterConfig, ProxyConfig } from './proxy-config.js';
import { Router } from './router.js';

/** Builds a cluster for `config`, not started yet; `windowBytes` is the listener's stream window. */
export type ClusterFactory = (config: ClusterConfig, windowBytes: number) => Cluster;

/** Whether `existing` may stay as the cluster of `next` (by default: the same config, see {@link sameCluster}). */
export type KeepCluster = (existing: Cluster, next: ClusterConfig) => boolean;

/** How often a removed cluster is checked for calls still in flight, ms. */
const RETIRED_CHECK_MS = 500;

/** See the module comment. */
export class ClusterSet {
  private clusters = new Map<string, Cluster>();
  private table: Router = new Router([], new Map());
  /** Removed or replaced clusters still finishing their calls. */
  private readonly retired = new Set<Cluster>();

  constructor(
    private readonly create: ClusterFactory,
    private readonly keep: KeepCluster = (existing, next) => sameCluster(existing.config, next),
  ) {}

  /** The route table over the current clusters (a listener reads it per call). */
  get router(): Router {
    return this.table;
  }

  /** The current clusters by name. */
  get current(): ReadonlyMap<string, Cluster> {
    return this.clusters;
  }

  /**
   * Makes `config`'s clusters and routes current. Throws, changing nothing, when a cluster cannot
   * be built; otherwise the new clusters start and the ones left out retire.
   */
  update(config: ProxyConfig): void {
    const windowBytes = config.limits.streamWindowBytes;
    const next = new Map<string, Cluster>();
    const created: Cluster[] = [];
    try {
      for (const [name, c] of config.clusters) {
        const old = this.clusters.get(name);
        if (old && this.keep(old, c)) {
          next.set(name, old);
        } else {
          const cluster = this.create(c, windowBytes);
          created.push(cluster);
          next.set(name, cluster);
        }
      }
    } catch (error) {
      for (const c of created) c.close(true);
      throw error;
    }
    for (const [name, old] of this.clusters) if (next.get(name) !== old) this.retire(old);
    this.clusters = next;
    this.table = new Router(config.routes, next);
    for (const c of created) c.start();
  }

  /** The current clusters' state, and the retired ones still finishing calls; `view` shows one (its own toJSON by default). */
  state(view: (cluster: Cluster) => ProxyClusterState = (c) => c.toJSON()): { clusters: ProxyClusterState[]; draining?: ProxyClusterState[] } {
    return {
      clusters: [...this.clusters.values()].map(view),
      ...(this.retired.size > 0 && { draining: [...this.retired].map(view) }),
    };
  }

  /** Closes every cluster, retired ones included: at once with `force`, else after their calls in flight. */
  close(force: boolean): void {
    for (const c of this.clusters.values()) c.close(force);
    for (const c of this.retired) c.close(true);
    this.retired.clear();
  }

  private retire(cluster: Cluster): void {
    cluster.close();
    if (cluster.inFlight() === 0) return;
    this.retired.add(cluster);
    const timer = setInterval(() => {
      if (cluster.inFlight() === 0) {
        this.retired.delete(cluster);
        clearInterval(timer);
      }
    }, RETIRED_CHECK_MS);
    timer.unref();
  }
}

/** Whether two cluster configs would build the same cluster (a reload keeps such clusters as they are). */
export function sameCluster(a: ClusterConfig, b: ClusterConfig): boolean {
  const { policy: _pa, tls: ta, ...ra } = a;
  const { policy: _pb, tls: tb, ...rb } = b;
  // Sets (health.outlierEjection.failureCodes) compare by their members; the policy by its config as written (policyJson).
  const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x instanceof Set ? [...(x as Set<unknown>)].sort() : x));
  return json(ra) === json(rb) && JSON.stringify(ta) === JSON.stringify(tb);
}
