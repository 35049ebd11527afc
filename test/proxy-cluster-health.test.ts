/**
 * Passive health of proxy clusters on real backends: outlier ejection (consecutive failures and
 * A50 failure percentage) takes a failing backend out and brings it back after the ejection
 * time, an UNAVAILABLE names the ejected backends, the panic threshold balances over every
 * connected backend when too few are healthy, slow start ramps a returning backend up, and the
 * config is validated with the field named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { onEvent, type HaEvent } from '../src/observe/events.js';
import { parseProxyConfig } from '../src/proxy/proxy-config.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { echoClient, eventually, proxyFor, rejection, unary } from './support/proxy.js';

const cluster = (proxy: Proxy) => proxy.state().clusters[0]!;
const settle = (p: Promise<unknown>) => p.then(() => 'ok', (e: grpc.ServiceError) => e.code);

/** Calls sent one after another for `ms`; returns how many each server got meanwhile. */
async function spread(client: ReturnType<typeof echoClient>, servers: ExampleServer[], ms: number): Promise<number[]> {
  const before = servers.map((s) => s.stats.calls);
  const end = performance.now() + ms;
  while (performance.now() < end) await Promise.all([0, 1, 2, 3].map(() => settle(unary(client))));
  return servers.map((s, i) => s.stats.calls - before[i]!);
}

describe('proxy cluster: outlier ejection', () => {
  it('ejects a backend after consecutive failures, sends it nothing meanwhile, and takes it back after the ejection time', async () => {
    const good = await Promise.all([startExampleServer({ id: 'g1' }), startExampleServer({ id: 'g2' })]);
    // INTERNAL: the call's own grpc-status reaches the detector (not just "failed").
    const bad = await startExampleServer({ id: 'bad', failure: { code: grpc.status.INTERNAL, rate: 1 } });
    const logs: string[] = [];
    const proxy = await proxyFor(
      {
        clusters: {
          echo: {
            target: [...good, bad].map((s) => s.address).join(','),
            policy: 'round_robin',
            outlierEjection: { consecutiveFailures: 3, baseEjectionTimeMs: 1000, maxEjectionPercent: 50 },
          },
        },
      },
      logs,
    );
    const client = echoClient(proxy);
    const events: HaEvent[] = [];
    const stopEvents = onEvent((e) => events.push(e));
    try {
      for (let i = 0; i < 12; i++) await settle(unary(client));
      assert.equal(bad.stats.calls, 3, 'the third failure in a row ejects it');
      const view = cluster(proxy).backends.find((b) => b.address === bad.address)!;
      assert.deepEqual(view.ejected && { reason: view.ejected.reason, kind: view.ejected.kind }, {
        reason: '3 consecutive INTERNAL',
        kind: 'consecutive_failures',
      });
      assert.equal(cluster(proxy).ejections!.enforced.consecutive_failures, 1);
      assert.ok(logs.some((l) => l.includes(`cluster echo: ejected ${bad.address} for 1000 ms: 3 consecutive INTERNAL`)), logs.join('\n'));
      for (let i = 0; i < 20; i++) assert.notEqual((await unary(client)).serverId, 'bad');
      assert.equal(bad.stats.calls, 3, 'an ejected backend gets no call');
      // After base ejection time × 1, it is picked again.
      await eventually(() => cluster(proxy).backends.every((b) => !b.ejected), 3000, 'the return from ejection');
      for (let i = 0; i < 6; i++) await settle(unary(client));
      assert.ok(bad.stats.calls > 3, 'the backend takes calls again after its ejection');
      assert.ok(logs.some((l) => l.includes(`${bad.address} returns after its ejection`)));
      // The same changes on the observability bus (dashboard, /metrics, onEvent), as the library's channels report them.
      const seen = events.filter((e) => e.source === 'proxy' && e.endpoint === bad.address && e.event !== 'endpoint_healthy').map((e) => `${e.service} ${e.event} ${e.reason ?? ''}`);
      assert.deepEqual(seen.slice(0, 2), ['echo endpoint_ejected 3 consecutive INTERNAL', 'echo endpoint_returned its ejection ended'], seen.join('; '));
    } finally {
      stopEvents();
      client.close();
      await proxy.close(100);
      await Promise.all([...good, bad].map((s) => s.stop(0)));
    }
  });

  it('answers UNAVAILABLE naming the ejected backends when none is left to pick', async () => {
    const bad = await startExampleServer({ id: 'bad', failure: { code: grpc.status.UNAVAILABLE, rate: 1 } });
    const proxy = await proxyFor({
      clusters: { echo: { target: bad.address, outlierEjection: { consecutiveFailures: 2 }, panicThresholdPercent: 0 } },
    });
    const client = echoClient(proxy);
    try {
      for (let i = 0; i < 2; i++) assert.match((await rejection(unary(client))).details, /bad/);
      const error = await rejection(unary(client));
      assert.equal(error.code, grpc.status.UNAVAILABLE);
      assert.match(error.details, /^cluster echo: no backend available; 1 backend: 1 ejected \(2 consecutive UNAVAILABLE\)$/);
      assert.equal(bad.stats.calls, 2);
    } finally {
      client.close();
      await proxy.close(100);
      await bad.stop(0);
    }
  });

  it('ejects by failure percentage (gRFC A50) at the end of an interval', async () => {
    const servers = await Promise.all(['a', 'b', 'c'].map((id) => startExampleServer({ id })));
    servers[2]!.setFailure({ code: grpc.status.INTERNAL, rate: 1 });
    const proxy = await proxyFor({
      clusters: {
        echo: {
          target: servers.map((s) => s.address).join(','),
          policy: 'round_robin',
          outlierEjection: {
            intervalMs: 300,
            consecutiveFailures: 0,
            maxEjectionPercent: 50,
            failurePercentage: { threshold: 50, minimumHosts: 3, requestVolume: 5 },
          },
        },
      },
    });
    const client = echoClient(proxy);
    try {
      await eventually(
        async () => {
          await Promise.all([0, 1, 2, 3, 4, 5].map(() => settle(unary(client))));
          return cluster(proxy).backends.some((b) => b.ejected);
        },
        5000,
        'an ejection',
      );
      const ejected = cluster(proxy).backends.filter((b) => b.ejected);
      assert.deepEqual(ejected.map((b) => [b.address, b.ejected!.kind, b.ejected!.reason]), [
        [servers[2]!.address, 'failure_percentage', 'failure rate 100% > 50%'],
      ]);
      const got = await spread(client, servers, 200);
      assert.equal(got[2], 0, `calls per backend while c is ejected: ${got.join(', ')}`);
    } finally {
      client.close();
      await proxy.close(100);
      await Promise.all(servers.map((s) => s.stop(0)));
    }
  });
});

