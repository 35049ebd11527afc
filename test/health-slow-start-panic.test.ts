/**
 * Slow start and the panic threshold on real servers: an endpoint that returns to service gets a
 * growing share of calls over the slow start window instead of a full share at once; when fewer
 * than half the endpoints are healthy, health is disregarded and the calls spread over all of
 * them, and when enough recover the unhealthy ones are left out again. For grpc-ha policies and
 * grpc-js round_robin (health_aware).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { client, warm, delay, haPolicy, label, roundRobin, send } from './health-helpers.js';

describe('slow start', () => {
  let servers: ExampleServer[] = [];
  before(async () => {
    servers = await Promise.all([0, 1, 2].map((i) => startExampleServer({ id: `s${i}` })));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  const slowStart = { slowStart: { windowMs: 3000 } };
  for (const policy of [haPolicy('least_request', slowStart), haPolicy('weighted_random', slowStart), roundRobin(slowStart)]) {
    it(`${label(policy)}: a returning endpoint's share ramps up over the 3 s window`, async () => {
      const returning = servers[2]!;
      returning.setServing(false);
      const c = client(servers, policy);
      try {
        await warm(c, servers.slice(0, 2));
        returning.setServing(true);
        const start = performance.now();
        // Shares per 600 ms bucket while the window runs, then one after it.
        const shares: number[] = [];
        for (const end of [600, 1200, 1800, 2400, 3000, 3800]) {
          const before = servers.map((s) => s.stats.calls);
          while (performance.now() - start < end) await send(c, 20, 4);
          const delta = servers.map((s, i) => s.stats.calls - before[i]!);
          shares.push(delta[2]! / delta.reduce((a, b) => a + b, 0));
        }
        const text = shares.map((s) => s.toFixed(2)).join(', ');
        // Envoy's factor: max(10 %, max(t, 1 s) / 3 s): 1/3 of a full share in the first second
        // (1/7 of the calls), the full third after the window.
        // least_request is the approximate case (README): P2C prefers the newcomer, which slow
        // start keeps idle, so some rejected picks come back to it. Measured 0.17-0.22 for it
        // (0.12-0.16 for the others) against a full share of 0.33.
        const firstBound = label(policy).startsWith('least_request') ? 0.26 : 0.22;
        assert.ok(shares[0]! < firstBound, `first bucket ${text}`);
        assert.ok(shares[5]! > 0.27, `after the window ${text}`);
        // At 2.4 s the expected share (0.29) is within 0.05 of the full one: the second check only
        // says the ramp does not overshoot, with room for a loaded machine's small buckets.
        assert.ok(shares[0]! < shares[3]! && shares[3]! < shares[5]! + 0.06, `ramps up: ${text}`);
      } finally {
        returning.setServing(true);
        c.close();
      }
    });
  }
});

describe('panic threshold', () => {
  let servers: ExampleServer[] = [];
  before(async () => {
    servers = await Promise.all([0, 1, 2].map((i) => startExampleServer({ id: `p${i}` })));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  const shareOf = async (c: Parameters<typeof send>[0]) => {
    await delay(50);
    const sent = await send(c, 240);
    assert.equal(sent.failed, 0, sent.errors.join('; '));
    return servers.map((s) => sent.byServer.get(s.id) ?? 0);
  };

  for (const policy of [haPolicy('least_request'), haPolicy('random'), roundRobin()]) {
    it(`${label(policy)}: kicks in below 50 % healthy and out again above`, async () => {
      const c = client(servers, policy);
      try {
        await warm(c, servers);
        servers[0]!.setServing(false);
        let counts = await shareOf(c);
        assert.equal(counts[0], 0, `2 of 3 healthy: p0 is left out: ${counts}`);
        servers[1]!.setServing(false);
        counts = await shareOf(c);
        assert.ok(counts.every((n) => n > 30), `1 of 3 healthy (< 50 %): panic, calls spread over all: ${counts}`);
        servers[1]!.setServing(true);
        counts = await shareOf(c);
        assert.equal(counts[0], 0, `2 of 3 healthy again: p0 is left out: ${counts}`);
        assert.ok(counts[1]! > 30 && counts[2]! > 30, `${counts}`);
      } finally {
        for (const s of servers) s.setServing(true);
        c.close();
      }
    });
  }

  it('panicThresholdPercent 0 disables it: the one healthy endpoint takes every call', async () => {
    const c = client(servers, haPolicy('least_request', { panicThresholdPercent: 0 }));
    try {
      await warm(c, servers);
      servers[0]!.setServing(false);
      servers[1]!.setServing(false);
      const counts = await shareOf(c);
      assert.deepEqual(counts, [0, 0, 240]);
    } finally {
      for (const s of servers) s.setServing(true);
      c.close();
    }
  });
});
