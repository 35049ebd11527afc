/**
 * The two statistical outlier tests of gRFC A50 (Envoy success-rate and failure-percentage
 * outlier detection), as pure functions over one interval's call counts.
 */

/** Calls an endpoint completed in the last interval. */
export interface IntervalCounts {
  /** Endpoint key. */
  readonly key: string;
  readonly successes: number;
  readonly failures: number;
}

/** Success-rate ejection settings (A50 success_rate_ejection). */
export interface SuccessRateSettings {
  /** Ejection threshold = mean - stdev × stdevFactor / 1000. */
  readonly stdevFactor: number;
  /** Chance (percent) that a detected outlier is ejected. */
  readonly enforcementPercent: number;
  /** Fewer endpoints with enough volume than this: no test. */
  readonly minimumHosts: number;
  /** Calls an endpoint needs in the interval to take part. */
  readonly requestVolume: number;
}

/** Failure-percentage ejection settings (A50 failure_percentage_ejection). */
export interface FailurePercentageSettings {
  /** Failure percentage above which an endpoint is an outlier. */
  readonly threshold: number;
  /** Chance (percent) that a detected outlier is ejected. */
  readonly enforcementPercent: number;
  /** Fewer endpoints with enough volume than this: no test. */
  readonly minimumHosts: number;
  /** Calls an endpoint needs in the interval to take part. */
  readonly requestVolume: number;
}

/** One endpoint a test found to be an outlier, with the reason in words. */
export interface Outlier {
  readonly key: string;
  readonly reason: string;
}

const percent = (x: number) => `${Math.round(x * 1000) / 10}%`;

/**
 * A50 success rate: "calculate the mean and standard deviation of the success rates of addresses
 * with at least request_volume calls [...] if there are fewer than minimum_hosts such addresses,
 * stop. For each such address, if its success rate is less than mean - stdev * (stdev_factor /
 * 1000), it is an outlier."
 */
export function successRateOutliers(counts: readonly IntervalCounts[], settings: SuccessRateSettings): Outlier[] {
  const rates: { key: string; rate: number }[] = [];
  for (const c of counts) {
    const total = c.successes + c.failures;
    if (total > 0 && total >= settings.requestVolume) rates.push({ key: c.key, rate: c.successes / total });
  }
  if (rates.length === 0 || rates.length < settings.minimumHosts) return [];
  const mean = rates.reduce((a, r) => a + r.rate, 0) / rates.length;
  const variance = rates.reduce((a, r) => a + (r.rate - mean) ** 2, 0) / rates.length;
  const stdev = Math.sqrt(variance);
  const threshold = mean - stdev * (settings.stdevFactor / 1000);
  return rates
    .filter((r) => r.rate < threshold)
    .map((r) => ({
      key: r.key,
      reason: `success rate ${percent(r.rate)} < ${percent(threshold)} (mean ${percent(mean)} - ${settings.stdevFactor / 1000} × stdev ${percent(stdev)})`,
    }));
}

/**
 * A50 failure percentage: "if there are fewer than minimum_hosts addresses with at least
 * request_volume calls, stop. For each such address, if its failure percentage is greater than
 * threshold, it is an outlier."
 */
export function failurePercentageOutliers(
  counts: readonly IntervalCounts[],
  settings: FailurePercentageSettings,
): Outlier[] {
  const eligible = counts.filter((c) => {
    const total = c.successes + c.failures;
    return total > 0 && total >= settings.requestVolume;
  });
  if (eligible.length < settings.minimumHosts) return [];
  const outliers: Outlier[] = [];
  for (const c of eligible) {
    const failurePercent = (c.failures * 100) / (c.successes + c.failures);
    if (failurePercent > settings.threshold) {
      outliers.push({ key: c.key, reason: `failure rate ${percent(failurePercent / 100)} > ${settings.threshold}%` });
    }
  }
  return outliers;
}
