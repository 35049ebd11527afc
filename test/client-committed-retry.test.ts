/**
 * A unary call of an idempotent method whose backend dies after sending the reply's headers and
 * message but before its trailers (what a SIGKILL does to a grpc-js server, which sends trailers
 * a few event-loop turns after the message) is sent once more and answered by another backend;
 * the same call of a method not declared idempotent fails UNAVAILABLE, as gRFC A6 has it.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { createClient } from '../src/client/create-client.js';
import { ECHO_SERVICE_NAME, EchoClient, type EchoReply } from '../src/example/echo-service.js';
import { startExampleServer } from '../src/example/example-server.js';

/** A backend that answers every call with headers and an empty message, then drops the connection. */
async function dyingMidReply() {
  const server = http2.createServer();
  const seen = { calls: 0 };
  server.on('stream', (stream) => {
    seen.calls++;
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    // One gRPC message: not compressed, length 0 (an empty EchoReply).
    stream.write(Buffer.alloc(5), () => setTimeout(() => stream.session?.destroy(), 5));
  });
  server.on('session', (s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    seen,
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

function unary(c: EchoClient): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    c.unary({ message: 'x' }, new Metadata(), { deadline: Date.now() + 5000 }, (e: ServiceError | null, r?: EchoReply) => (e ? reject(e) : resolve(r!))),
  );
}

describe('resend of committed idempotent calls', () => {
  it('a call whose backend died after the reply headers is answered by another backend when the method is idempotent', async () => {
    const dying = await dyingMidReply();
    const good = await startExampleServer({ id: 'good' });
    const client = createClient(EchoClient, `ipv4:${dying.address},${good.address}`, { policy: 'round_robin', idempotent: [ECHO_SERVICE_NAME] });
    try {
      for (let i = 0; i < 8; i++) assert.equal((await unary(client)).serverId, 'good');
      assert.ok(dying.seen.calls >= 1, 'the dying backend got calls');
    } finally {
      client.close();
      await good.stop(0);
      await dying.close();
    }
  });

  it('the same call of a method not declared idempotent fails UNAVAILABLE (gRFC A6: committed once headers arrive)', async () => {
    const dying = await dyingMidReply();
    const good = await startExampleServer({ id: 'good' });
    const client = createClient(EchoClient, `ipv4:${dying.address},${good.address}`, { policy: 'round_robin' });
    try {
      const failed: ServiceError[] = [];
      for (let i = 0; i < 8; i++) await unary(client).catch((e: ServiceError) => failed.push(e));
      assert.ok(failed.length >= 1, 'calls on the dying backend fail');
      for (const e of failed) assert.equal(e.code, status.UNAVAILABLE);
      assert.equal(failed.length, dying.seen.calls);
    } finally {
      client.close();
      await good.stop(0);
      await dying.close();
    }
  });
});
