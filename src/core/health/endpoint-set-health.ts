/**
 * The health of one endpoint set — a grpc-js channel's endpoints, a proxy cluster's backends — as
 * one model that both front ends drive, as Envoy keeps one host-set health model that every load
 * balancer reads. An adapter tells it the set (`setEndpoints`), each endpoint's condition as its
 * transport sees it (`recompute`) and each call's final status (`recordResult`); the model owns
 * the rest:
 *
 * - outlier ejection: the OutlierDetector and its timers; an ejected endpoint's condition is
 *   'ejected' whatever its transport says;
 * - "successful_active_health_check_uneject_host: [...] a host ejected by outlier detection will
 *   be unejected when it passes an active health check" - Envoy: an endpoint whose active health
 *   check turns SERVING anew returns at once;
 * - the panic threshold (Envoy): too few healthy endpoints and health is disregarded;
 * - slow start (Envoy): the ramp of an endpoint that has just become healthy;
 * - what changed, as events and log lines (health-events.ts), and why nothing can be picked.
 *
 * Pure: time and randomness come from `env`, the timers are unref'd, nothing here knows a transport.
 */
import type { PickerEnv } from '../pickers/picker.js';
import { EjectionTimers } from './ejection-timers.js';
import { conditionCounts, healthClass, noHealthyEndpointMessage, type EndpointCondition } from './endpoint-condition.js';
import { DEFAULT_HEALTH_SETTINGS, type HealthSettings } from './health-defaults.js';
import { RETURN_REASONS, transitionEvents, type HealthSink, type ReturnReason } from './health-events.js';
import { OutlierDetector, type Ejection, type EjectionCounters } from './outlier-detector.js';
import { inPanic } from './panic-threshold.js';
import { slowStartFactor, type SlowStartSettings } from './slow-start.js';

/** What the model needs from its adapter. */
export interface EndpointSetHealthOptions {
  /** Clock and randomness (ejection jitter, enforcement percentages). */
  readonly env: PickerEnv;
  /** Receives condition changes as events, and ejections and returns as log lines. */
  readonly sink: HealthSink;
  /**
   * The model's own timers or a call result changed what may be picked (an ejection, a return):
   * the adapter should `recompute()` and pass the result on.
   */
  readonly changed: () => void;
  /** Further ejection counters to bump alongside the model's own (process-wide totals). */
  readonly totals?: readonly EjectionCounters[];
}

const STARTING: EndpointCondition = { t: 'connecting', settled: false };
const RESETTLED: EndpointCondition = { t: 'connecting', settled: true };

/** What the model keeps per endpoint. */
class EndpointRecord {
  /** Condition as of the last recompute, ejection included. */
  condition: EndpointCondition = STARTING;
  /** Condition its adapter last reported (without ejection): a check passes "anew" against it. */
  reported: EndpointCondition = STARTING;
  /** Seen in any condition but connecting: its health is no longer unknown when it connects again. */
  settled = false;
  /** Clock time it last became healthy (slow start measures from here). */
  healthySince = Number.NEGATIVE_INFINITY;
  /** Why its ejection ended, when it ended early. */
  returned: ReturnReason = RETURN_REASONS.expired;
  constructor(
    /**
     * In the set's first endpoint list and not seen unhealthy yet: the server was most likely
     * running before this client started, so its first healthy moment starts no ramp. Endpoints
     * added later (a scale-up) and endpoints that return from being unhealthy do.
     */
    public warm: boolean,
  ) {}
}

/** See the module comment. One per channel or cluster. */
export class EndpointSetHealth {
  private settings: HealthSettings;
  private records = new Map<string, EndpointRecord>();
  private detector: OutlierDetector | null = null;
  private readonly timers: EjectionTimers;
  private sawEndpoints = false;
  private closed = false;
  private inPanic = false;
  private ramp = Number.NEGATIVE_INFINITY;
  private healthyOldest = 0;

  constructor(
    private readonly options: EndpointSetHealthOptions,
    settings: HealthSettings = DEFAULT_HEALTH_SETTINGS,
  ) {
    this.settings = DEFAULT_HEALTH_SETTINGS;
    this.timers = new EjectionTimers(options.env.now, { interval: () => this.onInterval(), expiry: () => this.onExpiry() });
    this.configure(settings);
  }

