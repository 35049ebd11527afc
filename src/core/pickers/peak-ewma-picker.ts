/**
 * `peak_ewma` (Finagle / Linkerd / tower): cost = peak-sensitive EWMA of latency × (in flight + 1),
 * divided by the endpoint's weight, chosen among sampled endpoints. Failures enter the estimate as
 * a penalty (see EndpointLoad.end), so a fast-failing endpoint does not win by being fast.
 *
 * Plain power of two choices has a floor: when k of n endpoints are slow, both samples are slow
 * with probability (k/n)·(k-1)/(n-1) — 10 % for 2 of 5, 13 % for 4 of 10 — and the estimate cannot
 * help. brpc measured the same (best of 2 against choosing among 4 with two slow backends). So the
 * sampling adapts, in the spirit of Prequal's hot-cold lexicographic rule: an endpoint is *hot* when
 * its mean latency (EndpointLoad.meanMs: the peak estimate carries every client-side hiccup) is
 * well above the set's reference latency (a low quantile of every mean, refreshed every
 * REFERENCE_REFRESH_MS); the picker keeps sampling distinct endpoints
 * until two cold ones are found (at most MAX_SAMPLES, so O(1) per pick at any size, a full scan
 * below that), and takes the cheaper of those two. With every endpoint equally fast nothing is hot
 * and this is P2C; near-equal latencies compare by calls in flight alone (least_request), so noise
 * in the estimates cannot herd traffic onto the endpoint that happens to measure fastest.
 *
 * Every endpoint stays measured: one still being learnt (fewer than WARMUP_SAMPLES samples) takes
 * up to MAX_WARMUP_PROBES calls at a time when sampled, and one with no sample for
 * PROBE_INTERVAL_MS takes one probe — so a new instance converges within a few calls, a recovered
 * one is noticed within a second, and none starves at low load. A hot endpoint whose latest answer
 * was cold is learnt again (EndpointLoad.relearn): a fresh process past its slow first calls, or a
 * fast one past a pause, is back within a few calls instead of one probe a second; a slow endpoint
 * never answers cold and is never relearnt.
 */
import { MAX_WARMUP_PROBES, PROBE_INTERVAL_MS, WARMUP_SAMPLES, type EwmaSettings } from './endpoint-load.js';
import { randomIndex, type EndpointPicker, type PickerEndpoint, type PickerFactory } from './picker.js';

/** Options of the peak EWMA picker: the latency estimate's settings. */
export type PeakEwmaOptions = EwmaSettings;

/**
 * Cost of an endpoint with no latency sample and a call already in flight. Finagle's rule: an
 * unmeasured endpoint is not flooded on an optimistic default RTT.
 */
const UNMEASURED_BUSY_COST = Number.MAX_SAFE_INTEGER / 4;

/** Endpoints sampled at most per pick while looking for two cold ones. */
export const MAX_SAMPLES = 8;

/** An endpoint is hot when its mean latency exceeds HOT_FACTOR × reference + HOT_MARGIN_MS. */
export const HOT_FACTOR = 2;

/** Absolute slack of the hot threshold, ms: sub-millisecond noise never makes an endpoint hot. */
export const HOT_MARGIN_MS = 1;

/** The reference latency is this quantile of the endpoints' mean latencies: right with up to 3/4 slow. */
const REFERENCE_QUANTILE = 0.25;

/** How often the reference latency is recomputed, ms (an O(n) pass, amortised over the picks). */
const REFERENCE_REFRESH_MS = 100;

/** Latencies within this ratio count as equal: the endpoints then compare by calls in flight. */
const TIE_RATIO = 1.25;

/** The smallest gap between two probes of one endpoint, ms: one tick's burst of picks takes one. */
const MIN_PROBE_GAP_MS = 1;

/** The cost peak_ewma minimises; exported for the admin view and tests. */
export function peakEwmaCost(e: PickerEndpoint, now: number, options: PeakEwmaOptions): number {
  const inFlight = e.load.inFlight;
  const rtt = e.load.estimate(now, options.decayMs);
  if (Number.isNaN(rtt)) {
    return inFlight === 0 ? options.defaultRttMs / e.weight : UNMEASURED_BUSY_COST + inFlight;
  }
  return (rtt * (inFlight + 1)) / e.weight;
}

