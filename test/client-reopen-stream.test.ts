/**
 * reopenStream's bounds, against real grpc-js servers: it gives up after maxReopens reopens that
 * the server does not accept (backing off between them), rethrows any status but UNAVAILABLE at
 * once, ends with the stream's OK end, and names a bad option.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { reopenStream } from '../src/client/reopen-stream.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer } from '../src/example/example-server.js';

describe('reopenStream', () => {
  it('gives up after maxReopens refused reopens, backing off, and throws the last UNAVAILABLE', async () => {
    const server = await startExampleServer({ failure: { code: status.UNAVAILABLE, rate: 1 } });
    const client = new EchoClient(server.address, credentials.createInsecure());
    const attempts: { attempt: number; at: number }[] = [];
    try {
      const t0 = performance.now();
      const run = async () => {
        for await (const _ of reopenStream(() => client.serverStream({ message: 'x', count: 3 }), { maxReopens: 3, backoff: { initialMs: 40 }, onReopen: (_e, attempt) => attempts.push({ attempt, at: performance.now() - t0 }) })) void _;
      };
      await assert.rejects(run(), (e: ServiceError) => e.code === status.UNAVAILABLE);
      assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
      assert.equal(server.stats.byMethod.serverStream, 4, 'the first stream and 3 reopens');
      // 40, 80, 160 ms ±20 %: at least 0.8 × 280 ms between the first failure and the last call.
      assert.ok(attempts.at(-1)!.at - attempts[0]!.at >= 0.8 * (80 + 40) - 5, JSON.stringify(attempts));
    } finally {
      client.close();
      await server.stop(0);
    }
  });

  it('rethrows any other status at once, and ends when the stream ends OK', async () => {
    const failing = await startExampleServer({ failure: { code: status.PERMISSION_DENIED, rate: 1 } });
    const ok = await startExampleServer({ id: 'ok' });
    const a = new EchoClient(failing.address, credentials.createInsecure());
    const b = new EchoClient(ok.address, credentials.createInsecure());
    try {
      let reopens = 0;
      const drain = async (c: EchoClient) => {
        const got: string[] = [];
        for await (const r of reopenStream(() => c.serverStream({ message: 'm', count: 3 }), { onReopen: () => reopens++ })) got.push(r.message);
        return got;
      };
      await assert.rejects(drain(a), (e: ServiceError) => e.code === status.PERMISSION_DENIED);
      assert.deepEqual(await drain(b), ['m:0', 'm:1', 'm:2']);
      assert.equal(reopens, 0);
    } finally {
      a.close();
      b.close();
      await Promise.all([failing.stop(0), ok.stop(0)]);
    }
  });

  it('names a bad option', async () => {
    const never = () => {
      throw new Error('not opened');
    };
    await assert.rejects(reopenStream(never, { maxReopens: -1 }).next(), /^GrpcHaError: reopenStream: maxReopens must be an integer >= 0, got -1$/);
    await assert.rejects(reopenStream(never, { backoff: { initalMs: 5 } as never }).next(), /reopenStream: unknown field initalMs in backoff/);
  });
});