  /** Whether health is disregarded now: fewer than panicThresholdPercent % of the endpoints are healthy. */
  get panic(): boolean {
    return this.inPanic;
  }

  /** Whether call results are counted (outlier ejection is on). */
  get counting(): boolean {
    return this.detector !== null;
  }

  /** Ejection counters (detected, enforced, overflow), or null when outlier ejection is off. */
  get counters(): EjectionCounters | null {
    return this.detector?.counters ?? null;
  }

  /** Slow start settings, or null when off. */
  get slowStart(): SlowStartSettings | null {
    return this.settings.slowStart;
  }

  /** While now < rampUntil some healthy endpoint is still in its slow start window. */
  get rampUntil(): number {
    return this.ramp;
  }

  /** Applies new settings: outlier ejection switched on, retuned or off; ejections in progress keep their return time. */
  configure(settings: HealthSettings): void {
    if (this.closed) return;
    this.settings = settings;
    const o = settings.outlierEjection;
    if (o === null) {
      // Every ejection ends with the detector; recompute() reports the returns.
      this.detector = null;
    } else if (this.detector === null) {
      this.detector = new OutlierDetector(o, this.options.env, this.options.totals);
      this.detector.setEndpoints(this.records.keys());
    } else {
      this.detector.updateSettings(o);
    }
    this.timers.setInterval(o?.intervalMs ?? 0);
    this.timers.schedule(this.detector);
  }

  /** Makes `keys` (in this order) the endpoint set: new ones start clean, missing ones are forgotten. */
  setEndpoints(keys: Iterable<string>): void {
    if (this.closed) return;
    const first = !this.sawEndpoints;
    this.sawEndpoints = true;
    const records = new Map<string, EndpointRecord>();
    for (const key of keys) records.set(key, records.get(key) ?? this.records.get(key) ?? new EndpointRecord(first));
    this.records = records;
    this.detector?.setEndpoints(records.keys());
    this.timers.schedule(this.detector);
  }

  /** Records the gRPC status code `count` calls in a row to `key` ended with (1 unless a batch). */
  recordResult(key: string, code: number, count = 1): void {
    if (this.detector === null || this.closed) return;
    const ejection = this.detector.recordResult(key, code, count);
    if (ejection) this.onEjected([ejection]);
  }

  /**
   * Takes every endpoint's condition from its adapter (`reported(key)`: connection and health
   * check, ignoring ejection) and updates what follows from it: early returns from ejection,
   * each endpoint's condition (events for the changes), panic mode and the slow start ramp.
   */
  recompute(reported: (key: string) => EndpointCondition): void {
    if (this.closed) return;
    const now = this.options.env.now();
    const detector = this.detector;
    let unejected = false;
    let healthy = 0;
    let unknown = 0;
    let oldest = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    for (const [key, record] of this.records) {
      let input = reported(key);
      if (input.t !== 'connecting') record.settled = true;
      else if (!input.settled && record.settled) input = RESETTLED;
      // A passing check counts when it follows anything else: a recovery, a restart, a reconnect.
      const passedAnew = input.t === 'healthy' && input.checked === true && !(record.reported.t === 'healthy' && record.reported.checked === true);
      record.reported = input;
      let ejection = detector?.ejectionOf(key) ?? null;
      if (ejection && passedAnew && detector!.current.unejectOnHealthy && detector!.uneject(key)) {
        record.returned = RETURN_REASONS.healthCheck;
        ejection = null;
        unejected = true;
      }
      const condition: EndpointCondition = ejection ? { t: 'ejected', reason: ejection.reason } : input;
      const cls = healthClass(condition);
      if (cls === 'healthy' && record.condition.t !== 'healthy') record.healthySince = record.warm ? Number.NEGATIVE_INFINITY : now;
      if (cls !== 'unknown') record.warm = false;
      if (condition.t !== record.condition.t) this.changed(key, record, condition);
      record.condition = condition;
      if (cls === 'unknown') unknown++;
      if (cls === 'healthy') {
        healthy++;
        if (record.healthySince < oldest) oldest = record.healthySince;
        if (record.healthySince > newest) newest = record.healthySince;
      }
    }
    if (unejected) this.timers.schedule(detector);
    const total = this.records.size;
    const panic = inPanic(healthy + unknown, total, this.settings.panicThresholdPercent);
    if (panic !== this.inPanic) this.options.sink.emit(panic ? 'panic_entered' : 'panic_left', undefined, `${healthy} of ${total} endpoints healthy`);
    this.inPanic = panic;
    this.healthyOldest = oldest;
    const slowStart = this.settings.slowStart;
    this.ramp = slowStart !== null && healthy > 1 ? newest + slowStart.windowMs : Number.NEGATIVE_INFINITY;
  }

