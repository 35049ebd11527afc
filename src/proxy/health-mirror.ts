/**
 * A worker's copy of the primary's view of one cluster (health-snapshot.ts): the cluster reads it
 * as it would read its own health model (ClusterHealthModel), and what it reports goes where the
 * decisions are made — each backend's condition as this worker's connection sees it is combined
 * here (a backend this worker cannot reach is not picked here, whatever the primary says), and
 * call results go to the primary's outlier detector. Nothing is decided twice: no worker ejects,
 * no worker runs a health check.
 */
import { conditionCounts, type EndpointCondition } from '../core/health/endpoint-condition.js';
import type { HealthSettings } from '../core/health/health-defaults.js';
import type { Ejection } from '../core/health/outlier-detector.js';
import { slowStartFactor } from '../core/health/slow-start.js';
import type { EjectionCounters } from '../core/health/outlier-detector.js';
import type { ClusterHealthModel } from './cluster-health.js';
import { fromWall, type ClusterHealthDelta, type SharedBackend } from './health-snapshot.js';

const UNKNOWN: EndpointCondition = { t: 'connecting', settled: false };

/** One backend as the primary published it, on this process's clock. */
interface MirroredBackend {
  readonly condition: EndpointCondition;
  readonly healthySince: number;
  readonly ejection: Ejection | null;
}

/**
 * The condition a worker picks by: the primary's when it says the backend is not healthy
 * (ejected, not serving, unreachable from the primary), else this worker's connection's.
 */
function combine(shared: EndpointCondition | undefined, local: EndpointCondition): EndpointCondition {
  if (shared === undefined) return UNKNOWN;
  if (shared.t !== 'healthy') return shared;
  return local.t === 'healthy' ? shared : local;
}

/** See the module comment. */
export class HealthMirror implements ClusterHealthModel {
  private readonly shared = new Map<string, MirroredBackend>();
  private readonly combined = new Map<string, EndpointCondition>();
  private keys: string[] = [];
  private inPanic = false;
  private ramp = Number.NEGATIVE_INFINITY;
  private oldest = Number.NEGATIVE_INFINITY;
  private ejectionCounters: EjectionCounters | null = null;
  private closed = false;

  constructor(
    private readonly settings: HealthSettings,
    /** Sends `count` call results with status `code` for `key` to the primary. */
    private readonly report: (key: string, code: number, count: number) => void,
  ) {}

  get panic(): boolean {
    return this.inPanic;
  }

  get counting(): boolean {
    return this.settings.outlierEjection !== null;
  }

  get counters(): EjectionCounters | null {
    return this.ejectionCounters;
  }

  get rampUntil(): number {
    return this.ramp;
  }

  /** Takes a delta the primary published. The caller then rebuilds the cluster (or hands it the new backend list). */
  apply(delta: ClusterHealthDelta): void {
    for (const [address, b] of delta.backends) this.shared.set(address, mirrored(address, b));
    if (delta.endpoints) {
      const listed = new Set(delta.endpoints.map((e) => e.address));
      for (const address of this.shared.keys()) if (!listed.has(address)) this.shared.delete(address);
    }
    this.inPanic = delta.panic;
    this.ramp = fromWall(delta.rampUntil);
    this.oldest = fromWall(delta.oldestHealthySince);
    this.ejectionCounters = delta.counters;
  }

  setEndpoints(keys: Iterable<string>): void {
    this.keys = [...keys];
  }

  recompute(reported: (key: string) => EndpointCondition): void {
    this.combined.clear();
    for (const key of this.keys) this.combined.set(key, combine(this.shared.get(key)?.condition, reported(key)));
  }

  recordResult(key: string, code: number, count = 1): void {
    if (!this.closed && this.counting) this.report(key, code, count);
  }

  conditionOf(key: string): EndpointCondition | undefined {
    return this.combined.get(key);
  }

  ejectionOf(key: string): Ejection | null {
    return this.shared.get(key)?.ejection ?? null;
  }

  factorOf(key: string, now: number): number {
    const slowStart = this.settings.slowStart;
    if (slowStart === null || this.combined.get(key)?.t !== 'healthy') return 1;
    return slowStartFactor(now - (this.shared.get(key)?.healthySince ?? Number.NEGATIVE_INFINITY), slowStart);
  }

  maxFactor(now: number): number {
    const slowStart = this.settings.slowStart;
    return slowStart === null ? 1 : slowStartFactor(now - this.oldest, slowStart);
  }

  describeEjections(keys: Iterable<string> = this.keys): string[] {
    const ejected: EndpointCondition[] = [];
    for (const key of keys) {
      const e = this.ejectionOf(key);
      if (e) ejected.push({ t: 'ejected', reason: e.reason });
    }
    return conditionCounts(ejected);
  }

  close(): void {
    this.closed = true;
  }
}

function mirrored(key: string, b: SharedBackend): MirroredBackend {
  const e = b.ejection;
  return {
    condition: b.condition,
    healthySince: fromWall(b.healthySince),
    ejection: e && { key, kind: e.kind, reason: e.reason, at: fromWall(e.at), until: fromWall(e.until) },
  };
}
