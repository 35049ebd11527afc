/**
 * Outlier ejection on real servers: an endpoint that fails every call is ejected after N
 * consecutive failures and returns after its ejection time; the failure-percentage detector
 * (A50) ejects on interval statistics; the max ejection percent holds; a fresh SERVING from the
 * health check brings an ejected endpoint back early; and a call that finds nothing to pick says
 * why. For grpc-ha policies and grpc-js round_robin (health_aware).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { outlierEjectionCounters } from '../src/grpc/health-layer.js';
import { onEvent } from '../src/observe/events.js';
import { client, warm, delay, driveUntil, ECHO, haPolicy, keyed, label, roundRobin, send, unary } from './health-helpers.js';

const UNAVAILABLE_EVERY_CALL = { code: status.UNAVAILABLE, rate: 1 };

describe('outlier ejection', () => {
  let servers: ExampleServer[] = [];
  beforeEach(async () => {
    servers = await Promise.all([0, 1, 2].map((i) => startExampleServer({ id: `e${i}` })));
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  const ejection = { outlierEjection: { consecutiveFailures: 5, baseEjectionTimeMs: 800 } };
  for (const policy of [haPolicy('least_request', ejection), haPolicy('ring_hash', ejection), roundRobin(ejection)]) {
    it(`${label(policy)}: an endpoint failing every call is ejected after 5 failures and returns after 800 ms`, async () => {
      const c = client(servers, policy);
      const bad = servers[2]!;
      // The moment of the ejection, taken in the tick it happens: a loaded machine may run the
      // test's own code long after the fifth failure, which would shorten the measured absence.
      let ejectedAt: number | undefined;
      const unsubscribe = onEvent((e) => {
        if (e.event === 'endpoint_ejected' && e.endpoint === bad.address) ejectedAt ??= performance.now();
      });
      try {
        await warm(c, servers);
        bad.setFailure(UNAVAILABLE_EVERY_CALL);
        // One call at a time: the fifth failure ejects before the next call is picked.
        let failed = 0;
        for (let i = 0; bad.stats.failures < 5; i++) {
          await unary(c, keyed(i)).catch(() => failed++);
          assert.ok(i < 500, 'the failing backend should get 5 calls');
        }
        assert.ok(ejectedAt !== undefined, 'the channel reports the ejection');
        assert.equal(failed, 5);
        // Within the ejection time only (a loaded machine may take longer than 800 ms for 150 calls).
        const sent = await send(c, 150, 1, 500);
        assert.equal(sent.failed, 0, sent.errors.join('; '));
        assert.equal(bad.stats.failures, 5, 'no call reaches the ejected endpoint');
        bad.setFailure(null);
        const calls = bad.stats.calls;
        await driveUntil(c, () => bad.stats.calls > calls, 'the endpoint to return', 5000);
        const away = performance.now() - ejectedAt;
        assert.ok(away >= 790 && away < 3000, `back after ${Math.round(away)} ms`);
      } finally {
        unsubscribe();
        c.close();
      }
    });
  }

  it('failure percentage (A50): an endpoint failing 70 % of calls is ejected at the end of an interval', async () => {
    const policy = haPolicy('random', {
      outlierEjection: {
        consecutiveFailures: 0,
        // A50 counts only hosts with requestVolume calls in one interval, and the test sends one
        // call at a time: a 1 s interval and a volume of 10 keep every host counted even when a
        // loaded machine makes each call take 20 ms (300 ms and 20 did not: no ejection in 5 s).
        intervalMs: 1000,
        baseEjectionTimeMs: 30_000,
        failurePercentage: { threshold: 50, minimumHosts: 3, requestVolume: 10 },
      },
    });
    const c = client(servers, policy);
    const before = outlierEjectionCounters();
    try {
      servers[1]!.setFailure({ code: status.UNAVAILABLE, rate: 0.7 });
      await driveUntil(c, () => outlierEjectionCounters().enforced.failure_percentage > before.enforced.failure_percentage, 'an ejection', 8000);
      const calls = servers[1]!.stats.calls;
      const sent = await send(c, 200);
      assert.equal(sent.failed, 0, sent.errors.join('; '));
      assert.equal(servers[1]!.stats.calls, calls);
    } finally {
      c.close();
    }
  });

  it('max ejection percent: with 10 %, one of two failing endpoints is ejected, the other is not', async () => {
    const policy = haPolicy('least_request', { outlierEjection: { maxEjectionPercent: 10, baseEjectionTimeMs: 30_000 } });
    const c = client(servers, policy);
    const before = outlierEjectionCounters();
    try {
      await warm(c, servers);
      servers[0]!.setFailure(UNAVAILABLE_EVERY_CALL);
      servers[1]!.setFailure(UNAVAILABLE_EVERY_CALL);
      await send(c, 200);
      const now = [servers[0]!.stats.calls, servers[1]!.stats.calls];
      await send(c, 200);
      const moved = [servers[0]!.stats.calls - now[0]!, servers[1]!.stats.calls - now[1]!];
      assert.equal(moved.filter((n) => n === 0).length, 1, `exactly one failing endpoint ejected: ${moved}`);
      const after = outlierEjectionCounters();
      assert.equal(after.enforced.consecutive_failures - before.enforced.consecutive_failures, 1);
      assert.ok(after.overflow > before.overflow, 'refused ejections are counted as overflow');
      assert.ok(after.detected.consecutive_failures - before.detected.consecutive_failures >= 2);
    } finally {
      c.close();
    }
  });

  it('an ejected endpoint whose health check says SERVING anew returns before its ejection time', async () => {
    const policy = haPolicy('least_request', { outlierEjection: { baseEjectionTimeMs: 30_000 } });
    const c = client(servers, policy);
    const bad = servers[0]!;
    try {
      await warm(c, servers);
      bad.setFailure(UNAVAILABLE_EVERY_CALL);
      await driveUntil(c, () => bad.stats.failures >= 5, 'five failures');
      bad.setFailure(null);
      const calls = bad.stats.calls;
      await send(c, 100);
      assert.equal(bad.stats.calls, calls, 'ejected');
      // A restart or a recovery: the server reports NOT_SERVING, then SERVING again.
      bad.setServing(false);
      bad.setServing(true);
      await driveUntil(c, () => bad.stats.calls > calls, 'the endpoint to return', 2000);
    } finally {
      c.close();
    }
  });

  it('with nothing to pick, the call says why: NOT_SERVING, ejected (5 consecutive UNAVAILABLE)', async () => {
    const two = servers.slice(0, 2);
    const c = client(two, haPolicy('least_request', { outlierEjection: {}, panicThresholdPercent: 0 }));
    try {
      await warm(c, two);
      two[0]!.setServing(false);
      two[1]!.setFailure(UNAVAILABLE_EVERY_CALL);
      await delay(50);
      await driveUntil(c, () => two[1]!.stats.failures >= 5, 'five failures');
      const error = await unary(c).then(
        () => assert.fail('the call should fail'),
        (e: ServiceError) => e,
      );
      assert.equal(error.code, status.UNAVAILABLE);
      assert.equal(error.details, `no healthy endpoint for ${ECHO}: 2 known — 1 NOT_SERVING, 1 ejected (5 consecutive UNAVAILABLE)`);
    } finally {
      c.close();
    }
  });
});
