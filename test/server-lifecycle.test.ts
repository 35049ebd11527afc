/**
 * The server lifecycle: the drain order (NOT_SERVING first, in-flight calls finish, the rest are
 * forced after the grace period) and failover with real processes killed by real signals:
 * SIGTERM under load fails no call; SIGKILL under load fails no idempotent call when retries are on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { createClient } from '../src/client/create-client.js';
import { spawnBackend, type BackendProcess } from '../src/example/backend-process.js';
import { ECHO_SERVICE_NAME, echoServiceDefinition, EchoClient, type EchoReply } from '../src/example/echo-service.js';
import { createEchoService } from '../src/example/example-server.js';
import { serve } from '../src/server/ha-server.js';

const HealthClient = (
  (loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as GrpcObject).grpc as GrpcObject & { health: { v1: { Health: ServiceClientConstructor } } }
).health.v1.Health;

function unary(c: EchoClient, deadlineMs = 5000): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    c.unary({ message: 'x' }, { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, r) => (err ? reject(err) : resolve(r!))),
  );
}

/** Closed-loop load until `stop()`; counts successes, failures and replies per backend. */
function load(c: EchoClient, concurrency: number) {
  let running = true;
  const result = { ok: 0, failed: [] as string[], byServer: new Map<string, number>() };
  const workers = Array.from({ length: concurrency }, async () => {
    for (let i = 0; running && i < 100_000; i++) {
      try {
        const r = await unary(c);
        result.ok++;
        result.byServer.set(r.serverId, (result.byServer.get(r.serverId) ?? 0) + 1);
      } catch (error) {
        result.failed.push((error as Error).message);
      }
    }
  });
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('server lifecycle', () => {
  it('drains in order: NOT_SERVING at once, in-flight calls finish, then the listener closes', async () => {
    const echo = createEchoService({ id: 'drainer', latencyMs: 300 });
    const instance = await serve({
      services: [{ definition: echoServiceDefinition, implementation: echo.implementation, name: ECHO_SERVICE_NAME }],
      drainNoticeMs: 300,
      drainGraceMs: 3000,
      handleSignals: false,
    });
    const health = new HealthClient(instance.address, credentials.createInsecure());
    const client = new EchoClient(instance.address, credentials.createInsecure());
    try {
      const statuses: { status: string; at: number }[] = [];
      const watch = health.watch({ service: ECHO_SERVICE_NAME });
      watch.on('data', (r: { status: string }) => statuses.push({ status: r.status, at: performance.now() }));
      watch.on('error', () => undefined);
      await unary(client);
      const inflight = unary(client);
      await sleep(50);
      const t0 = performance.now();
      const stopped = instance.shutdown();
      assert.equal(instance.state, 'draining');
      await sleep(100);
      // During the notice wait the instance still serves new calls (clients are moving away).
      const duringNotice = unary(client);
      assert.equal((await inflight).serverId, 'drainer', 'the in-flight call finished');
      assert.equal((await duringNotice).serverId, 'drainer');
      await stopped;
      assert.equal(instance.state, 'stopped');
      const notServing = statuses.find((s) => s.status === 'NOT_SERVING');
      assert.ok(notServing, `watch saw ${JSON.stringify(statuses)}`);
      assert.ok(notServing.at - t0 < 100, `NOT_SERVING reached the watcher after ${notServing.at - t0} ms`);
      await assert.rejects(unary(client, 500), (e: ServiceError) => e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED);
      watch.cancel();
    } finally {
      health.close();
      client.close();
      await instance.shutdown({ force: true });
    }
  });

  it('ends calls still in flight after the grace period with UNAVAILABLE "server shutting down", not CANCELLED', async () => {
    const echo = createEchoService({ latencyMs: 5000 });
    const instance = await serve({
      services: [{ definition: echoServiceDefinition, implementation: echo.implementation, name: ECHO_SERVICE_NAME }],
      drainNoticeMs: 0,
      drainGraceMs: 200,
      handleSignals: false,
    });
    const client = new EchoClient(instance.address, credentials.createInsecure());
    try {
      const slow = unary(client, 10_000).then(
        () => null,
        (e: ServiceError) => e,
      );
      await sleep(100);
      const t0 = performance.now();
      await instance.shutdown();
      assert.ok(performance.now() - t0 < 1500, 'shutdown did not wait for the 5 s call');
      const error = await slow;
      assert.equal(error?.code, status.UNAVAILABLE);
      assert.match(error.details, /^server shutting down \(shutdown\); reconnect to another instance$/);
    } finally {
      client.close();
    }
  });
});

describe('failover with real processes', () => {
  const startThree = () =>
    Promise.all([0, 1, 2].map((i) => spawnBackend({ id: `p${i}`, latencyMs: 5, drainNoticeMs: 300, drainGraceMs: 5000, env: { GRPC_HA_LOG_LEVEL: 'warn' } })));

  it('SIGTERM of a backend under load fails no call, and the backend exits 0', async () => {
    const backends: BackendProcess[] = await startThree();
    const client = createClient(EchoClient, `ipv4:${backends.map((b) => b.address).join(',')}`, { policy: 'least_request' });
    try {
      await unary(client);
      const run = load(client, 8);
      await sleep(700);
      const code = backends[1]!.stop('SIGTERM');
      await sleep(1200);
      const result = await run.stop();
      assert.equal(await code, 0, 'the drained backend exited 0');
      assert.deepEqual(result.failed, [], `${result.failed.length} of ${result.ok + result.failed.length} calls failed`);
      assert.ok(result.ok > 100, `only ${result.ok} calls`);
    } finally {
      client.close();
      await Promise.all(backends.map((b) => b.stop('SIGKILL')));
    }
  });

  it('SIGKILL of a backend under load fails no idempotent call with retries on', async () => {
    const backends: BackendProcess[] = await startThree();
    const client = createClient(EchoClient, `ipv4:${backends.map((b) => b.address).join(',')}`, {
      policy: 'least_request',
      idempotent: [ECHO_SERVICE_NAME],
      // A6's cap rather than the default 3: on a CPU-starved CI machine a retry, which A6 may send
      // at once (backoff is random in [0, initial]), can be picked before the channel has
      // processed the dead connection, and fail on it again (seen once in a full-suite run).
      retry: { maxAttempts: 5 },
    });
    try {
      await unary(client);
      const run = load(client, 8);
      await sleep(700);
      await backends[1]!.stop('SIGKILL');
      await sleep(1000);
      const result = await run.stop();
      assert.deepEqual(result.failed, [], `${result.failed.length} of ${result.ok + result.failed.length} calls failed`);
      assert.ok((result.byServer.get('p1') ?? 0) > 0, 'the killed backend had served calls before');
    } finally {
      client.close();
      await Promise.all(backends.map((b) => b.stop('SIGKILL')));
    }
  });
});

describe('workers mode', () => {
  it('workers share one port, and SIGTERM to the primary drains them all without a failed call', async () => {
    const node = await spawnBackend({ workers: 2, id: 'c', drainNoticeMs: 300, env: { GRPC_HA_LOG_LEVEL: 'warn' } });
    // The primary hands each TCP connection to one worker, so use several connections: channels
    // with their own subchannel pools do not share one.
    const clients = Array.from({ length: 4 }, () =>
      createClient(EchoClient, `ipv4:${node.address}`, { policy: 'least_request', channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }),
    );
    try {
      await Promise.all(clients.map((c) => unary(c)));
      const runs = clients.map((c) => load(c, 2));
      await sleep(800);
      const code = node.stop('SIGTERM', 15_000);
      await sleep(200);
      const results = await Promise.all(runs.map((r) => r.stop()));
      assert.equal(await code, 0, 'the primary exited 0 after its workers drained');
      const workers = new Set(results.flatMap((r) => [...r.byServer.keys()]));
      assert.ok(workers.size >= 2, `replies came from ${[...workers].join(', ')}: one worker only`);
      // Calls made after the listener closed fail: the only instance is gone. A call in flight may not fail.
      const inflightFailures = results.flatMap((r) => r.failed).filter((m) => !/UNAVAILABLE/.test(m));
      assert.deepEqual(inflightFailures, []);
      // Calls flowed through the drain (a loaded machine sends far fewer than a quiet one's hundreds).
      const ok = results.reduce((a, r) => a + r.ok, 0);
      assert.ok(ok > 20, `${ok} calls succeeded`);
    } finally {
      for (const c of clients) c.close();
      await node.stop('SIGKILL');
    }
  });
});
