/**
 * Calls, retries and hedges of this process's clients, per service, as /metrics and the dashboard
 * read them. The client's attempt-counting interceptor (src/client/attempt-counting.ts) writes them.
 */

/** Counters of one service's client calls. */
export interface ClientAttemptStats {
  /** Calls that ended OK, every method (after any retry: what the application saw). */
  ok: number;
  /** Calls that ended with another status, every method. */
  failed: number;
  /** Calls finished of the methods the retry or hedging policy covers. */
  calls: number;
  /** Extra attempts sent by the retry policy. */
  retries: number;
  /** Extra attempts sent by the hedging policy. */
  hedges: number;
  /** Calls that ended retryable with attempts left: retry withheld (budget, deadline or pushback). */
  withheld: number;
}

const byService = new Map<string, ClientAttemptStats>();

/** Per-service client attempt counters of this process. */
export function clientAttemptStats(): ReadonlyMap<string, ClientAttemptStats> {
  return byService;
}

/** The counters of `service`, created on first use. */
export function clientAttemptStatsOf(service: string): ClientAttemptStats {
  let stats = byService.get(service);
  if (!stats) byService.set(service, (stats = { ok: 0, failed: 0, calls: 0, retries: 0, hedges: 0, withheld: 0 }));
  return stats;
}
