/**
 * Every default of client health checking, outlier ejection, slow start and the panic threshold,
 * in one place, each with the reference it comes from. Field names follow the grpc-ha config
 * (README "Health checking and outlier ejection"). No validation library here: a process that is
 * handed settings already validated (a proxy worker) loads this, not the schemas.
 */
import type { OutlierEjectionSettings } from './outlier-detector.js';
import type { SlowStartSettings } from './slow-start.js';

/**
 * Retry backoff of a failed health-check stream. A17 defers to gRPC's connection backoff
 * (doc/connection-backoff.md): INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2, MAX_BACKOFF 120 s.
 */
export const HEALTH_CHECK_BACKOFF = {
  initialMs: 1_000,
  multiplier: 1.6,
  jitter: 0.2,
  maxMs: 120_000,
} as const;

/** Status codes outlier ejection counts as failures unless `failureCodes` says otherwise: the endpoint failure class of src/core/status.ts. */
export { ENDPOINT_FAILURE_CODE_NAMES as DEFAULT_FAILURE_CODE_NAMES } from '../status.js';

/** Outlier ejection defaults (Envoy outlier_detection; gRFC A50 where Envoy has none). */
export const OUTLIER_EJECTION_DEFAULTS = {
  /** Envoy: interval 10 s; A50: interval 10 s. */
  intervalMs: 10_000,
  /** Envoy: base_ejection_time 30 s; A50: 30 s. */
  baseEjectionTimeMs: 30_000,
  /** Envoy: max_ejection_time 300 s; A50: 300 s. */
  maxEjectionTimeMs: 300_000,
  /** Envoy: max_ejection_time_jitter 0 s. */
  ejectionJitterMs: 0,
  /** Envoy: max_ejection_percent 10 ("will eject at least one host regardless of the value"). */
  maxEjectionPercent: 10,
  /** Envoy: consecutive_5xx 5. */
  consecutiveFailures: 5,
  /** Envoy: enforcing_consecutive_5xx 100. */
  consecutiveFailuresEnforcementPercent: 100,
  /** Envoy: successful_active_health_check_uneject_host true. */
  unejectOnHealthy: true,
} as const;

/** Success-rate ejection defaults (A50 success_rate_ejection; Envoy success_rate_*). Off unless configured (A50). */
export const SUCCESS_RATE_DEFAULTS = {
  /** A50/Envoy: stdev_factor 1900, read as 1.9 standard deviations. */
  stdevFactor: 1900,
  /** A50: enforcement_percentage 100; Envoy: enforcing_success_rate 100. */
  enforcementPercent: 100,
  /** A50/Envoy: minimum_hosts 5. */
  minimumHosts: 5,
  /** A50/Envoy: request_volume 100. */
  requestVolume: 100,
} as const;

/** Failure-percentage ejection defaults (A50 failure_percentage_ejection). Off unless configured (A50). */
export const FAILURE_PERCENTAGE_DEFAULTS = {
  /** A50/Envoy: threshold 85. */
  threshold: 85,
  /** A50: enforcement_percentage 100 (Envoy's enforcing_failure_percentage is 0, i.e. off). */
  enforcementPercent: 100,
  /** A50/Envoy: minimum_hosts 5. */
  minimumHosts: 5,
  /** A50/Envoy: request_volume 50. */
  requestVolume: 50,
} as const;

/** Slow start defaults (Envoy SlowStartConfig). Off unless `windowMs` is configured (Envoy: no default window). */
export const SLOW_START_DEFAULTS = {
  /** Envoy: aggression 1.0 (a linear ramp). */
  aggression: 1.0,
  /** Envoy: min_weight_percent 10. */
  minWeightPercent: 10,
  /** Envoy's window is whole seconds and its time factor floors elapsed time at 1 s. */
  minWindowMs: 1_000,
} as const;

/** Envoy: healthy_panic_threshold 50 %; 0 disables panic mode. */
export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;

/** What the health layer does for one channel, parsed from a policy's config. */
export interface HealthSettings {
  /** Outlier ejection, or null when not configured. */
  readonly outlierEjection: OutlierEjectionSettings | null;
  /** Slow start, or null when not configured. */
  readonly slowStart: SlowStartSettings | null;
  /** Panic threshold in percent; 0 disables panic mode. */
  readonly panicThresholdPercent: number;
}

/** Settings of a policy config that sets none of the health fields. */
export const DEFAULT_HEALTH_SETTINGS: HealthSettings = {
  outlierEjection: null,
  slowStart: null,
  panicThresholdPercent: DEFAULT_PANIC_THRESHOLD_PERCENT,
};