/** Whether endpoint `e` should take a probe now (still being learnt, or unmeasured for a while). */
function wantsProbe(e: PickerEndpoint, now: number): boolean {
  const load = e.load;
  if (now - load.probedAt < MIN_PROBE_GAP_MS) return false;
  if (load.samples < WARMUP_SAMPLES) return load.inFlight < MAX_WARMUP_PROBES;
  return load.inFlight === 0 && now - load.updatedAt >= PROBE_INTERVAL_MS && now - load.probedAt >= PROBE_INTERVAL_MS;
}

/** Builds a peak EWMA picker. */
export const createPeakEwmaPicker: PickerFactory<PeakEwmaOptions> = (endpoints, options, env): EndpointPicker => {
  const n = endpoints.length;
  const { random, now } = env;
  const decayMs = options.decayMs;
  // A persistent permutation: a partial Fisher-Yates shuffle over it yields distinct samples in
  // O(1) each with no allocation and no duplicate checks.
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const scratch = new Float64Array(n);
  const maxSamples = Math.min(n, MAX_SAMPLES);
  let hotAbove = Number.POSITIVE_INFINITY;
  let referenceAt = Number.NEGATIVE_INFINITY;

  const refreshReference = (t: number): void => {
    referenceAt = t;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const mean = endpoints[i]!.load.meanMs;
      if (!Number.isNaN(mean)) scratch[m++] = mean;
    }
    hotAbove = m === 0 ? Number.POSITIVE_INFINITY : quickselect(scratch, m, Math.floor((m - 1) * REFERENCE_QUANTILE)) * HOT_FACTOR + HOT_MARGIN_MS;
  };

  /** True when `a` is the better of two cold endpoints (latencies within TIE_RATIO: fewer in flight). */
  const better = (a: PickerEndpoint, b: PickerEndpoint, ra: number, rb: number): boolean => {
    const lo = ra < rb ? ra : rb;
    const hi = ra < rb ? rb : ra;
    if (hi <= lo * TIE_RATIO) return (a.load.inFlight + 1) / a.weight < (b.load.inFlight + 1) / b.weight;
    return (ra * (a.load.inFlight + 1)) / a.weight < (rb * (b.load.inFlight + 1)) / b.weight;
  };

  return {
    pick: () => {
      if (n === 1) return 0;
      const t = now();
      if (t - referenceAt >= REFERENCE_REFRESH_MS || (hotAbove === Number.POSITIVE_INFINITY && t - referenceAt >= MIN_PROBE_GAP_MS)) {
        refreshReference(t);
      }
      let first = -1;
      let firstRtt = 0;
      let hottest = -1;
      let hotCost = Number.POSITIVE_INFINITY;
      for (let s = 0; s < maxSamples; s++) {
        const r = s + randomIndex(random, n - s);
        const i = order[r]!;
        order[r] = order[s]!;
        order[s] = i;
        const e = endpoints[i]!;
        const load = e.load;
        const mean = load.meanMs;
        const hot = !(mean <= hotAbove);
        const rtt = hot ? 0 : load.estimate(t, decayMs);
        // Hot, yet its latest answer was not: learn it again (see above).
        if (hot && load.lastMs <= hotAbove && load.samples >= WARMUP_SAMPLES) load.relearn();
        if (wantsProbe(e, t)) {
          load.probedAt = t;
          return i;
        }
        if (hot) {
          // Hot or unmeasured (NaN): ranked by mean × (in flight + 1), which needs no exp().
          const cost = Number.isNaN(mean) ? UNMEASURED_BUSY_COST + load.inFlight : (mean * (load.inFlight + 1)) / e.weight;
          if (cost < hotCost) {
            hottest = i;
            hotCost = cost;
          }
          continue;
        }
        if (first < 0) {
          first = i;
          firstRtt = rtt;
          continue;
        }
        return better(e, endpoints[first]!, rtt, firstRtt) ? i : first;
      }
      // Fewer than two cold endpoints among those sampled: the cold one, else the cheapest hot one.
      return first >= 0 ? first : hottest >= 0 ? hottest : order[0]!;
    },
  };
};

/** The k-th smallest of `values[0..m)` (reorders them), in O(m) on average. */
function quickselect(values: Float64Array, m: number, k: number): number {
  let lo = 0;
  let hi = m - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const tmp = values[i]!;
        values[i] = values[j]!;
        values[j] = tmp;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}
