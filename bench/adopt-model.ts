/**
 * The adopt scenario in virtual time, driving the real pure pickers and EndpointLoad: an open loop
 * at a fixed rate over 3 warm backends (0.3 ms + an exponential draw of mean 0.2 ms), and a 4th
 * joining at 3 s whose answers are slower while it warms up — its first call by `firstMs`, and
 * every call by a factor 1 + amp·e^(−served/warmCalls) that fades with the calls it served (a JIT
 * or a JVM warming with use). The real runs show what this machine's processes do; the model shows
 * the policy's decisions on warm-ups this machine's processes do not have.
 */
import { DEFAULT_EWMA, EndpointLoad } from '../src/core/pickers/endpoint-load.js';
import { createLeastRequestPicker, LEAST_REQUEST_DEFAULTS } from '../src/core/pickers/least-request-picker.js';
import { createPeakEwmaPicker } from '../src/core/pickers/peak-ewma-picker.js';
import type { EndpointPicker, PickerEndpoint, PickerEnv } from '../src/core/pickers/picker.js';
import { seededRandom } from '../src/core/pickers/seeded-random.js';

/** How the joining backend warms up. */
export interface WarmUp {
  /** Added to its first answer, ms. */
  readonly firstMs: number;
  /** How much slower its answers start (1 + amp times). */
  readonly amp: number;
  /** Calls served over which that fades (e-folding). */
  readonly warmCalls: number;
}

/** What one model run measured, as the real adopt rows do. */
export interface AdoptModelResult {
  /** Seconds from the join until a 1-s window (stepping by 100 ms) gave it >= 80 % of 1/4 of the calls; null if never within 6 s. */
  readonly adoptS: number | null;
  /** Its share of the calls after the join. */
  readonly share: number;
}

const JOIN_MS = 3000;
const END_MS = 9000;

/** Runs `policy` over the model at `rate` calls/s. */
export function runAdoptModel(policy: 'least_request' | 'peak_ewma', rate: number, warm: WarmUp, seed: number): AdoptModelResult {
  const random = seededRandom(seed);
  let t = 0;
  const env: PickerEnv = { random, now: () => t };
  const endpoint = (i: number): PickerEndpoint => ({ key: `m${i}`, weight: 1, load: new EndpointLoad(), available: true });
  let endpoints = [endpoint(0), endpoint(1), endpoint(2)];
  const build = (): EndpointPicker =>
    policy === 'peak_ewma' ? createPeakEwmaPicker(endpoints, DEFAULT_EWMA, env) : createLeastRequestPicker(endpoints, LEAST_REQUEST_DEFAULTS, env);
  let picker = build();
  const ends: { at: number; endpoint: number; started: number }[] = [];
  const picks: { t: number; endpoint: number }[] = [];
  let served = 0;
  let nextStart = 0;
  while (t < END_MS) {
    if (ends.length === 0 || nextStart <= ends[0]!.at) {
      t = nextStart;
      nextStart += 1000 / rate;
      if (endpoints.length === 3 && t >= JOIN_MS) {
        // The registry adds it: a new picker over the same loads, as the balancer builds one.
        endpoints = [...endpoints, endpoint(3)];
        picker = build();
      }
      const i = picker.pick();
      endpoints[i]!.load.start();
      let latency = 0.3 - Math.log(1 - random()) * 0.2;
      if (i === 3) {
        latency = latency * (1 + warm.amp * Math.exp(-served / warm.warmCalls)) + (served === 0 ? warm.firstMs : 0);
        served++;
      }
      picks.push({ t, endpoint: i });
      const call = { at: t + latency, endpoint: i, started: t };
      let j = ends.length;
      while (j > 0 && ends[j - 1]!.at > call.at) j--;
      ends.splice(j, 0, call);
    } else {
      const call = ends.shift()!;
      t = call.at;
      endpoints[call.endpoint]!.load.end(t, t - call.started, false, DEFAULT_EWMA);
    }
  }
  let adoptS: number | null = null;
  let from = 0;
  while (picks[from]!.t <= JOIN_MS) from++;
  for (let w = JOIN_MS + 1000; w <= END_MS && adoptS === null; w += 100) {
    let all = 0;
    let mine = 0;
    for (let k = from; k < picks.length && picks[k]!.t <= w; k++) {
      if (picks[k]!.t <= w - 1000) continue;
      all++;
      if (picks[k]!.endpoint === 3) mine++;
    }
    if (all > 0 && mine >= (0.8 * all) / 4) adoptS = Math.round(w - JOIN_MS) / 1000;
  }
  const after = picks.length - from;
  let mine = 0;
  for (let k = from; k < picks.length; k++) if (picks[k]!.endpoint === 3) mine++;
  return { adoptS, share: mine / after };
}
