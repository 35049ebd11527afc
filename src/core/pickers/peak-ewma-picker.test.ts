import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_EWMA, MAX_WARMUP_PROBES, PROBE_INTERVAL_MS, WARMUP_SAMPLES } from './endpoint-load.js';
import { createPeakEwmaPicker, peakEwmaCost } from './peak-ewma-picker.js';
import type { PickerEndpoint } from './picker.js';
import { seededRandom } from './seeded-random.js';
import { countPicks, makeEndpoints } from '../../../test/support/test-endpoints.js';

/** A clock the test moves by hand. */
function clock(start = 0) {
  const c = { t: start, now: () => c.t };
  return c;
}

/** Gives `e` a learnt estimate of `ms` at time `at` (past the warm-up). */
function learn(e: PickerEndpoint, ms: number, at = 0): void {
  for (let i = 0; i < WARMUP_SAMPLES; i++) e.load.observe(at, ms, DEFAULT_EWMA.decayMs);
}

const counts = countPicks;

describe('peak EWMA picker', () => {
  it('prefers lower latency × (in flight + 1) between endpoints of different speed', () => {
    const eps = makeEndpoints(2);
    learn(eps[0]!, 3);
    learn(eps[1]!, 2);
    const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random: seededRandom(1), now: clock(1).now });
    eps[1]!.load.inFlight = 0; // 2 × 1 < 3
    assert.deepEqual(counts(p, 2, 100), [0, 100]);
    eps[1]!.load.inFlight = 1; // 2 × 2 > 3
    assert.deepEqual(counts(p, 2, 100), [100, 0]);
  });

  it('compares near-equal latencies by calls in flight alone', () => {
    const eps = makeEndpoints(2);
    learn(eps[0]!, 1.1);
    learn(eps[1]!, 1.0);
    eps[1]!.load.inFlight = 1; // by cost 1.0 × 2 > 1.1, by in flight too
    eps[0]!.load.inFlight = 0;
    const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random: seededRandom(2), now: clock(1).now });
    assert.deepEqual(counts(p, 2, 100), [100, 0]);
    eps[1]!.load.inFlight = 0; // a tie: the first sampled, at random — no herding on the 1.0 ms one
    const c = counts(p, 2, 10_000);
    assert.ok(c[0]! > 4500 && c[1]! > 4500, `${c}`);
  });

  it('avoids slow endpoints when 4 of 10 are slow, where P2C sends both-slow samples (13 %) to them', () => {
    const eps = makeEndpoints(10);
    const random = seededRandom(3);
    eps.forEach((e, i) => {
      learn(e, i < 4 ? 20 : 0.5);
      e.load.inFlight = Math.floor(random() * 4);
    });
    const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random, now: clock(10).now });
    const c = counts(p, 10, 20_000);
    assert.equal(c.slice(0, 4).reduce((a, b) => a + b, 0), 0, `${c}`);
    assert.ok(Math.max(...c) < 8000, `no herding on one fast endpoint: ${c}`);
  });

  it('spreads over equally fast endpoints, at 1,000 endpoints too', () => {
    for (const n of [5, 1000]) {
      const eps = makeEndpoints(n);
      eps.forEach((e) => learn(e, 1));
      const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random: seededRandom(n), now: clock(1).now });
      const c = counts(p, n, n * 200);
      assert.ok(Math.max(...c) < 400 && Math.min(...c) > 60, `n=${n}: between ${Math.min(...c)} and ${Math.max(...c)}`);
    }
  });

  it('probes a new endpoint with up to MAX_WARMUP_PROBES calls at a time, one per tick', () => {
    const eps = makeEndpoints(3);
    learn(eps[0]!, 0.5);
    learn(eps[1]!, 0.5);
    const c = clock(10);
    const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random: seededRandom(4), now: c.now });
    assert.ok(counts(p, 3, 20)[2] === 1, 'one probe in the same millisecond');
    eps[2]!.load.inFlight = 1;
    c.t += 1;
    assert.ok(counts(p, 3, 20)[2] === 1, 'a second probe while the first is in flight');
    eps[2]!.load.inFlight = MAX_WARMUP_PROBES;
    c.t += 1;
    assert.equal(counts(p, 3, 20)[2], 0, 'no more than MAX_WARMUP_PROBES at a time');
  });

  it('probes an endpoint with no sample for PROBE_INTERVAL_MS once, however slow it looks', () => {
    const eps = makeEndpoints(3);
    learn(eps[0]!, 0.5);
    learn(eps[1]!, 0.5);
    learn(eps[2]!, 50);
    const c = clock(1);
    const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random: seededRandom(5), now: c.now });
    assert.equal(counts(p, 3, 1000)[2], 0);
    c.t = PROBE_INTERVAL_MS + 1;
    eps[0]!.load.observe(c.t, 0.5, DEFAULT_EWMA.decayMs); // the fast ones stay measured
    eps[1]!.load.observe(c.t, 0.5, DEFAULT_EWMA.decayMs);
    assert.equal(counts(p, 3, 1000)[2], 1);
    c.t += 10;
    assert.equal(counts(p, 3, 1000)[2], 0, 'one probe per interval');
  });

  it('learns again a hot endpoint whose latest answer was cold, within a few probes, and never a slow one', () => {
    const eps = makeEndpoints(4);
    learn(eps[0]!, 0.5);
    learn(eps[1]!, 0.5);
    learn(eps[2]!, 50); // slow: every answer hot
    learn(eps[3]!, 5); // a fresh process's first answers: hot
    const c = clock(10);
    const p = createPeakEwmaPicker(eps, DEFAULT_EWMA, { random: seededRandom(6), now: c.now });
    assert.deepEqual(counts(p, 4, 1000).slice(2), [0, 0], 'both hot ones avoided');
    // The fresh one warms up: its next answer is as fast as the others'.
    eps[3]!.load.observe(c.t, 0.5, DEFAULT_EWMA.decayMs);
    let probes = 0;
    for (let tick = 0; tick < 2000 && eps[3]!.load.meanMs > 0.5 * 2 + 1; tick++) {
      c.t += 1;
      const n = counts(p, 4, 10)[3]!;
      assert.ok(n <= 1, 'one probe per tick');
      probes += n;
      if (n > 0) eps[3]!.load.observe(c.t, 0.5, DEFAULT_EWMA.decayMs);
      assert.equal(eps[2]!.load.lastMs, 50);
    }
    assert.ok(eps[3]!.load.meanMs <= 2, `cooled: mean ${eps[3]!.load.meanMs} ms after ${probes} probes`);
    assert.ok(probes <= WARMUP_SAMPLES, `within a warm-up's probes: ${probes}`);
    // Cold now: it takes its share of the calls; the slow one still none but its interval probe.
    const share = counts(p, 4, 3000);
    assert.ok(share[3]! > 600, `${share}`);
    assert.ok(share[2]! <= 1, `${share}`);
    // At most MAX_WARMUP_PROBES at a time while learnt again.
    learn(eps[3]!, 5);
    eps[3]!.load.observe(c.t, 0.5, DEFAULT_EWMA.decayMs);
    eps[3]!.load.inFlight = MAX_WARMUP_PROBES;
    c.t += 1;
    assert.equal(counts(p, 4, 100)[3], 0);
  });

  it('probes an unmeasured endpoint once it is busy only through the fallback cost', () => {
    const eps = makeEndpoints(2);
    learn(eps[0]!, 5);
    const opts = { ...DEFAULT_EWMA, defaultRttMs: 1 };
    assert.equal(peakEwmaCost(eps[1]!, 0, opts), 1);
    eps[1]!.load.inFlight = 1;
    assert.ok(peakEwmaCost(eps[1]!, 0, opts) > 1e12);
  });
});
