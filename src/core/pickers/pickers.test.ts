import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_EWMA, EndpointLoad, WARMUP_SAMPLES } from './endpoint-load.js';
import { createLeastRequestPicker } from './least-request-picker.js';
import type { PickerEnv } from './picker.js';
import { createRandomPicker } from './random-picker.js';
import { createRoundRobinPicker } from './round-robin-picker.js';
import { seededRandom } from './seeded-random.js';
import { countPicks, makeEndpoints } from '../../../test/support/test-endpoints.js';
import { buildAliasTable, createWeightedRandomPicker } from './weighted-random-picker.js';
import { buildEdfSchedule, createWeightedRoundRobinPicker } from './weighted-round-robin-picker.js';

const env = (seed = 1, now = () => 0): PickerEnv => ({ random: seededRandom(seed), now });

/** A random source that returns the scripted values in turn. */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

const counts = countPicks;

describe('random picker', () => {
  it('spreads picks uniformly over the endpoints', () => {
    const c = counts(createRandomPicker(makeEndpoints(4), {}, env()), 4, 40_000);
    for (const x of c) assert.ok(Math.abs(x - 10_000) < 400, `count ${x} far from 10000: ${c}`);
  });
  it('never returns an index out of range, even from a source that returns 1', () => {
    const p = createRandomPicker(makeEndpoints(3), {}, { random: () => 1, now: () => 0 });
    assert.equal(p.pick(), 2);
  });
});

describe('round robin picker', () => {
  it('visits endpoints in turn from the start index', () => {
    const p = createRoundRobinPicker(makeEndpoints(3), { startIndex: 1 }, env());
    assert.deepEqual([p.pick(), p.pick(), p.pick(), p.pick()], [1, 2, 0, 1]);
  });
});

