/**
 * Panic threshold (Envoy): "If the percentage of healthy hosts [...] drops below this threshold,
 * Envoy will disregard health status and balance across all hosts", instead of sending all
 * traffic to the few healthy ones (which then fail too). 0 disables it.
 */

/**
 * Whether to disregard health: fewer than `thresholdPercent` % of `total` endpoints are healthy.
 * Pass endpoints whose health is not known yet (first connection attempt, first health check
 * pending) as healthy: a starting channel must not panic because the first endpoint to answer
 * said NOT_SERVING while the others are still connecting.
 */
export function inPanic(healthy: number, total: number, thresholdPercent: number): boolean {
  return thresholdPercent > 0 && total > 0 && (healthy * 100) / total < thresholdPercent;
}
