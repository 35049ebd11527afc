/**
 * `picker`: nanoseconds per pick of each pure picker at 3, 100 and 1000 endpoints, against plain
 * round robin measured in the same run. Loads are set to varied values so P2C pickers do real
 * comparisons; ring_hash hashes a fresh key each pick.
 */
import { DEFAULT_EWMA, WARMUP_SAMPLES } from '../src/core/pickers/endpoint-load.js';
import { createLeastRequestPicker, LEAST_REQUEST_DEFAULTS } from '../src/core/pickers/least-request-picker.js';
import { createPeakEwmaPicker } from '../src/core/pickers/peak-ewma-picker.js';
import { defaultPickerEnv, type EndpointPicker, type PickerEndpoint } from '../src/core/pickers/picker.js';
import { createRandomPicker } from '../src/core/pickers/random-picker.js';
import { createRingHashPicker, RING_HASH_DEFAULTS } from '../src/core/pickers/ring-hash-picker.js';
import { createRoundRobinPicker } from '../src/core/pickers/round-robin-picker.js';
import { seededRandom } from '../src/core/pickers/seeded-random.js';
import { makeEndpoints } from '../test/support/test-endpoints.js';
import { createWeightedRandomPicker } from '../src/core/pickers/weighted-random-picker.js';
import { createWeightedRoundRobinPicker } from '../src/core/pickers/weighted-round-robin-picker.js';
import type { BenchContext, BenchRow } from './types.js';

const PICKERS: Record<string, (eps: PickerEndpoint[]) => EndpointPicker> = {
  round_robin: (eps) => createRoundRobinPicker(eps, {}, defaultPickerEnv),
  random: (eps) => createRandomPicker(eps, {}, defaultPickerEnv),
  weighted_random: (eps) => createWeightedRandomPicker(eps, {}, defaultPickerEnv),
  static_weighted_round_robin: (eps) => createWeightedRoundRobinPicker(eps, {}, defaultPickerEnv),
  least_request: (eps) => createLeastRequestPicker(eps, LEAST_REQUEST_DEFAULTS, defaultPickerEnv),
  peak_ewma: (eps) => createPeakEwmaPicker(eps, DEFAULT_EWMA, defaultPickerEnv),
  ring_hash: (eps) => createRingHashPicker(eps, RING_HASH_DEFAULTS, defaultPickerEnv),
};

const KEYS = Array.from({ length: 4096 }, (_, i) => `user-${i * 7919}`);

function endpoints(n: number): PickerEndpoint[] {
  const random = seededRandom(n);
  const eps = makeEndpoints(n, Array.from({ length: n }, () => 1 + Math.floor(random() * 10)));
  for (const e of eps) {
    e.load.inFlight = Math.floor(random() * 8);
    // Past the warm-up, as endpoints are in steady state (a pick then probes nothing).
    const ms = 0.5 + random() * 20;
    for (let i = 0; i < WARMUP_SAMPLES; i++) e.load.observe(0, ms, DEFAULT_EWMA.decayMs);
  }
  return eps;
}

/** Median CPU ns per pick over several timed rounds of `picks` picks. */
function measure(picker: EndpointPicker, picks: number, rounds: number): number {
  const keys = KEYS;
  let sink = 0;
  const samples: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    // CPU time, not wall-clock: on a shared machine the process is descheduled for whole
    // milliseconds, which wall-clock would charge to the picks.
    const start = process.cpuUsage();
    for (let i = 0; i < picks; i++) sink += picker.pick(keys[i & 4095]);
    const used = process.cpuUsage(start);
    const ns = ((used.user + used.system) * 1000) / picks;
    if (r > 0) samples.push(ns); // the first round warms the JIT up
  }
  if (sink < 0) console.log(sink); // keeps the loop from being optimised away
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

/** Runs the picker scenario. */
export async function runPicker(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const picks = ctx.quick ? 100_000 : 1_000_000;
  for (const n of [3, 100, 1000]) {
    const eps = endpoints(n);
    const baseline = measure(PICKERS.round_robin!(eps), picks, 5);
    for (const [policy, make] of Object.entries(PICKERS)) {
      if (policy === 'round_robin') continue;
      const ns = measure(make(eps), picks, 5);
      const row = {
        scenario: 'picker',
        policy,
        endpoints: n,
        ns_per_pick: round(ns),
        baseline_ns_per_pick: round(baseline),
        ratio: round(ns / baseline),
      };
      ctx.emit(row);
      rows.push(row);
    }
  }
  return rows;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
