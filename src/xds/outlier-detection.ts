/**
 * grpc-ha's outlier ejection settings as Envoy's `Cluster.outlier_detection`, which gRPC clients
 * apply as gRFC A50 describes (success-rate and failure-percentage ejection) and Envoy applies in
 * full (consecutive failures too).
 *
 * "If the enforcing_success_rate field is 0 [...] success rate ejection is disabled" and likewise
 * for enforcing_failure_percentage - A50; Envoy's own default for both is on, so both are always
 * written: a detector grpc-ha leaves off is off for every client.
 */
import type { OutlierEjectionSettings } from '../core/health/outlier-detector.js';
import { duration, wrapped } from './envoy-json.js';

const percent = (p: number) => wrapped(Math.min(100, Math.max(0, Math.round(p))));

/** `envoy.config.cluster.v3.OutlierDetection` for `settings`. */
export function outlierDetectionMessage(settings: OutlierEjectionSettings): Record<string, unknown> {
  const sr = settings.successRate;
  const fp = settings.failurePercentage;
  return {
    interval: duration(settings.intervalMs),
    base_ejection_time: duration(settings.baseEjectionTimeMs),
    max_ejection_time: duration(settings.maxEjectionTimeMs),
    max_ejection_time_jitter: duration(settings.ejectionJitterMs),
    max_ejection_percent: percent(settings.maxEjectionPercent),
    // Envoy only: gRPC clients have no consecutive-failures detector (A50 leaves it out).
    consecutive_5xx: wrapped(settings.consecutiveFailures),
    enforcing_consecutive_5xx: percent(settings.consecutiveFailures === 0 ? 0 : settings.consecutiveFailuresEnforcementPercent),
    enforcing_success_rate: percent(sr?.enforcementPercent ?? 0),
    ...(sr && {
      success_rate_minimum_hosts: wrapped(sr.minimumHosts),
      success_rate_request_volume: wrapped(sr.requestVolume),
      // Both grpc-ha and Envoy read the factor divided by 1000 (1900 = 1.9 standard deviations).
      success_rate_stdev_factor: wrapped(Math.round(sr.stdevFactor)),
    }),
    enforcing_failure_percentage: percent(fp?.enforcementPercent ?? 0),
    ...(fp && {
      failure_percentage_threshold: percent(fp.threshold),
      failure_percentage_minimum_hosts: wrapped(fp.minimumHosts),
      failure_percentage_request_volume: wrapped(fp.requestVolume),
    }),
    successful_active_health_check_uneject_host: { value: settings.unejectOnHealthy },
  };
}
