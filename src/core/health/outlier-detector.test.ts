import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../pickers/seeded-random.js';
import { ejectionTimeMs, OutlierDetector, type OutlierEjectionSettings } from './outlier-detector.js';
import { failurePercentageOutliers, successRateOutliers } from './outlier-statistics.js';

const OK = 0;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;

const base: OutlierEjectionSettings = {
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  ejectionJitterMs: 0,
  maxEjectionPercent: 100,
  failureCodes: new Set([UNAVAILABLE, DEADLINE_EXCEEDED]),
  consecutiveFailures: 5,
  consecutiveFailuresEnforcementPercent: 100,
  successRate: null,
  failurePercentage: null,
  unejectOnHealthy: true,
};

/** A detector over endpoints a..e (or `keys`) with a scripted clock. */
function detector(settings: Partial<OutlierEjectionSettings> = {}, keys = ['a', 'b', 'c', 'd', 'e'], random = () => 0) {
  const clock = { t: 0 };
  const d = new OutlierDetector({ ...base, ...settings }, { now: () => clock.t, random });
  d.setEndpoints(keys);
  return { d, clock };
}

const fail = (d: OutlierDetector, key: string, n: number, code = UNAVAILABLE) => {
  let last = null;
  for (let i = 0; i < n; i++) last = d.recordResult(key, code);
  return last;
};

describe('consecutive failures (Envoy consecutive_5xx)', () => {
  it('ejects at the 5th failure in a row and names the status', () => {
    const { d } = detector();
    assert.equal(fail(d, 'a', 4), null);
    const e = d.recordResult('a', UNAVAILABLE);
    assert.equal(e?.reason, '5 consecutive UNAVAILABLE');
    assert.equal(e?.kind, 'consecutive_failures');
    assert.equal(d.ejectionOf('a')?.until, 30_000);
    assert.equal(d.ejectedCount, 1);
  });
  it('a success (or an application error) in between restarts the count', () => {
    const { d } = detector();
    fail(d, 'a', 4);
    d.recordResult('a', NOT_FOUND);
    assert.equal(fail(d, 'a', 4), null);
    d.recordResult('a', OK);
    assert.equal(fail(d, 'a', 4), null);
    assert.equal(d.ejectedCount, 0);
  });
  it('mixed failure codes are named as such', () => {
    const { d } = detector();
    fail(d, 'a', 4, DEADLINE_EXCEEDED);
    assert.equal(d.recordResult('a', UNAVAILABLE)?.reason, '5 consecutive failures, last UNAVAILABLE');
  });
  it('0 disables the detector', () => {
    const { d } = detector({ consecutiveFailures: 0 });
    assert.equal(fail(d, 'a', 50), null);
  });
  it('enforcement percent: a detection is enforced only if the draw passes; both are counted', () => {
    const draws = [0.9, 0.1];
    const { d } = detector({ consecutiveFailuresEnforcementPercent: 50 }, undefined, () => draws.shift() ?? 0);
    assert.equal(fail(d, 'a', 5), null, 'draw 0.9 >= 50 %: not enforced');
    assert.ok(fail(d, 'a', 5), 'draw 0.1 < 50 %: enforced');
    assert.equal(d.counters.detected.consecutive_failures, 2);
    assert.equal(d.counters.enforced.consecutive_failures, 1);
  });
});

describe('ejection time', () => {
  it('is base × times ejected, capped at max (A50), plus jitter up to ejectionJitterMs (Envoy)', () => {
    const s = { ...base, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 100_000 };
    assert.deepEqual([1, 2, 3, 4, 10].map((n) => ejectionTimeMs(s, n, () => 0)), [30_000, 60_000, 90_000, 100_000, 100_000]);
    assert.equal(ejectionTimeMs({ ...s, ejectionJitterMs: 1000 }, 1, () => 0.5), 30_500);
  });
  it('grows with repeated ejections and decays by one per clean interval', () => {
    const { d, clock } = detector({ baseEjectionTimeMs: 1000 });
    fail(d, 'a', 5);
    assert.equal(d.ejectionOf('a')?.until, 1000);
    clock.t = 1000;
    assert.deepEqual(d.expire(), ['a']);
    fail(d, 'a', 5);
    assert.equal(d.ejectionOf('a')!.until - clock.t, 2000, 'second ejection: 2 × base');
    clock.t = 3000;
    d.expire();
    d.runInterval();
    d.runInterval(); // multiplier 2 → 0 after two clean intervals
    fail(d, 'a', 5);
    assert.equal(d.ejectionOf('a')!.until - clock.t, 1000, 'back to base');
  });
  it('expire() returns nothing before the time; nextExpiry() says when', () => {
    const { d, clock } = detector({ baseEjectionTimeMs: 500 });
    clock.t = 100;
    fail(d, 'a', 5);
    assert.equal(d.nextExpiry(), 600);
    clock.t = 599;
    assert.deepEqual(d.expire(), []);
    clock.t = 600;
    assert.deepEqual(d.expire(), ['a']);
    assert.equal(d.nextExpiry(), Number.POSITIVE_INFINITY);
  });
  it('uneject() ends an ejection early (health check passed)', () => {
    const { d } = detector();
    fail(d, 'a', 5);
    assert.equal(d.uneject('a'), true);
    assert.equal(d.ejectionOf('a'), null);
    assert.equal(d.uneject('a'), false);
  });
});

