import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointCondition } from './endpoint-condition.js';
import { EndpointSetHealth } from './endpoint-set-health.js';
import { DEFAULT_HEALTH_SETTINGS, type HealthSettings } from './health-config.js';
import { RETURN_REASONS, transitionEvents } from './health-events.js';
import type { OutlierEjectionSettings } from './outlier-detector.js';

const UNAVAILABLE = 14;
const OK = 0;

const ejection: OutlierEjectionSettings = {
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  ejectionJitterMs: 0,
  maxEjectionPercent: 100,
  failureCodes: new Set([UNAVAILABLE]),
  consecutiveFailures: 3,
  consecutiveFailuresEnforcementPercent: 100,
  successRate: null,
  failurePercentage: null,
  unejectOnHealthy: true,
};

const HEALTHY: EndpointCondition = { t: 'healthy' };
const SERVING: EndpointCondition = { t: 'healthy', checked: true };
const NOT_SERVING: EndpointCondition = { t: 'not_serving', status: 'NOT_SERVING' };
const AWAITING: EndpointCondition = { t: 'awaiting_health_check' };
const STARTING: EndpointCondition = { t: 'connecting', settled: false };
const DOWN: EndpointCondition = { t: 'transient_failure', error: 'connect ECONNREFUSED' };

/**
 * A model over `keys` with a scripted clock, recording what it emits and logs. `set(key, c)`
 * scripts what the adapter reports; `recompute()` feeds it in.
 */
function model(settings: Partial<HealthSettings> = {}, keys = ['a', 'b', 'c']) {
  const clock = { t: 1_000 };
  const events: string[] = [];
  const logs: string[] = [];
  let changes = 0;
  let wake = () => {};
  const reported = new Map<string, EndpointCondition>();
  const health = new EndpointSetHealth(
    {
      env: { now: () => clock.t, random: () => 0 },
      sink: {
        emit: (event, endpoint, reason) => events.push([event, endpoint, reason].filter((x) => x !== undefined).join(' ')),
        log: (message) => logs.push(message),
      },
      changed: () => {
        changes++;
        wake();
      },
    },
    { ...DEFAULT_HEALTH_SETTINGS, ...settings },
  );
  health.setEndpoints(keys);
  const recompute = () => health.recompute((key) => reported.get(key) ?? STARTING);
  const set = (conditions: Record<string, EndpointCondition>) => {
    for (const [key, c] of Object.entries(conditions)) reported.set(key, c);
    recompute();
  };
  /** Resolves at the next `changed()` (the model's timers run on real time). */
  const nextChange = () => new Promise<void>((resolve) => (wake = resolve));
  return { health, clock, events, logs, set, recompute, nextChange, changes: () => changes };
}

const fail = (health: EndpointSetHealth, key: string, n: number) => {
  for (let i = 0; i < n; i++) health.recordResult(key, UNAVAILABLE);
};

describe('condition transitions as events (one mapping for every front end)', () => {
  it('names each change once', () => {
    const table: [EndpointCondition, EndpointCondition, string[]][] = [
      [STARTING, HEALTHY, ['endpoint_healthy']],
      [AWAITING, SERVING, ['endpoint_healthy']],
      [HEALTHY, NOT_SERVING, ['endpoint_not_serving NOT_SERVING']],
      [HEALTHY, { t: 'health_check_failing', error: 'INTERNAL: x' }, ['endpoint_health_check_failing INTERNAL: x']],
      [HEALTHY, DOWN, ['endpoint_unreachable connect ECONNREFUSED']],
      [HEALTHY, { t: 'transient_failure', error: undefined }, ['endpoint_unreachable']],
      [HEALTHY, { t: 'ejected', reason: '5 consecutive UNAVAILABLE' }, ['endpoint_ejected 5 consecutive UNAVAILABLE']],
      [{ t: 'ejected', reason: 'x' }, HEALTHY, ['endpoint_returned its ejection ended']],
      [{ t: 'ejected', reason: 'x' }, NOT_SERVING, ['endpoint_returned its ejection ended', 'endpoint_not_serving NOT_SERVING']],
      [HEALTHY, STARTING, []],
      [STARTING, AWAITING, []],
    ];
    for (const [from, to, expected] of table) {
      const got = transitionEvents(from, to, RETURN_REASONS.expired).map((e) => [e.event, e.reason].filter((x) => x !== undefined).join(' '));
      assert.deepEqual(got, expected, `${from.t} → ${to.t}`);
    }
  });
});

