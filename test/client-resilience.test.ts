/**
 * The resilient client on real servers: default deadlines, retries of idempotent methods, the
 * retry budget in an outage, hedging, deadline/cancellation propagation, and errors that say
 * which method on which target failed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { createClient } from '../src/client/create-client.js';
import { downstreamCallOptions } from '../src/client/propagate.js';
import { ECHO_SERVICE_NAME, echoServiceDefinition, EchoClient, type EchoReply } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { GrpcHaError } from '../src/core/errors.js';

const started: ExampleServer[] = [];
async function servers(...options: Parameters<typeof startExampleServer>[0][]): Promise<ExampleServer[]> {
  const s = await Promise.all(options.map((o) => startExampleServer(o)));
  started.push(...s);
  return s;
}
after(async () => {
  await Promise.all(started.map((s) => s.stop(0)));
});

const target = (s: readonly ExampleServer[]) => `ipv4:${s.map((x) => x.address).join(',')}`;

/** Waits until the client's channel has connected to every backend: calls until each has answered. */
async function connectAll(c: EchoClient, backends: readonly ExampleServer[]): Promise<void> {
  await new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 5000, (e) => (e ? reject(e) : resolve())));
  for (let i = 0; i < 100 && backends.some((b) => b.stats.calls === 0); i++) await unary(c).catch(() => undefined);
}

function unary(c: EchoClient, deadlineMs?: number): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    c.unary({ message: 'hi' }, deadlineMs ? { deadline: Date.now() + deadlineMs } : {}, (err: ServiceError | null, r) =>
      err ? reject(err) : resolve(r!),
    ),
  );
}

async function settle(promises: Promise<unknown>[]): Promise<{ ok: number; failed: ServiceError[] }> {
  const results = await Promise.allSettled(promises);
  return {
    ok: results.filter((r) => r.status === 'fulfilled').length,
    failed: results.flatMap((r) => (r.status === 'rejected' ? [r.reason as ServiceError] : [])),
  };
}

