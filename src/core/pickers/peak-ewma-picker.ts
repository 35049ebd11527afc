/**
 * `peak_ewma` (Finagle / Linkerd / tower): power of two choices on
 * cost = peak-sensitive EWMA of latency × (inFlight + 1), divided by the endpoint's weight.
 * Failures enter the estimate as a penalty (see EndpointLoad.end), so a fast-failing endpoint
 * does not win by being fast.
 */
import type { EwmaSettings } from './endpoint-load.js';
import { sampleDistinct } from './p2c.js';
import type { EndpointPicker, PickerEndpoint, PickerFactory } from './picker.js';

/** Options of the peak EWMA picker: the latency estimate's settings. */
export type PeakEwmaOptions = EwmaSettings;

/**
 * Cost of an endpoint with no latency sample and a call already in flight. Finagle's rule: an
 * unmeasured endpoint gets one probe at a time, so an optimistic default RTT cannot flood it.
 */
const UNMEASURED_BUSY_COST = Number.MAX_SAFE_INTEGER / 4;

/** The cost peak_ewma minimises; exported for the admin view and tests. */
export function peakEwmaCost(e: PickerEndpoint, now: number, options: PeakEwmaOptions): number {
  const inFlight = e.load.inFlight;
  const rtt = e.load.estimate(now, options.decayMs);
  if (Number.isNaN(rtt)) {
    return inFlight === 0 ? options.defaultRttMs / e.weight : UNMEASURED_BUSY_COST + inFlight;
  }
  return (rtt * (inFlight + 1)) / e.weight;
}

/** Builds a peak EWMA picker. */
export const createPeakEwmaPicker: PickerFactory<PeakEwmaOptions> = (endpoints, options, env): EndpointPicker => {
  const n = endpoints.length;
  const choices = new Int32Array(2);
  const { random, now } = env;
  return {
    pick: () => {
      if (n === 1) return 0;
      sampleDistinct(random, n, 2, choices);
      const a = choices[0]!;
      const b = choices[1]!;
      const t = now();
      return peakEwmaCost(endpoints[b]!, t, options) < peakEwmaCost(endpoints[a]!, t, options) ? b : a;
    },
  };
};
