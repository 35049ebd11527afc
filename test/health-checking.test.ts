/**
 * Client-side health checking (gRFC A17) on real servers: an endpoint whose health turns
 * NOT_SERVING gets no new call once the Watch update arrives and comes back on SERVING; a server
 * without the health service stays in rotation; one Watch stream per connection however many
 * policies and channels share it; a failing stream is retried with backoff; when nothing can be
 * picked the call says why. For every grpc-ha policy and for grpc-js round_robin (health_aware).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import {
  client,
  warm,
  delay,
  driveUntil,
  ECHO,
  haPolicy,
  label,
  roundRobin,
  send,
  unary,
  waitFor,
} from './health-helpers.js';

const POLICIES = [
  haPolicy('random'),
  haPolicy('weighted_random'),
  haPolicy('static_weighted_round_robin'),
  haPolicy('least_request'),
  haPolicy('peak_ewma'),
  haPolicy('ring_hash'),
  roundRobin(),
];

describe('client health checking (A17)', () => {
  let servers: ExampleServer[] = [];
  before(async () => {
    servers = await Promise.all([0, 1, 2].map((i) => startExampleServer({ id: `h${i}` })));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  for (const policy of POLICIES) {
    it(`${label(policy)}: a NOT_SERVING endpoint gets no new call after the Watch update, and returns on SERVING`, async () => {
      const c = client(servers, policy);
      const flipped = servers[1]!;
      try {
        await warm(c, servers);
        flipped.setServing(false);
        // The update travels one loopback hop; 50 ms is far more than it needs.
        await delay(50);
        const before = flipped.stats.calls;
        const sent = await send(c, 300);
        assert.equal(sent.failed, 0, sent.errors.join('; '));
        assert.equal(flipped.stats.calls, before, `${flipped.id} got ${flipped.stats.calls - before} calls while NOT_SERVING`);
        flipped.setServing(true);
        const back = flipped.stats.calls;
        await driveUntil(c, () => flipped.stats.calls > back, `${flipped.id} to get calls again`);
      } finally {
        flipped.setServing(true);
        c.close();
      }
    });
  }

  for (const policy of [haPolicy('least_request'), roundRobin()]) {
    it(`${label(policy)}: without any healthy endpoint, calls fail UNAVAILABLE saying why`, async () => {
      const c = client(servers, { ...policy, [Object.keys(policy)[0]!]: { ...Object.values(policy)[0], panicThresholdPercent: 0 } });
      try {
        await warm(c, servers);
        for (const s of servers) s.setServing(false);
        await delay(50);
        const error = await unary(c).then(
          () => assert.fail('the call should fail'),
          (e: ServiceError) => e,
        );
        assert.equal(error.code, status.UNAVAILABLE);
        assert.equal(error.details, `no healthy endpoint for ${ECHO}: 3 known — 3 NOT_SERVING`);
      } finally {
        for (const s of servers) s.setServing(true);
        c.close();
      }
    });
  }
});

describe('servers without the health service (UNIMPLEMENTED) stay in rotation', () => {
  let servers: ExampleServer[] = [];
  before(async () => {
    servers = await Promise.all([
      startExampleServer({ id: 'n0' }),
      startExampleServer({ id: 'n1', health: false }),
      startExampleServer({ id: 'n2' }),
    ]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  for (const policy of [haPolicy('least_request'), haPolicy('static_weighted_round_robin'), roundRobin()]) {
    it(label(policy), async () => {
      const c = client(servers, policy);
      try {
        const sent = await send(c, 300);
        assert.equal(sent.failed, 0, sent.errors.join('; '));
        for (const s of servers) assert.ok((sent.byServer.get(s.id) ?? 0) > 30, `${s.id}: ${JSON.stringify([...sent.byServer])}`);
      } finally {
        c.close();
      }
    });
  }
});

/** A server whose health service is scripted: counts Watch streams, answers with `answer`. */
async function scriptedHealthServer(id: string, answer: (call: ServerWritableStream<{ service: string }, unknown>, n: number) => void) {
  const server = await startExampleServer({ id, health: false });
  const watches = { started: 0, active: 0, times: [] as number[] };
  server.server.addService(healthService, {
    check: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => callback(null, { status: 'SERVING' }),
    watch: (call: ServerWritableStream<{ service: string }, unknown>) => {
      watches.started++;
      watches.active++;
      watches.times.push(performance.now());
      call.on('cancelled', () => watches.active--);
      call.on('finish', () => watches.active--);
      answer(call, watches.started);
    },
  });
  return { server, watches };
}

describe('one Watch stream per connection', () => {
  it('is shared by the policies nested on a channel and by channels sharing subchannels', async () => {
    const backends = await Promise.all([0, 1].map((i) => scriptedHealthServer(`w${i}`, (call) => call.write({ status: 'SERVING' }))));
    const servers = backends.map((b) => b.server);
    // health_aware around least_request (one health layer over least_request's bare balancer),
    // twice with the same options: grpc-js shares the subchannels, and the Watch stream goes with them.
    const policy = { health_aware: { childPolicy: [{ least_request: {} }] } };
    const clients = [client(servers, policy), client(servers, policy)];
    try {
      for (const c of clients) {
        const sent = await send(c, 50);
        assert.equal(sent.failed, 0, sent.errors.join('; '));
      }
      for (const b of backends) assert.equal(b.watches.started, 1, `${b.server.id}: ${b.watches.started} Watch streams`);
    } finally {
      for (const c of clients) c.close();
    }
    // Closing the channels ends the streams.
    await waitFor(() => backends.every((b) => b.watches.active === 0), 'Watch streams to end after close', 3000);
    await Promise.all(servers.map((s) => s.stop(0)));
  });
});

describe('a failing Watch stream', () => {
  it('keeps the endpoint out of rotation and is retried with backoff (1 s ± 20 %)', async () => {
    const healthy = await startExampleServer({ id: 'f0' });
    // The first two Watch calls fail with INTERNAL before any message; the third answers SERVING.
    const flaky = await scriptedHealthServer('f1', (call, n) => {
      if (n <= 2) call.emit('error', { code: status.INTERNAL, details: 'health backend down' });
      else call.write({ status: 'SERVING' });
    });
    const c = client([healthy, flaky.server], haPolicy('least_request'));
    try {
      const sent = await send(c, 100);
      assert.equal(sent.failed, 0, sent.errors.join('; '));
      assert.equal(sent.byServer.get('f1') ?? 0, 0, 'no call while the health check fails');
      await waitFor(() => flaky.watches.started >= 3, 'the third Watch', 5000);
      const [t1, t2, t3] = flaky.watches.times;
      assert.ok(t2! - t1! >= 750 && t2! - t1! <= 1300, `first retry after ${t2! - t1!} ms`);
      assert.ok(t3! - t2! >= 1200 && t3! - t2! <= 2000, `second retry after ${t3! - t2!} ms (1.6 s ± 20 %)`);
      await driveUntil(c, () => flaky.server.stats.calls > 0, 'f1 to take calls once SERVING');
    } finally {
      c.close();
      await Promise.all([healthy.stop(0), flaky.server.stop(0)]);
    }
  });
});