describe('max ejection percent', () => {
  it('holds, but one endpoint may always be ejected (Envoy)', () => {
    const { d } = detector({ maxEjectionPercent: 10 }, ['a', 'b', 'c']);
    assert.ok(fail(d, 'a', 5), 'the first ejection is allowed even though 1/3 > 10 %');
    assert.equal(fail(d, 'b', 5), null, 'a second is not');
    assert.equal(d.counters.overflow, 1);
    assert.equal(d.counters.detected.consecutive_failures, 2);
    assert.equal(d.counters.enforced.consecutive_failures, 1);
  });
  it('allows as many as fit: 50 % of 4 is 2', () => {
    const { d } = detector({ maxEjectionPercent: 50 }, ['a', 'b', 'c', 'd']);
    assert.ok(fail(d, 'a', 5));
    assert.ok(fail(d, 'b', 5));
    assert.equal(fail(d, 'c', 5), null);
  });
  it('forgets endpoints that leave the list, and their ejections', () => {
    const { d } = detector({ maxEjectionPercent: 10 }, ['a', 'b', 'c']);
    fail(d, 'a', 5);
    d.setEndpoints(['b', 'c']);
    assert.equal(d.ejectedCount, 0);
    assert.ok(fail(d, 'b', 5));
  });
});

describe('success rate and failure percentage (A50), once per interval', () => {
  const counts = (rates: Record<string, [number, number]>) => Object.entries(rates).map(([key, [successes, failures]]) => ({ key, successes, failures }));

  it('success rate: below mean - 1.9 stdev is an outlier; needs minimumHosts with requestVolume', () => {
    const s = { stdevFactor: 1900, enforcementPercent: 100, minimumHosts: 5, requestVolume: 100 };
    const five = counts({ a: [100, 0], b: [100, 0], c: [99, 1], d: [100, 0], e: [40, 60] });
    assert.deepEqual(successRateOutliers(five, s).map((o) => o.key), ['e']);
    assert.match(successRateOutliers(five, s)[0]!.reason, /^success rate 40% < \d+(\.\d)?% \(mean 87\.8% - 1\.9 × stdev/);
    assert.deepEqual(successRateOutliers(five.slice(1), s), [], 'only 4 hosts');
    assert.deepEqual(successRateOutliers(counts({ a: [99, 0], b: [100, 0], c: [99, 1], d: [100, 0], e: [40, 60] }), s), [], 'a below volume: 4 hosts');
  });
  it('failure percentage: strictly above the threshold is an outlier', () => {
    const s = { threshold: 85, enforcementPercent: 100, minimumHosts: 3, requestVolume: 50 };
    const rows = counts({ a: [50, 0], b: [15, 85], c: [14, 86] });
    assert.deepEqual(failurePercentageOutliers(rows, s).map((o) => o.key), ['c']);
    assert.equal(failurePercentageOutliers(rows, s)[0]!.reason, 'failure rate 86% > 85%');
    assert.deepEqual(failurePercentageOutliers(rows.slice(1), s), [], 'only 2 hosts');
  });
  it('the detector evaluates the interval that just ended, then starts a new one', () => {
    const { d } = detector({
      consecutiveFailures: 0,
      failurePercentage: { threshold: 50, enforcementPercent: 100, minimumHosts: 3, requestVolume: 10 },
    }, ['a', 'b', 'c']);
    for (const key of ['a', 'b']) for (let i = 0; i < 10; i++) d.recordResult(key, OK);
    for (let i = 0; i < 10; i++) d.recordResult('c', i < 7 ? UNAVAILABLE : OK);
    const ejections = d.runInterval();
    assert.deepEqual(ejections.map((e) => [e.key, e.kind]), [['c', 'failure_percentage']]);
    assert.equal(d.counters.enforced.failure_percentage, 1);
    assert.deepEqual(d.runInterval(), [], 'the next interval starts empty');
  });
  it('with a seeded random source, enforcement is reproducible', () => {
    const run = () => {
      const { d } = detector({ consecutiveFailuresEnforcementPercent: 30 }, ['a', 'b', 'c', 'd', 'e'], seededRandom(42));
      const out: string[] = [];
      for (const key of ['a', 'b', 'c', 'd', 'e']) if (fail(d, key, 5)) out.push(key);
      return out.join();
    };
    assert.equal(run(), run());
  });
});
