/**
 * One view of each cluster across a proxy's workers, as Envoy's main thread keeps the host set and
 * its health and hands workers read-only snapshots: the primary's cluster decides membership (its
 * endpoint source), health (its own connection and active check per backend) and outlier
 * ejection (every worker's call results), and publishes what changed to every worker. This is
 * the primary's side: what a worker needs to pick as the primary would, and the deltas.
 *
 * Times travel as wall-clock ms (performance.timeOrigin + the monotonic clock), so that each
 * process reads them on its own monotonic clock; -Infinity ("never", "warm") survives the
 * structured clone of the IPC channel.
 */
import type { EndpointCondition } from '../core/health/endpoint-condition.js';
import type { EndpointSetHealth } from '../core/health/endpoint-set-health.js';
import type { EjectionCounters, EjectionKind } from '../core/health/outlier-detector.js';
import type { Cluster } from './cluster.js';
import type { ProxyEndpoint } from './endpoint-source.js';

/** An ejection in force, on the wall clock. */
export interface SharedEjection {
  readonly kind: EjectionKind;
  readonly reason: string;
  readonly at: number;
  readonly until: number;
}

/** One backend as the primary sees it. */
export interface SharedBackend {
  /** Its condition in the primary's health model (connection and health check of the primary, ejection). */
  readonly condition: EndpointCondition;
  /** Wall-clock time it became healthy (slow start measures from here); -Infinity when warm or not healthy. */
  readonly healthySince: number;
  readonly ejection: SharedEjection | null;
}

/** What changed in one cluster's view since the last delta (or everything, for a worker that starts). */
export interface ClusterHealthDelta {
  /** The whole backend list, when it changed (absent until the target first answered). */
  readonly endpoints?: readonly ProxyEndpoint[];
  /** Backends whose shared state changed, by address. */
  readonly backends: readonly (readonly [string, SharedBackend])[];
  readonly panic: boolean;
  /** Wall-clock end of the slow start ramp (-Infinity when none). */
  readonly rampUntil: number;
  /** Wall-clock time the longest-healthy backend became healthy. */
  readonly oldestHealthySince: number;
  readonly counters: EjectionCounters | null;
}

/** Monotonic clock time of this process as wall-clock ms. */
export function toWall(t: number): number {
  return performance.timeOrigin + t;
}

/** Wall-clock ms as monotonic clock time of this process. */
export function fromWall(wall: number): number {
  return wall - performance.timeOrigin;
}

const CONNECTING: EndpointCondition = { t: 'connecting', settled: false };

/** Computes deltas of one primary cluster; see the module comment. */
export class HealthPublisher {
  /** Each backend's last published state, to tell what changed. */
  private readonly sent = new Map<string, SharedBackend>();
  private sentEndpoints = -1;
  private sentCluster = '';

  constructor(
    private readonly cluster: Cluster,
    private readonly health: EndpointSetHealth,
  ) {}

  /** What changed since the last call, or null when nothing did. */
  delta(): ClusterHealthDelta | null {
    const delta = this.build(false);
    const cluster = JSON.stringify([delta.panic, delta.rampUntil, delta.oldestHealthySince, delta.counters]);
    if (delta.endpoints === undefined && delta.backends.length === 0 && cluster === this.sentCluster) return null;
    this.sentCluster = cluster;
    return delta;
  }

  /** Everything, for a worker that starts or takes a new config; what delta() compares against stays. */
  full(): ClusterHealthDelta {
    return this.build(true);
  }

  private build(full: boolean): ClusterHealthDelta {
    const { cluster, health } = this;
    let endpoints: ProxyEndpoint[] | undefined;
    const backends: [string, SharedBackend][] = [];
    if (cluster.resolved) {
      // The list only moves when the source delivers one: its version says so without comparing it.
      if (full || cluster.endpointsVersion !== this.sentEndpoints) endpoints = [...cluster.upstreams.values()].map((u) => ({ address: u.address, weight: u.weight }));
      if (!full) this.sentEndpoints = cluster.endpointsVersion;
      const seen = new Set<string>();
      for (const address of cluster.upstreams.keys()) {
        seen.add(address);
        const e = health.ejectionOf(address);
        const backend: SharedBackend = {
          condition: health.conditionOf(address) ?? CONNECTING,
          healthySince: toWall(health.healthySinceOf(address)),
          ejection: e && { kind: e.kind, reason: e.reason, at: toWall(e.at), until: toWall(e.until) },
        };
        // Compared field by field: a delta runs at every change of the cluster, and serialising
        // every backend to compare it made 1,000 backends cost O(n²) at start (issue 17).
        const last = this.sent.get(address);
        if (full || last === undefined || !sameBackend(last, backend)) {
          backends.push([address, backend]);
          if (!full) this.sent.set(address, backend);
        }
      }
      if (!full) for (const address of this.sent.keys()) if (!seen.has(address)) this.sent.delete(address);
    }
    return {
      ...(endpoints && { endpoints }),
      backends,
      panic: health.panic,
      rampUntil: toWall(health.rampUntil),
      oldestHealthySince: toWall(health.oldestHealthySince),
      counters: health.counters && structuredClone(health.counters),
    };
  }
}

/** Whether two published states of one backend are the same (conditions are small flat objects). */
function sameBackend(a: SharedBackend, b: SharedBackend): boolean {
  return a.healthySince === b.healthySince && sameFlat(a.condition, b.condition) && (a.ejection === b.ejection || (a.ejection !== null && b.ejection !== null && sameFlat(a.ejection, b.ejection)));
}

function sameFlat(a: object, b: object): boolean {
  if (a === b) return true;
  const ka = Object.keys(a) as (keyof typeof a)[];
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}
