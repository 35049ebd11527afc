/**
 * Passive health: the outlier detector watches call results per endpoint and decides which
 * endpoints to eject, and for how long. Pure (no grpc-js): the endpoint-set health model feeds it
 * results and runs its timers; tests drive it with a scripted clock and random source.
 *
 * Three detectors, as in Envoy and gRFC A50:
 * - consecutive failures (Envoy consecutive_5xx): N failures in a row eject at once;
 * - success rate and failure percentage (A50), evaluated once per interval.
 * An ejection is *detected* when a detector flags the endpoint and *enforced* when it passes the
 * enforcement percentage and the max ejection percent; Envoy counts the two apart, and so do we.
 */
import type { Clock, RandomSource } from '../pickers/picker.js';
import {
  failurePercentageOutliers,
  successRateOutliers,
  type FailurePercentageSettings,
  type IntervalCounts,
  type Outlier,
  type SuccessRateSettings,
} from './outlier-statistics.js';
import { statusName } from '../status.js';

/** Outlier ejection settings after defaults; see README for each default and its source. */
export interface OutlierEjectionSettings {
  /** How often success rate and failure percentage are evaluated (and ejection multipliers decay), ms. */
  readonly intervalMs: number;
  /** Ejection time of a first ejection, ms; the n-th consecutive one lasts n times as long. */
  readonly baseEjectionTimeMs: number;
  /** Cap of the ejection time (before jitter), ms. */
  readonly maxEjectionTimeMs: number;
  /** Up to this much random time is added to each ejection, ms, so returns do not synchronise. */
  readonly ejectionJitterMs: number;
  /** At most this percent of endpoints ejected at once; one endpoint may always be ejected. */
  readonly maxEjectionPercent: number;
  /** Status codes that count as failures. */
  readonly failureCodes: ReadonlySet<number>;
  /** Failures in a row that eject an endpoint; 0 disables the detector. */
  readonly consecutiveFailures: number;
  /** Chance (percent) that a consecutive-failures detection is enforced. */
  readonly consecutiveFailuresEnforcementPercent: number;
  /** Success-rate detector, or null when off. */
  readonly successRate: SuccessRateSettings | null;
  /** Failure-percentage detector, or null when off. */
  readonly failurePercentage: FailurePercentageSettings | null;
  /** An ejected endpoint whose health check reports SERVING anew returns at once. */
  readonly unejectOnHealthy: boolean;
}

/** The detector that flagged an endpoint. */
export type EjectionKind = 'consecutive_failures' | 'success_rate' | 'failure_percentage';

/** An enforced ejection. */
export interface Ejection {
  /** The endpoint's key. */
  readonly key: string;
  readonly kind: EjectionKind;
  /** Why, in words: "5 consecutive UNAVAILABLE". */
  readonly reason: string;
  /** Clock time it was ejected at, ms. */
  readonly at: number;
  /** Clock time it returns at, ms. */
  readonly until: number;
}

/** Ejection counters, kept apart as Envoy does: detected, enforced, and refused by the max ejection percent. */
export interface EjectionCounters {
  /** Outliers flagged, per detector. */
  readonly detected: Record<EjectionKind, number>;
  /** Ejections carried out, per detector. */
  readonly enforced: Record<EjectionKind, number>;
  /** Detections that passed enforcement but were refused because too many endpoints were ejected (Envoy ejections_overflow). */
  overflow: number;
}

/** Fresh zeroed counters. */
export function emptyEjectionCounters(): EjectionCounters {
  const zero = () => ({ consecutive_failures: 0, success_rate: 0, failure_percentage: 0 });
  return { detected: zero(), enforced: zero(), overflow: 0 };
}

/**
 * Ejection time of the `timesEjected`-th ejection: "min(base_ejection_time ×
 * ejection_time_multiplier, max(base_ejection_time, max_ejection_time))" (A50), plus Envoy's
 * max_ejection_time_jitter drawn uniformly.
 */
export function ejectionTimeMs(settings: OutlierEjectionSettings, timesEjected: number, random: RandomSource): number {
  const capped = Math.min(
    settings.baseEjectionTimeMs * Math.max(1, timesEjected),
    Math.max(settings.baseEjectionTimeMs, settings.maxEjectionTimeMs),
  );
  return capped + (settings.ejectionJitterMs > 0 ? random() * settings.ejectionJitterMs : 0);
}

/** What the detector keeps per endpoint. */
class EndpointRecord {
  /** Current run of failures, and its status code while all were the same (-1 once mixed). */
  consecutive = 0;
  consecutiveCode = -1;
  /** Calls in the current interval. */
  successes = 0;
  failures = 0;
  /** Calls in the last complete interval. */
  lastSuccesses = 0;
  lastFailures = 0;
  /** A50's ejection_time_multiplier: grows per ejection, decays by one per interval un-ejected. */
  timesEjected = 0;
  ejection: Ejection | null = null;
}

/** Outlier detector over a set of endpoints identified by key. */
export class OutlierDetector {
  private readonly records = new Map<string, EndpointRecord>();
  private ejected = 0;
  /** Counters of this detector. */
  readonly counters: EjectionCounters = emptyEjectionCounters();

  constructor(
    private settings: OutlierEjectionSettings,
    private readonly env: { readonly now: Clock; readonly random: RandomSource },
    /** Further counters to bump alongside this detector's own (e.g. process-wide totals). */
    private readonly sinks: readonly EjectionCounters[] = [],
  ) {}

  /** The settings in force. */
  get current(): OutlierEjectionSettings {
    return this.settings;
  }

  /** Applies new settings; ejections in progress keep their return time. */
  updateSettings(settings: OutlierEjectionSettings): void {
    this.settings = settings;
  }