  /** The condition of `key` as of the last recompute, or undefined when it is not in the set. */
  conditionOf(key: string): EndpointCondition | undefined {
    return this.records.get(key)?.condition;
  }

  /** The ejection of `key`, or null when it is not ejected. */
  ejectionOf(key: string): Ejection | null {
    return this.detector?.ejectionOf(key) ?? null;
  }

  /** Whether some endpoint waits for its first health-check answer (A17: a channel then queues rather than fails). */
  awaitingHealthCheck(): boolean {
    for (const r of this.records.values()) if (r.condition.t === 'awaiting_health_check') return true;
    return false;
  }

  /** Slow start factor of `key` at `now`: 1 unless it is healthy and inside its window. */
  factorOf(key: string, now: number): number {
    const slowStart = this.settings.slowStart;
    if (slowStart === null) return 1;
    const record = this.records.get(key);
    if (record === undefined || record.condition.t !== 'healthy') return 1;
    return slowStartFactor(now - record.healthySince, slowStart);
  }

  /** Clock time `key` last became healthy (slow start measures from here); -Infinity when warm or unknown. */
  healthySinceOf(key: string): number {
    return this.records.get(key)?.healthySince ?? Number.NEGATIVE_INFINITY;
  }

  /** Clock time the longest-healthy endpoint became healthy, as of the last recompute. */
  get oldestHealthySince(): number {
    return this.healthyOldest;
  }

  /** Factor of the longest-healthy endpoint: picks are kept with probability factor / maxFactor. */
  maxFactor(now: number): number {
    const slowStart = this.settings.slowStart;
    return slowStart === null ? 1 : slowStartFactor(now - this.healthyOldest, slowStart);
  }

  /**
   * Why no endpoint can be picked: `no healthy endpoint for S: 3 known — 1 NOT_SERVING, 1 ejected
   * (5 consecutive UNAVAILABLE), 1 connecting`, the last error, and `note` (the resolver's).
   */
  noHealthyEndpointMessage(service: string, note = ''): string {
    return noHealthyEndpointMessage(service, [...this.records.values()].map((r) => r.condition), note);
  }

  /** "1 ejected (5 consecutive UNAVAILABLE)" for each ejection reason among `keys` (default: every endpoint). */
  describeEjections(keys: Iterable<string> = this.records.keys()): string[] {
    const ejected: EndpointCondition[] = [];
    for (const key of keys) {
      const e = this.ejectionOf(key);
      if (e) ejected.push({ t: 'ejected', reason: e.reason });
    }
    return conditionCounts(ejected);
  }

  /** Stops the timers and ignores later input. */
  close(): void {
    this.closed = true;
    this.timers.stop();
  }

  /** Reports a condition change of `key`: events, and a log line for a return from ejection. */
  private changed(key: string, record: EndpointRecord, to: EndpointCondition): void {
    const { sink } = this.options;
    const from = record.condition;
    if (from.t === 'ejected') {
      sink.log(record.returned === RETURN_REASONS.healthCheck ? `${key} returns early: ${record.returned}` : `${key} returns after its ejection`);
    }
    for (const e of transitionEvents(from, to, record.returned)) sink.emit(e.event, key, e.reason);
    if (from.t === 'ejected') record.returned = RETURN_REASONS.expired;
  }

  private onEjected(ejections: readonly Ejection[]): void {
    for (const e of ejections) this.options.sink.log(`ejected ${e.key} for ${Math.round(e.until - e.at)} ms: ${e.reason}`);
    this.timers.schedule(this.detector);
    this.options.changed();
  }

  private onInterval(): void {
    if (this.detector === null || this.closed) return;
    const ejections = this.detector.runInterval();
    if (ejections.length > 0) this.onEjected(ejections);
    else {
      // runInterval() also ends the ejections whose time is up.
      this.timers.schedule(this.detector);
      this.options.changed();
    }
  }

  private onExpiry(): void {
    if (this.detector === null || this.closed) return;
    this.detector.expire();
    this.timers.schedule(this.detector);
    this.options.changed();
  }
}