describe('endpoint set health: conditions and events', () => {
  it('reports each endpoint once per change, with the adapter not repeating itself', () => {
    const m = model({ panicThresholdPercent: 0 });
    m.set({ a: HEALTHY, b: AWAITING, c: DOWN });
    m.set({ a: HEALTHY, b: NOT_SERVING, c: DOWN });
    assert.deepEqual(m.events, ['endpoint_healthy a', 'endpoint_unreachable c connect ECONNREFUSED', 'endpoint_not_serving b NOT_SERVING']);
    assert.deepEqual(m.health.conditionOf('b'), NOT_SERVING);
    assert.equal(m.health.conditionOf('z'), undefined);
  });

  it('keeps the endpoint list order, forgets removed endpoints and starts added ones clean', () => {
    const m = model({}, ['b', 'a']);
    m.set({ a: NOT_SERVING, b: DOWN });
    assert.equal(m.health.noHealthyEndpointMessage('echo'), 'no healthy endpoint for echo: 2 known — 1 TRANSIENT_FAILURE, 1 NOT_SERVING. Last error: connect ECONNREFUSED');
    m.health.setEndpoints(['a', 'c']);
    m.recompute();
    assert.equal(m.health.conditionOf('b'), undefined);
    assert.deepEqual(m.health.conditionOf('c'), STARTING);
    assert.equal(m.health.noHealthyEndpointMessage('', 'from dns'), 'no healthy endpoint: 2 known — 1 NOT_SERVING, 1 connecting (from dns)');
  });

  it('says when an endpoint awaits its first health answer (A17: queue, not fail)', () => {
    const m = model();
    m.set({ a: NOT_SERVING, b: AWAITING, c: DOWN });
    assert.equal(m.health.awaitingHealthCheck(), true);
    m.set({ b: NOT_SERVING });
    assert.equal(m.health.awaitingHealthCheck(), false);
  });
});

describe('endpoint set health: panic threshold (Envoy healthy_panic_threshold)', () => {
  it('enters below the threshold and leaves above it, counting endpoints not settled yet as healthy', () => {
    const table: [Record<string, EndpointCondition>, boolean][] = [
      [{ a: NOT_SERVING }, false], // b and c still on their first attempt: unknown counts as healthy
      [{ b: NOT_SERVING, c: AWAITING }, true], // 1 unknown of 3 < 50 %
      [{ c: SERVING }, true],
      [{ b: SERVING }, false],
    ];
    const m = model({ panicThresholdPercent: 50 });
    for (const [conditions, panic] of table) {
      m.set(conditions);
      assert.equal(m.health.panic, panic, JSON.stringify(conditions));
    }
    assert.deepEqual(m.events.filter((e) => e.startsWith('panic')), ['panic_entered 0 of 3 endpoints healthy', 'panic_left 2 of 3 endpoints healthy']);
  });

  it('a first attempt is unknown; connecting again after being seen is not (the model remembers)', () => {
    const m = model({ panicThresholdPercent: 50 });
    m.set({ a: HEALTHY, b: HEALTHY, c: HEALTHY });
    // The adapter cannot tell a reconnect from a first attempt (the proxy's Upstream): the model can.
    m.set({ b: STARTING, c: STARTING });
    assert.equal(m.health.panic, true);
    assert.deepEqual(m.health.conditionOf('b'), { t: 'connecting', settled: true });
  });

  it('0 disables it', () => {
    const m = model({ panicThresholdPercent: 0 });
    m.set({ a: DOWN, b: DOWN, c: DOWN });
    assert.equal(m.health.panic, false);
  });
});

describe('endpoint set health: slow start (Envoy)', () => {
  const slowStart = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };

  it('endpoints of the first list that are healthy at once start no ramp; later ones and returning ones do', () => {
    const m = model({ slowStart });
    m.set({ a: HEALTHY, b: HEALTHY, c: NOT_SERVING });
    assert.equal(m.health.rampUntil, Number.NEGATIVE_INFINITY, 'a and b were running before the client');
    assert.equal(m.health.factorOf('a', m.clock.t), 1);
    m.clock.t = 2_000;
    m.set({ c: HEALTHY });
    assert.equal(m.health.rampUntil, 12_000);
    const table: [number, number, number][] = [
      // [now, factor of c, factor of the oldest]
      [2_000, 0.1, 1],
      [7_000, 0.5, 1],
      [12_000, 1, 1],
    ];
    for (const [now, factor, max] of table) {
      assert.equal(m.health.factorOf('c', now), factor, `c at ${now}`);
      assert.equal(m.health.maxFactor(now), max);
    }
    // Added later (a scale-up): ramps from its first healthy moment.
    m.health.setEndpoints(['a', 'b', 'c', 'd']);
    m.clock.t = 20_000;
    m.set({ d: HEALTHY });
    assert.equal(m.health.factorOf('d', 25_000), 0.5);
    assert.equal(m.health.rampUntil, 30_000);
  });

  it('a single healthy endpoint has nothing to ramp against; off means factor 1', () => {
    const m = model({ slowStart }, ['a', 'b']);
    m.set({ a: NOT_SERVING, b: NOT_SERVING });
    m.set({ a: HEALTHY });
    assert.equal(m.health.rampUntil, Number.NEGATIVE_INFINITY);
    const off = model({}, ['a', 'b']);
    off.set({ a: NOT_SERVING, b: HEALTHY });
    off.set({ a: HEALTHY });
    assert.equal(off.health.factorOf('a', off.clock.t), 1);
    assert.equal(off.health.maxFactor(off.clock.t), 1);
  });
});

