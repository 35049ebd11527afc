/**
 * Passive health of one proxy cluster, the same as the library's health layer but over the
 * cluster's backends: outlier ejection (the shared OutlierDetector and its timers: consecutive
 * failures, gRFC A50 success rate and failure percentage), slow start (Envoy's formula) and the
 * panic threshold (Envoy). What it keeps per backend lives here, keyed by address, so the
 * connection (Upstream) knows nothing of it.
 */
import type { EventName } from '../observe/events.js';
import type { PickerEnv } from '../core/pickers/picker.js';
import { EjectionTimers } from '../core/health/ejection-timers.js';
import { conditionLabel } from '../core/health/endpoint-condition.js';
import type { HealthSettings } from '../core/health/health-config.js';
import { OutlierDetector, type Ejection, type EjectionCounters } from '../core/health/outlier-detector.js';
import { inPanic } from '../core/health/panic-threshold.js';
import { slowStartFactor } from '../core/health/slow-start.js';
import type { Upstream } from './upstream.js';

/** What the cluster health keeps per backend. */
class BackendRecord {
  /** Connected or failed at least once: until then its health is unknown and it counts as healthy for the panic threshold. */
  settled = false;
  healthy = false;
  /** Clock time it last became healthy; slow start ramps from here. */
  healthySince = Number.NEGATIVE_INFINITY;
  /** Its health check said SERVING when last seen. */
  serving = false;
  constructor(
    /**
     * In the cluster's first backend list and not seen unhealthy yet: it was most likely running
     * before the proxy started, so its first healthy moment starts no ramp (as in the library).
     */
    public warm: boolean,
  ) {}
}

/** See the module comment. One per cluster. */
export class ClusterHealth {
  /** Whether health is disregarded now: fewer than panicThresholdPercent % of the backends are healthy. */
  panic = false;
  /** While now < rampUntil some healthy backend is still in its slow start window. */
  rampUntil = Number.NEGATIVE_INFINITY;
  private oldestHealthySince = 0;
  private readonly records = new Map<string, BackendRecord>();
  private readonly detector: OutlierDetector | null;
  private readonly timers: EjectionTimers;
  private first = true;

  constructor(
    readonly settings: HealthSettings,
    /** The cluster has active health checks: a backend whose check turns SERVING anew may return from ejection early. */
    private readonly activeChecks: boolean,
    private readonly env: PickerEnv,
    /** Called when the set of backends to pick from may have changed. */
    private readonly onChange: () => void,
    private readonly log: (message: string) => void,
    /** Reports a state change on the observability bus (src/observe/events.ts), as the library's channels do. */
    private readonly emit: (event: EventName, endpoint?: string, reason?: string) => void = () => undefined,
  ) {
    this.detector = settings.outlierEjection ? new OutlierDetector(settings.outlierEjection, env) : null;
    this.timers = new EjectionTimers(env.now, { interval: () => this.onInterval(), expiry: () => this.onExpiry() });
    this.timers.setInterval(settings.outlierEjection?.intervalMs ?? 0);
  }

  /** Whether call results are counted (outlier ejection is on). */
  get counting(): boolean {
    return this.detector !== null;
  }

  /** Ejection counters (detected, enforced, overflow), or null when outlier ejection is off. */
  get counters(): EjectionCounters | null {
    return this.detector?.counters ?? null;
  }

  /** Makes `addresses` the backend set: new ones start clean, missing ones are forgotten. */
  setBackends(addresses: Iterable<string>): void {
    const next = new Set(addresses);
    for (const a of this.records.keys()) if (!next.has(a)) this.records.delete(a);
    for (const a of next) if (!this.records.has(a)) this.records.set(a, new BackendRecord(this.first));
    this.first = false;
    this.detector?.setEndpoints(next);
    this.timers.schedule(this.detector);
  }

  /** The ejection of `address`, or null when it is not ejected. */
  ejectionOf(address: string): Ejection | null {
    return this.detector?.ejectionOf(address) ?? null;
  }

  /** Records the gRPC status a call to `address` ended with. */
  recordResult(address: string, code: number): void {
    const ejection = this.detector?.recordResult(address, code);
    if (ejection) this.onEjected([ejection]);
  }