  /** Makes `keys` the endpoint set: new ones start clean, missing ones are forgotten. */
  setEndpoints(keys: Iterable<string>): void {
    const next = new Set(keys);
    for (const key of this.records.keys()) {
      if (!next.has(key)) {
        if (this.records.get(key)!.ejection) this.ejected--;
        this.records.delete(key);
      }
    }
    for (const key of next) if (!this.records.has(key)) this.records.set(key, new EndpointRecord());
  }

  /** Number of endpoints tracked. */
  get size(): number {
    return this.records.size;
  }

  /** Number of endpoints ejected now. */
  get ejectedCount(): number {
    return this.ejected;
  }

  /** The ejection of `key`, or null when it is not ejected. */
  ejectionOf(key: string): Ejection | null {
    return this.records.get(key)?.ejection ?? null;
  }

  /**
   * Records `count` calls to `key` in a row (1 unless results come in batches, as a proxy's
   * workers send them) that ended with status `code`. Returns the ejection they caused, if one
   * completed a run of `consecutiveFailures` failures and the ejection was enforced.
   */
  recordResult(key: string, code: number, count = 1): Ejection | null {
    const record = this.records.get(key);
    if (!record || count < 1) return null;
    if (!this.settings.failureCodes.has(code)) {
      record.successes += count;
      record.consecutive = 0;
      return null;
    }
    let ejection: Ejection | null = null;
    for (let i = 0; i < count; i++) ejection = this.recordFailure(key, record, code) ?? ejection;
    return ejection;
  }

  private recordFailure(key: string, record: EndpointRecord, code: number): Ejection | null {
    record.failures++;
    record.consecutiveCode = record.consecutive === 0 || record.consecutiveCode === code ? code : -1;
    record.consecutive++;
    const n = this.settings.consecutiveFailures;
    if (n === 0 || record.consecutive < n || record.ejection) return null;
    const reason =
      record.consecutiveCode >= 0
        ? `${record.consecutive} consecutive ${statusName(record.consecutiveCode)}`
        : `${record.consecutive} consecutive failures, last ${statusName(code)}`;
    record.consecutive = 0;
    return this.detect(key, record, 'consecutive_failures', reason, this.settings.consecutiveFailuresEnforcementPercent);
  }

  /**
   * The end of an interval (A50's timer): the interval's counts become the last ones, the
   * success-rate and failure-percentage detectors run on them, ejection multipliers of endpoints
   * not ejected decay by one, and expired ejections end. Returns the ejections enforced.
   */
  runInterval(): Ejection[] {
    const counts: IntervalCounts[] = [];
    for (const [key, r] of this.records) {
      r.lastSuccesses = r.successes;
      r.lastFailures = r.failures;
      r.successes = 0;
      r.failures = 0;
      if (!r.ejection) counts.push({ key, successes: r.lastSuccesses, failures: r.lastFailures });
    }
    const ejections: Ejection[] = [];
    const run = (kind: EjectionKind, outliers: Outlier[], enforcementPercent: number) => {
      for (const o of outliers) {
        const record = this.records.get(o.key)!;
        if (record.ejection) continue;
        const e = this.detect(o.key, record, kind, o.reason, enforcementPercent);
        if (e) ejections.push(e);
      }
    };
    const { successRate, failurePercentage } = this.settings;
    if (successRate) run('success_rate', successRateOutliers(counts, successRate), successRate.enforcementPercent);
    if (failurePercentage) {
      run('failure_percentage', failurePercentageOutliers(counts, failurePercentage), failurePercentage.enforcementPercent);
    }
    // "If the address is not ejected and the multiplier is greater than 0, decrease the multiplier by 1." - A50
    for (const r of this.records.values()) if (!r.ejection && r.timesEjected > 0) r.timesEjected--;
    this.expire();
    return ejections;
  }

  /** Ends every ejection whose time is up; returns their keys. */
  expire(): string[] {
    const now = this.env.now();
    const returned: string[] = [];
    for (const [key, r] of this.records) {
      if (r.ejection && r.ejection.until <= now) {
        this.release(r);
        returned.push(key);
      }
    }
    return returned;
  }

  /** Ends the ejection of `key` early (its health check says SERVING anew); true if it was ejected. */
  uneject(key: string): boolean {
    const r = this.records.get(key);
    if (!r?.ejection) return false;
    this.release(r);
    return true;
  }

  /** The earliest clock time an ejection ends, or Infinity. */
  nextExpiry(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const r of this.records.values()) if (r.ejection && r.ejection.until < next) next = r.ejection.until;
    return next;
  }

  private detect(key: string, record: EndpointRecord, kind: EjectionKind, reason: string, enforcementPercent: number): Ejection | null {
    this.count('detected', kind);
    if (!(this.env.random() * 100 < enforcementPercent)) return null;
    // "max_ejection_percent [...] will eject at least one host regardless of the value" - Envoy
    if (this.ejected > 0 && ((this.ejected + 1) * 100) / this.records.size > this.settings.maxEjectionPercent) {
      for (const c of [this.counters, ...this.sinks]) c.overflow++;
      return null;
    }
    this.count('enforced', kind);
    record.timesEjected++;
    const at = this.env.now();
    const ejection: Ejection = { key, kind, reason, at, until: at + ejectionTimeMs(this.settings, record.timesEjected, this.env.random) };
    record.ejection = ejection;
    record.consecutive = 0;
    this.ejected++;
    return ejection;
  }

  private release(record: EndpointRecord): void {
    record.ejection = null;
    record.consecutive = 0;
    this.ejected--;
  }

  private count(what: 'detected' | 'enforced', kind: EjectionKind): void {
    for (const c of [this.counters, ...this.sinks]) c[what][kind]++;
  }
}