describe('endpoint set health: outlier ejection', () => {
  it('ejects on consecutive failures: the adapter is told, the condition, events, log and description follow', () => {
    const m = model({ outlierEjection: ejection });
    m.set({ a: SERVING, b: SERVING, c: SERVING });
    assert.equal(m.health.counting, true);
    fail(m.health, 'a', 2);
    m.health.recordResult('a', OK);
    fail(m.health, 'a', 2);
    assert.equal(m.changes(), 0, 'a success restarts the count');
    fail(m.health, 'a', 1);
    assert.equal(m.changes(), 1);
    m.recompute();
    assert.deepEqual(m.health.conditionOf('a'), { t: 'ejected', reason: '3 consecutive UNAVAILABLE' });
    assert.equal(m.health.ejectionOf('a')?.until, 31_000);
    assert.deepEqual(m.logs, ['ejected a for 30000 ms: 3 consecutive UNAVAILABLE']);
    assert.ok(m.events.includes('endpoint_ejected a 3 consecutive UNAVAILABLE'));
    assert.deepEqual(m.health.describeEjections(), ['1 ejected (3 consecutive UNAVAILABLE)']);
    assert.deepEqual(m.health.describeEjections(['b']), []);
    assert.equal(m.health.counters?.enforced.consecutive_failures, 1);
    m.health.close();
  });

  it('returns early when its active health check passes anew (Envoy successful_active_health_check_uneject_host)', () => {
    const cases: [string, Partial<OutlierEjectionSettings>, EndpointCondition[], boolean][] = [
      ['NOT_SERVING then SERVING', {}, [NOT_SERVING, SERVING], true],
      ['a reconnect: connecting, awaiting, SERVING', {}, [STARTING, AWAITING, SERVING], true],
      ['SERVING all along', {}, [SERVING, SERVING], false],
      ['healthy without a check (none configured, or UNIMPLEMENTED)', {}, [DOWN, HEALTHY], false],
      ['unejectOnHealthy off', { unejectOnHealthy: false }, [NOT_SERVING, SERVING], false],
    ];
    for (const [name, settings, script, returns] of cases) {
      const m = model({ outlierEjection: { ...ejection, ...settings } });
      m.set({ a: SERVING, b: SERVING, c: SERVING });
      fail(m.health, 'a', 3);
      m.recompute();
      for (const c of script) m.set({ a: c });
      assert.equal(m.health.ejectionOf('a') === null, returns, name);
      if (returns) {
        assert.ok(m.events.includes('endpoint_returned a its health check says SERVING'), `${name}: ${m.events.join('; ')}`);
        assert.ok(m.logs.includes('a returns early: its health check says SERVING'));
        assert.deepEqual(m.health.conditionOf('a'), SERVING);
      }
      m.health.close();
    }
  });

  it('returns when its ejection time is up, on the expiry timer', async () => {
    const m = model({ outlierEjection: { ...ejection, baseEjectionTimeMs: 20 } });
    m.set({ a: SERVING, b: SERVING, c: SERVING });
    fail(m.health, 'a', 3);
    m.recompute();
    assert.equal(m.health.ejectionOf('a')?.until, 1_020);
    const expired = m.nextChange();
    m.clock.t = 1_025; // the scripted clock passes the end; the real timer fires about 20 ms later
    // The model's timers are unref'd (they never keep a process alive): this one keeps the test's, for 2 s at most.
    const alive = setTimeout(() => undefined, 2000);
    await expired;
    clearTimeout(alive);
    m.recompute();
    assert.equal(m.health.ejectionOf('a'), null);
    assert.equal(m.events.at(-1), 'endpoint_returned a its ejection ended');
    assert.equal(m.logs.at(-1), 'a returns after its ejection');
    m.health.close();
  });

  it('switching outlier ejection off ends every ejection and stops counting', () => {
    const m = model({ outlierEjection: ejection });
    m.set({ a: SERVING, b: SERVING, c: SERVING });
    fail(m.health, 'a', 3);
    m.recompute();
    m.health.configure(DEFAULT_HEALTH_SETTINGS);
    m.recompute();
    assert.equal(m.health.counting, false);
    assert.equal(m.health.counters, null);
    assert.deepEqual(m.health.conditionOf('a'), SERVING);
    assert.equal(m.events.at(-1), 'endpoint_returned a its ejection ended');
  });

  it('ignores input once closed', () => {
    const m = model({ outlierEjection: ejection });
    m.set({ a: SERVING, b: SERVING, c: SERVING });
    m.health.close();
    fail(m.health, 'a', 3);
    assert.equal(m.health.ejectionOf('a'), null);
    assert.equal(m.changes(), 0);
  });
});