describe('resilient client', () => {
  it('gives unary calls a default deadline and says which method on which target failed', async () => {
    const [slow] = await servers({ id: 'slow', latencyMs: 400 });
    const c = createClient(EchoClient, target([slow!]), { deadlineMs: 100 });
    try {
      const t0 = performance.now();
      await assert.rejects(unary(c), (e: ServiceError) => {
        assert.equal(e.code, status.DEADLINE_EXCEEDED);
        assert.match(e.details, new RegExp(`method /${ECHO_SERVICE_NAME.replace(/\./g, '\\.')}/Unary, target ipv4:127\\.0\\.0\\.1:${slow!.port}`));
        return true;
      });
      assert.ok(performance.now() - t0 < 350, 'the default deadline cut the call short');
      // A server stream is long-lived by design: no default deadline.
      const replies: EchoReply[] = [];
      await new Promise<void>((resolve, reject) => {
        const call = c.serverStream({ message: 's', count: 2 });
        call.on('data', (r: EchoReply) => replies.push(r));
        call.on('error', reject);
        call.on('end', resolve);
      });
      assert.equal(replies.length, 2);
    } finally {
      c.close();
    }
  });

  it('retries idempotent methods on another backend, and only idempotent ones', async () => {
    const [bad, good] = await servers({ id: 'bad', failure: { code: status.UNAVAILABLE, rate: 1 } }, { id: 'good' });
    const policy = 'static_weighted_round_robin'; // alternates, so a retry lands on the other backend
    const idempotent = createClient(EchoClient, target([bad!, good!]), { policy, idempotent: [ECHO_SERVICE_NAME] });
    const plain = createClient(EchoClient, target([bad!, good!]), { policy });
    try {
      await connectAll(idempotent, [bad!, good!]);
      await connectAll(plain, [bad!, good!]);
      // One call at a time, so each retry takes the next turn of the rotation: the other backend.
      const sequential = async (c: EchoClient) => {
        const results = [];
        for (let i = 0; i < 40; i++) results.push(await settle([unary(c)]));
        return { ok: results.reduce((a, r) => a + r.ok, 0), failed: results.flatMap((r) => r.failed) };
      };
      const withRetries = await sequential(idempotent);
      assert.equal(withRetries.ok, 40, `failures: ${withRetries.failed.map((e) => e.message).slice(0, 2)}`);
      const without = await sequential(plain);
      assert.equal(without.failed.length, 20, `without retries every call on the bad backend fails`);
    } finally {
      idempotent.close();
      plain.close();
    }
  });

  it('the retry budget stops retries when every backend fails', async () => {
    const failing = await servers(
      { id: 'f0', failure: { code: status.UNAVAILABLE, rate: 1 } },
      { id: 'f1', failure: { code: status.UNAVAILABLE, rate: 1 } },
    );
    const attempts = () => failing.reduce((a, s) => a + s.stats.calls, 0);
    const run = async (retryBudget: false | undefined) => {
      const c = createClient(EchoClient, target(failing), { idempotent: [ECHO_SERVICE_NAME], retry: { initialBackoffMs: 1, maxBackoffMs: 2 }, retryBudget });
      const before = attempts();
      try {
        for (let i = 0; i < 120; i++) await unary(c).catch(() => undefined);
      } finally {
        c.close();
      }
      return attempts() - before;
    };
    const unlimited = await run(false);
    const budgeted = await run(undefined);
    assert.equal(unlimited, 360, 'without a budget every call makes 3 attempts');
    // 100 tokens, retries stop at 50: ~50 attempts with retries, then one attempt per call.
    assert.ok(budgeted <= 160, `with the budget ${budgeted} attempts for 120 calls`);
  });

  it('hedging sends a second attempt after the delay and uses the first answer', async () => {
    const [slow, fast] = await servers({ id: 'hedge-slow', latencyMs: 600 }, { id: 'hedge-fast' });
    const c = createClient(EchoClient, target([slow!, fast!]), {
      policy: 'static_weighted_round_robin',
      idempotent: [`${ECHO_SERVICE_NAME}/Unary`],
      hedging: { delayMs: 40 },
    });
    try {
      await connectAll(c, [slow!, fast!]);
      const slowBefore = slow!.stats.calls;
      const t0 = performance.now();
      const replies = [];
      for (let i = 0; i < 6; i++) replies.push(await unary(c));
      const elapsed = performance.now() - t0;
      assert.ok(replies.every((r) => r.serverId === 'hedge-fast'), `${replies.map((r) => r.serverId)}`);
      assert.ok(elapsed < 6 * 300, `6 calls took ${elapsed} ms: the slow backend was waited for`);
      assert.ok(slow!.stats.calls - slowBefore >= 2, 'first attempts went to the slow backend and were hedged');
    } finally {
      c.close();
    }
  });

  it('propagates the deadline and cancellation to a downstream call', async () => {
    const [backend] = await servers({ id: 'downstream', latencyMs: 3000 });
    const downstream = new EchoClient(backend!.address, (await import('@grpc/grpc-js')).credentials.createInsecure());
    const outcomes: { code: number; afterMs: number }[] = [];
    const front = new Server();
    front.addService(echoServiceDefinition, {
      unary: (call: Parameters<Parameters<typeof front.addService>[1][string]>[0], callback: (e: unknown, r?: unknown) => void) => {
        const t0 = performance.now();
        downstream.unary({ message: 'down' }, downstreamCallOptions(call as never), (err: ServiceError | null) => {
          outcomes.push({ code: err?.code ?? 0, afterMs: performance.now() - t0 });
          callback(err);
        });
      },
    } as never);
    const port = await new Promise<number>((resolve, reject) =>
      front.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const c = new EchoClient(`127.0.0.1:${port}`, (await import('@grpc/grpc-js')).credentials.createInsecure());
    try {
      await assert.rejects(unary(c, 200), (e: ServiceError) => e.code === status.DEADLINE_EXCEEDED);
      const call = c.unary({ message: 'x' }, () => undefined);
      setTimeout(() => call.cancel(), 150);
      const deadline = Date.now() + 2000;
      while (outcomes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(outcomes.length, 2, 'both downstream calls ended');
      // The downstream deadline fires, or the caller's expiry cancels it first: either ends it early.
      assert.ok([status.DEADLINE_EXCEEDED, status.CANCELLED].includes(outcomes[0]!.code), `code ${outcomes[0]!.code}`);
      assert.ok(outcomes[0]!.afterMs < 1000, `downstream ran ${outcomes[0]!.afterMs} ms past a 200 ms deadline`);
      assert.equal(outcomes[1]!.code, status.CANCELLED);
      assert.ok(outcomes[1]!.afterMs < 1000, `downstream ran ${outcomes[1]!.afterMs} ms after the caller cancelled`);
    } finally {
      c.close();
      downstream.close();
      front.forceShutdown();
    }
  });

  it('rejects invalid options naming the field and the rule', () => {
    const reject = (options: Parameters<typeof createClient>[2], message: string) =>
      assert.throws(() => createClient(EchoClient, 'ipv4:127.0.0.1:1', options), (e: unknown) => e instanceof GrpcHaError && e.message === message);
    reject({ retry: { maxAttempts: 1 } }, 'client: retry.maxAttempts must be an integer >= 2, got 1');
    reject({ idempotent: ['not a method'] }, 'client: idempotent.0 must be "package.Service" or "package.Service/Method", got "not a method"');
    reject({ deadlineMs: -5 }, 'client: deadlineMs must be a number > 0, got -5');
  });
});