describe('static weighted round robin picker', () => {
  it('gives each endpoint exactly its weight per period', () => {
    const p = createWeightedRoundRobinPicker(makeEndpoints(3, [5, 1, 2]), {}, env());
    assert.deepEqual(counts(p, 3, 8 * 100), [500, 100, 200]);
  });
  it('interleaves a heavy endpoint with the others instead of sending it a burst', () => {
    const schedule = Array.from(buildEdfSchedule([5, 1, 1], 1000));
    // Cyclic runs: the schedule repeats, so look across the wrap too.
    const doubled = [...schedule, ...schedule];
    let longest = 0;
    let run = 0;
    for (const i of doubled) {
      run = i === 0 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    assert.equal(schedule.length, 7);
    assert.ok(longest <= 3, `endpoint 0 picked ${longest} times in a row: ${schedule.join('')}`);
  });
  it('reduces integer weights by their gcd and scales weights that do not fit', () => {
    assert.equal(buildEdfSchedule([100, 200], 65_536).length, 3);
    const scaled = Array.from(buildEdfSchedule([1_000_000, 1], 1000));
    assert.ok(scaled.length <= 1001);
    assert.equal(scaled.filter((i) => i === 1).length, 1, 'a tiny weight keeps one slot');
  });
  it('equal weights reduce to plain round robin', () => {
    assert.deepEqual(Array.from(buildEdfSchedule([1, 1, 1, 1], 100)), [0, 1, 2, 3]);
  });
});

describe('weighted random picker', () => {
  it('builds an alias table whose column masses equal the weights', () => {
    const weights = [1, 2, 3, 4];
    const { prob, alias } = buildAliasTable(weights);
    const mass = new Array<number>(4).fill(0);
    for (let col = 0; col < 4; col++) {
      mass[col]! += prob[col]! / 4;
      mass[alias[col]!]! += (1 - prob[col]!) / 4;
    }
    mass.forEach((m, i) => assert.ok(Math.abs(m - weights[i]! / 10) < 1e-12, `mass ${m} for weight ${weights[i]}`));
  });
  it('samples in proportion to the weights', () => {
    const c = counts(createWeightedRandomPicker(makeEndpoints(3, [6, 3, 1]), {}, env(7)), 3, 100_000);
    assert.ok(Math.abs(c[0]! / 100_000 - 0.6) < 0.01, `${c}`);
    assert.ok(Math.abs(c[1]! / 100_000 - 0.3) < 0.01, `${c}`);
    assert.ok(Math.abs(c[2]! / 100_000 - 0.1) < 0.01, `${c}`);
  });
});

describe('least request picker (gRFC A48)', () => {
  it('of the two sampled endpoints, takes the one with fewer calls in flight', () => {
    const eps = makeEndpoints(4);
    eps[1]!.load.inFlight = 5;
    eps[3]!.load.inFlight = 2;
    // Draws: 1/4 → index 1, then 2/3 of the remaining 3 → index 3 (skipping 1).
    const p = createLeastRequestPicker(eps, { choiceCount: 2, activeRequestBias: 1 }, { random: scripted(0.25, 0.7), now: () => 0 });
    assert.equal(p.pick(), 3);
  });
  it('never samples the same endpoint twice, so a saturated endpoint loses every comparison', () => {
    const eps = makeEndpoints(3);
    eps[0]!.load.inFlight = 100;
    const p = createLeastRequestPicker(eps, { choiceCount: 2, activeRequestBias: 1 }, env(3));
    assert.equal(counts(p, 3, 10_000)[0], 0);
  });
  it('with choiceCount >= n, always takes the global minimum', () => {
    const eps = makeEndpoints(3);
    eps[0]!.load.inFlight = 2;
    eps[1]!.load.inFlight = 1;
    eps[2]!.load.inFlight = 3;
    const p = createLeastRequestPicker(eps, { choiceCount: 5, activeRequestBias: 1 }, env());
    assert.deepEqual(counts(p, 3, 100), [0, 100, 0]);
  });
  it('breaks ties at random when it samples every endpoint (2 endpoints, idle)', () => {
    const eps = makeEndpoints(2);
    const p = createLeastRequestPicker(eps, { choiceCount: 2, activeRequestBias: 1 }, env(7));
    const c = counts(p, 2, 10_000);
    assert.ok(c[0]! > 4500 && c[1]! > 4500, `${c}`);
  });
  it('honours weights as Envoy does: weight / (inFlight + 1) ^ bias', () => {
    const eps = makeEndpoints(2, [4, 1]);
    eps[0]!.load.inFlight = 2; // 4 / 3 = 1.33
    eps[1]!.load.inFlight = 0; // 1 / 1 = 1
    const p = createLeastRequestPicker(eps, { choiceCount: 2, activeRequestBias: 1 }, env());
    assert.equal(p.pick(), 0);
    eps[0]!.load.inFlight = 4; // 4 / 5 = 0.8
    assert.equal(p.pick(), 1);
    // bias 0: in-flight calls are ignored, the heavier endpoint always wins the comparison.
    const p0 = createLeastRequestPicker(eps, { choiceCount: 2, activeRequestBias: 0 }, env());
    assert.equal(p0.pick(), 0);
  });
});

describe('peak EWMA estimate', () => {
  /** An endpoint learnt at `ms` by time 0 (its warm-up done). */
  function learnt(ms: number, sampleWindow?: number): EndpointLoad {
    const load = new EndpointLoad();
    for (let i = 0; i < WARMUP_SAMPLES; i++) load.observe(0, ms, 10_000, sampleWindow);
    return load;
  }

  it('takes a worse sample at once (peak) and decays toward zero between samples', () => {
    const load = learnt(10);
    load.observe(100, 50, 1000);
    assert.equal(load.estimate(100, 1000), 50);
    assert.ok(Math.abs(load.estimate(1100, 1000) - 50 * Math.exp(-1)) < 1e-9);
  });
  it('moves toward a better sample by the time-weighted factor 1 - e^(-dt/tau)', () => {
    const load = learnt(100);
    load.observe(1000, 10, 1000);
    const decayed = 100 * Math.exp(-1);
    const w = Math.exp(-1);
    assert.ok(Math.abs(load.rttMs - (decayed * w + 10 * (1 - w))) < 1e-9);
  });
  it('forgets a spike within about sampleWindow samples when calls are frequent', () => {
    const load = learnt(1, 50);
    load.observe(31, 30, 10_000, 50); // a GC pause: peak
    for (let i = 0; i < 150; i++) load.observe(32 + i * 0.5, 1, 10_000, 50);
    // 29 × (49/50)^150 ≈ 1.4 above the 1 ms floor; pure time decay (tau 10 s, 75 ms) would still be near 30.
    assert.ok(load.rttMs < 2.5, `estimate ${load.rttMs}`);
    const finagle = learnt(1);
    finagle.observe(31, 30, 10_000);
    for (let i = 0; i < 150; i++) finagle.observe(32 + i * 0.5, 1, 10_000);
    assert.ok(finagle.rttMs > 29, `pure time decay ${finagle.rttMs}`);
  });
  it('learns a new endpoint from the median of its first samples: a cold first call weighs nothing', () => {
    const load = new EndpointLoad();
    load.observe(40, 40, 10_000, 50); // first call: JIT, connection set-up
    for (let i = 1; i < WARMUP_SAMPLES; i++) load.observe(40 + i, 1 + i / 10, 10_000, 50);
    // Samples 40, 1.1 .. 1.5: the median is 1.35 (a mean seeded with 40 would still say ~2.6, the peak 40).
    assert.ok(Math.abs(load.rttMs - 1.35) < 1e-9 && Math.abs(load.meanMs - 1.35) < 1e-9, `estimate ${load.rttMs}, mean ${load.meanMs}`);
  });
  it('takes a call started during the warm-up and answered after it as no peak', () => {
    const load = new EndpointLoad();
    for (let i = 0; i < WARMUP_SAMPLES; i++) load.observe(10 + i, 1, 10_000, 50);
    load.observe(50, 45, 10_000, 50); // started at 5, before the warm-up ended at 15
    assert.ok(load.rttMs < 2, `late warm-up answer ${load.rttMs}`);
    load.observe(100, 45, 10_000, 50); // started at 55: a peak
    assert.equal(load.rttMs, 45);
  });
  it('weighs a probe after an idle second at least half', () => {
    const load = learnt(1, 50);
    load.observe(30, 20, 10_000, 50); // a spike: peak
    load.observe(1030, 1, 10_000, 50); // the probe a second later
    const decayed = 20 * Math.exp(-1000 / 10_000);
    assert.ok(Math.abs(load.rttMs - (decayed * 0.5 + 0.5)) < 1e-9, `estimate ${load.rttMs}`);
  });
  it('counts a fast failure as a latency penalty, growing with each failure', () => {
    const load = learnt(1);
    for (let i = 1; i <= 3; i++) {
      load.start();
      load.end(i, 0.1, true, DEFAULT_EWMA);
    }
    // 1 ms → 5 → 25 → 125 (decay over 3 ms is negligible against tau = 10 s).
    assert.ok(load.estimate(3, DEFAULT_EWMA.decayMs) > 120, `estimate ${load.estimate(3, DEFAULT_EWMA.decayMs)}`);
    assert.equal(load.failed, 3);
    assert.equal(load.inFlight, 0);
  });
  it('counts failures during the warm-up too, the first included', () => {
    const load = new EndpointLoad();
    for (let i = 1; i <= WARMUP_SAMPLES; i++) {
      load.start();
      load.end(i, 0.1, true, DEFAULT_EWMA);
    }
    assert.ok(load.estimate(WARMUP_SAMPLES, DEFAULT_EWMA.decayMs) > 50, `estimate ${load.estimate(WARMUP_SAMPLES, DEFAULT_EWMA.decayMs)}`);
  });
});