  /** A backend's connection or health check changed. */
  upstreamChanged(u: Upstream): void {
    const record = this.records.get(u.address);
    if (!record) return;
    const serving = u.state === 'ready' && u.health === 'serving';
    // "successful_active_health_check_uneject_host: [...] a host ejected by outlier detection
    // will be unejected when it passes an active health check" - Envoy. Checks report changes
    // here, so passing means SERVING again after a failure or a reconnect.
    const detector = this.detector;
    if (serving && !record.serving && this.activeChecks && detector?.current.unejectOnHealthy && detector.uneject(u.address)) {
      this.log(`${u.address} returns early from ejection: its health check says SERVING`);
      this.emit('endpoint_returned', u.address, 'its health check says SERVING');
      this.timers.schedule(detector);
    }
    if (u.state === 'ready' && u.health !== 'unknown' && serving !== record.serving) {
      this.emit(serving ? 'endpoint_healthy' : 'endpoint_not_serving', u.address, serving ? undefined : u.lastError || undefined);
    }
    record.serving = serving;
  }

  /**
   * The backends the picker gets: the healthy ones (connected, passing health checks, not
   * ejected) or, in panic, every connected one. Updates panic mode and the slow start ramp.
   */
  select(all: readonly Upstream[]): Upstream[] {
    const now = this.env.now();
    const healthyList: Upstream[] = [];
    let unknown = 0;
    let oldest = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    for (const u of all) {
      const record = this.records.get(u.address);
      if (!record) continue;
      if (u.state === 'ready' || u.state === 'transient_failure') record.settled = true;
      const ejected = this.ejectionOf(u.address) !== null;
      const healthy = u.available && !ejected;
      const isUnknown = !healthy && !ejected && (!record.settled || (u.state === 'ready' && u.health === 'unknown'));
      if (healthy && !record.healthy) record.healthySince = record.warm ? Number.NEGATIVE_INFINITY : now;
      if (!isUnknown) record.warm = false;
      record.healthy = healthy;
      if (isUnknown) unknown++;
      if (healthy) {
        healthyList.push(u);
        oldest = Math.min(oldest, record.healthySince);
        newest = Math.max(newest, record.healthySince);
      }
    }
    const panic = inPanic(healthyList.length + unknown, all.length, this.settings.panicThresholdPercent);
    if (panic !== this.panic) this.emit(panic ? 'panic_entered' : 'panic_left', undefined, `${healthyList.length} of ${all.length} backends healthy`);
    this.panic = panic;
    this.oldestHealthySince = oldest;
    const slowStart = this.settings.slowStart;
    this.rampUntil = slowStart !== null && healthyList.length > 1 ? newest + slowStart.windowMs : Number.NEGATIVE_INFINITY;
    return this.panic ? all.filter((u) => u.state === 'ready') : healthyList;
  }

  /** Slow start factor of `u` at `now`: 1 unless it is healthy and inside its window. */
  factorOf(u: Upstream, now: number): number {
    const slowStart = this.settings.slowStart;
    const record = this.records.get(u.address);
    if (slowStart === null || !record?.healthy) return 1;
    return slowStartFactor(now - record.healthySince, slowStart);
  }

  /** Factor of the longest-healthy backend: picks are kept with probability factor / maxFactor. */
  maxFactor(now: number): number {
    const slowStart = this.settings.slowStart;
    return slowStart === null ? 1 : slowStartFactor(now - this.oldestHealthySince, slowStart);
  }

  /** "1 ejected (5 consecutive UNAVAILABLE)" for each reason, as the library words it. */
  describeEjections(addresses: Iterable<string>): string[] {
    const groups = new Map<string, number>();
    for (const a of addresses) {
      const e = this.ejectionOf(a);
      if (e) {
        const label = conditionLabel({ t: 'ejected', reason: e.reason });
        groups.set(label, (groups.get(label) ?? 0) + 1);
      }
    }
    return [...groups].map(([label, n]) => `${n} ${label}`);
  }

  /** Stops the timers. */
  close(): void {
    this.timers.stop();
  }

  private onInterval(): void {
    const detector = this.detector;
    if (detector === null) return;
    const ejections = detector.runInterval();
    if (ejections.length > 0) this.onEjected(ejections);
    else {
      this.timers.schedule(detector);
      this.onChange();
    }
  }

  private onExpiry(): void {
    const detector = this.detector;
    if (detector === null) return;
    for (const address of detector.expire()) {
      this.log(`${address} returns after its ejection`);
      this.emit('endpoint_returned', address, 'its ejection ended');
    }
    this.timers.schedule(detector);
    this.onChange();
  }

  private onEjected(ejections: readonly Ejection[]): void {
    for (const e of ejections) {
      this.log(`ejected ${e.key} for ${Math.round(e.until - e.at)} ms: ${e.reason}`);
      this.emit('endpoint_ejected', e.key, e.reason);
    }
    this.timers.schedule(this.detector);
    this.onChange();
  }
}