describe('proxy cluster: panic threshold and slow start', () => {
  let servers: ExampleServer[] = [];
  before(async () => {
    servers = await Promise.all(['s0', 's1', 's2'].map((id) => startExampleServer({ id })));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  it('balances over every connected backend while fewer than panicThresholdPercent are healthy, and stops when enough recover', async () => {
    const proxy = await proxyFor({
      clusters: {
        echo: { target: servers.map((s) => s.address).join(','), policy: 'round_robin', healthCheck: { intervalMs: 50 }, panicThresholdPercent: 50 },
      },
    });
    const client = echoClient(proxy);
    try {
      await eventually(async () => (await spread(client, servers, 50)).every((n) => n > 0), 3000, 'all three serving');
      servers[1]!.setServing(false);
      servers[2]!.setServing(false);
      await eventually(() => cluster(proxy).panic === true, 3000, 'panic mode');
      const inPanic = await spread(client, servers, 200);
      assert.ok(inPanic.every((n) => n > 0), `1 of 3 healthy < 50%: calls go to all: ${inPanic.join(', ')}`);
      servers[1]!.setServing(true);
      await eventually(() => cluster(proxy).panic === undefined, 3000, 'the end of panic mode');
      const calm = await spread(client, servers, 200);
      assert.equal(calm[2], 0, `2 of 3 healthy: the NOT_SERVING one is left out: ${calm.join(', ')}`);
      assert.ok(calm[0]! > 0 && calm[1]! > 0);
    } finally {
      servers[2]!.setServing(true);
      client.close();
      await proxy.close(100);
    }
  });

  it("ramps a returning backend's share up over the slow start window", async () => {
    const returning = servers[2]!;
    returning.setServing(false);
    const proxy = await proxyFor({
      clusters: {
        echo: { target: servers.map((s) => s.address).join(','), policy: 'round_robin', healthCheck: { intervalMs: 50 }, slowStart: { windowMs: 2000 } },
      },
    });
    const client = echoClient(proxy);
    try {
      await eventually(async () => (await spread(client, servers, 50))[1]! > 0, 3000, 's0 and s1 serving');
      // Seen NOT_SERVING first: a backend whose very first answer is SERVING was already warm.
      const s2View = () => cluster(proxy).backends.find((b) => b.address === returning.address)!;
      await eventually(() => s2View().health === 'not_serving', 3000, 's2 seen NOT_SERVING');
      returning.setServing(true);
      await eventually(async () => (await spread(client, servers, 20))[2]! > 0, 3000, 's2 back');
      const share = (got: number[]) => got[2]! / got.reduce((a, b) => a + b, 0);
      // In its first second its factor is max(1 s, t) / 2 s = 0.5: about half of a third.
      const early = share(await spread(client, servers, 600));
      await new Promise((r) => setTimeout(r, 1600));
      const late = share(await spread(client, servers, 400));
      assert.ok(early < 0.25, `early share ${early.toFixed(2)}`);
      assert.ok(late > 0.28, `share after the window ${late.toFixed(2)}`);
    } finally {
      client.close();
      await proxy.close(100);
    }
  });
});

describe('proxy cluster: health config', () => {
  const parse = (cluster: Record<string, unknown>) => () => parseProxyConfig({ clusters: { users: { target: '127.0.0.1:1', ...cluster } } });

  it('validates outlierEjection, slowStart and panicThresholdPercent, naming the field', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ outlierEjection: { baseEjectionTimeMs: 0 } }, /clusters\.users\.outlierEjection\.baseEjectionTimeMs must be an integer >= 1, got 0/],
      [{ outlierEjection: { maxEjectionPercent: 120 } }, /clusters\.users\.outlierEjection\.maxEjectionPercent must be a number in \[0, 100\], got 120/],
      [{ outlierEjection: { failureCodes: ['OK'] } }, /clusters\.users\.outlierEjection\.failureCodes\.0/],
      [{ outlierEjection: { baseEjectionTimeMs: 10_000, maxEjectionTimeMs: 5000 } }, /clusters\.users\.outlierEjection\.maxEjectionTimeMs must be >= baseEjectionTimeMs/],
      [{ slowStart: { windowMs: 10 } }, /clusters\.users\.slowStart\.windowMs must be an integer >= 1000, got 10/],
      [{ panicThresholdPercent: -1 }, /clusters\.users\.panicThresholdPercent must be a number in \[0, 100\], got -1/],
      [{ policy: { least_request: { outlierEjection: {} } } }, /clusters\.users\.policy\.least_request\.outlierEjection: set outlierEjection on the cluster \(clusters\.users\.outlierEjection\)/],
    ];
    for (const [input, message] of cases) assert.throws(parse(input), message);
  });

  it('applies the library defaults (Envoy, A50) to what is left out', () => {
    const config = parseProxyConfig({ clusters: { users: { target: '127.0.0.1:1', outlierEjection: {}, slowStart: { windowMs: 5000 } } } });
    const h = config.clusters.get('users')!.health;
    assert.equal(h.outlierEjection!.baseEjectionTimeMs, 30_000);
    assert.equal(h.outlierEjection!.consecutiveFailures, 5);
    assert.equal(h.outlierEjection!.maxEjectionPercent, 10);
    assert.deepEqual(h.slowStart, { windowMs: 5000, aggression: 1, minWeightPercent: 10 });
    assert.equal(h.panicThresholdPercent, 50);
    assert.equal(parseProxyConfig({ clusters: { users: { target: '127.0.0.1:1' } } }).clusters.get('users')!.health.outlierEjection, null);
  });
});
