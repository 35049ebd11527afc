/**
 * A virtual-time model of a closed-loop client over n backends, k of them slow, driving the real
 * pure pickers and EndpointLoad: what a policy decides, free of the machine's scheduling noise
 * (on a shared 2-core machine the real runs' fast calls can take longer than a slow backend's
 * added latency). Each call takes 0.3 ms + an exponential draw (mean `noiseMs`: processing and
 * queueing variance) + the slow backend's added latency; 0.2 % of calls start a 10 ms client
 * pause that delays every call in flight (a GC pause), so estimates see the spikes real clients see.
 */
import { DEFAULT_EWMA, EndpointLoad } from '../src/core/pickers/endpoint-load.js';
import { createLeastRequestPicker, LEAST_REQUEST_DEFAULTS } from '../src/core/pickers/least-request-picker.js';
import { createPeakEwmaPicker, peakEwmaCost } from '../src/core/pickers/peak-ewma-picker.js';
import { randomIndex, type EndpointPicker, type PickerEndpoint, type PickerEnv } from '../src/core/pickers/picker.js';
import { seededRandom } from '../src/core/pickers/seeded-random.js';
import { quantile } from './load.js';

/** The pickers the model runs: grpc-ha's, and plain P2C on the peak EWMA cost (peak_ewma before issue 16). */
export type ModelPolicy = 'round_robin' | 'least_request' | 'peak_ewma' | 'p2c peak_ewma';

/** One model run's parameters. */
export interface ModelCase {
  readonly n: number;
  readonly k: number;
  readonly slowMs: number;
  readonly jitterMs: number;
  readonly concurrency: number;
  /** Mean of the exponential part of every call's latency, ms. */
  readonly noiseMs: number;
  /** Virtual seconds measured (after 1 s of learning, not counted). */
  readonly seconds: number;
}

/** What one model run measured. */
export interface ModelResult {
  readonly calls: number;
  readonly slowShare: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs `policy` over the model; backends 0..k-1 are the slow ones. */
export function runModel(policy: ModelPolicy, c: ModelCase, seed = 1): ModelResult {
  const random = seededRandom(seed);
  let t = 0;
  const env: PickerEnv = { random, now: () => t };
  const eps: PickerEndpoint[] = Array.from({ length: c.n }, (_, i) => ({ key: `m${i}`, weight: 1, load: new EndpointLoad(), available: true }));
  const picker = pickerFor(policy, eps, env);
  // Calls in flight: parallel arrays kept sorted by end time (c is small).
  const ends: { at: number; endpoint: number; started: number }[] = [];
  let pauseUntil = 0;
  const start = () => {
    const i = picker.pick();
    eps[i]!.load.start();
    let latency = 0.3 - Math.log(1 - random()) * c.noiseMs;
    if (i < c.k) latency += c.slowMs + random() * c.jitterMs;
    if (random() < 0.002) pauseUntil = t + 10;
    if (t < pauseUntil) latency += pauseUntil - t;
    const call = { at: t + latency, endpoint: i, started: t };
    let j = ends.length;
    while (j > 0 && ends[j - 1]!.at > call.at) j--;
    ends.splice(j, 0, call);
  };
  for (let w = 0; w < c.concurrency; w++) start();
  const latencies: number[] = [];
  let slow = 0;
  const endAt = 1000 + c.seconds * 1000;
  while (t < endAt) {
    const call = ends.shift()!;
    t = call.at;
    eps[call.endpoint]!.load.end(t, t - call.started, false, DEFAULT_EWMA);
    if (t > 1000) {
      latencies.push(t - call.started);
      if (call.endpoint < c.k) slow++;
    }
    start();
  }
  return { calls: latencies.length, slowShare: slow / latencies.length, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

function pickerFor(policy: ModelPolicy, eps: PickerEndpoint[], env: PickerEnv): EndpointPicker {
  switch (policy) {
    case 'least_request':
      return createLeastRequestPicker(eps, LEAST_REQUEST_DEFAULTS, env);
    case 'peak_ewma':
      return createPeakEwmaPicker(eps, DEFAULT_EWMA, env);
    case 'round_robin': {
      let next = 0;
      return { pick: () => (next = (next + 1) % eps.length) };
    }
    case 'p2c peak_ewma':
      return {
        pick: () => {
          const a = randomIndex(env.random, eps.length);
          let b = randomIndex(env.random, eps.length - 1);
          if (b >= a) b++;
          const t = env.now();
          return peakEwmaCost(eps[b]!, t, DEFAULT_EWMA) < peakEwmaCost(eps[a]!, t, DEFAULT_EWMA) ? b : a;
        },
      };
  }
}
