/**
 * Retries of idempotent methods (cluster `retry`), on real backends: a call the backend did not
 * process — the stream refused (REFUSED_STREAM), or above the last-stream-id of its GOAWAY
 * (RFC 9113 §6.8), or its connection lost before any request byte reached it — goes to the next
 * backend, whatever the policy would pick; a call whose request reached a backend that then died
 * is never sent again.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startExampleServer } from '../src/example/example-server.js';
import { echoClient, FRAME, frame, PREFACE, proxyFor, rejection, unary } from './support/proxy.js';

const RETRY = { attempts: 2, idempotentMethods: ['/grpcha.example.v1.Echo/*'] };

/** A bare HTTP/2 backend doing `onStream` to every stream; counts the streams it saw. */
async function h2Backend(onStream: (stream: http2.ServerHttp2Stream) => void) {
  const server = http2.createServer();
  const seen = { streams: 0 };
  server.on('stream', (stream) => {
    seen.streams++;
    stream.on('error', () => {});
    onStream(stream);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    seen,
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => {
      const closed = new Promise((r) => server.close(r));
      for (const s of sessions) s.destroy();
      return closed;
    },
  };
}

/**
 * A bare HTTP/2 backend (RFC 9113 frames on a socket) that answers every request HEADERS with
 * GOAWAY(last-stream-id 0): "not processed" - §6.8. node:http2 cannot do it: nghttp2 raises the
 * last-stream-id to the streams it has already seen.
 */
async function goawayBackend() {
  const seen = { streams: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.write(frame(FRAME.SETTINGS, 0, 0));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!prefaceSeen) {
        if (buffer.length < PREFACE.length) return;
        buffer = buffer.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (buffer.length >= 9 && buffer.length >= 9 + buffer.readUIntBE(0, 3)) {
        const [type, flags] = [buffer[3]!, buffer[4]!];
        buffer = buffer.subarray(9 + buffer.readUIntBE(0, 3));
        if (type === FRAME.SETTINGS && (flags & 1) === 0) socket.write(frame(FRAME.SETTINGS, 1, 0));
        if (type === FRAME.HEADERS) {
          seen.streams++;
          const payload = Buffer.alloc(8); // last-stream-id 0, NO_ERROR
          socket.write(frame(FRAME.GOAWAY, 0, 0, payload));
          socket.end();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    seen,
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => {
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      return closed;
    },
  };
}

describe('proxy cluster: retries', () => {
  for (const policy of ['least_request', 'round_robin', 'random']) {
    it(`${policy}: a refused stream goes to the next backend, never to the one that refused`, async () => {
      const refusing = await h2Backend((stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
      const good = await startExampleServer({ id: 'good' });
      const proxy = await proxyFor({ clusters: { echo: { target: `${refusing.address},${good.address}`, policy, retry: RETRY } } });
      const client = echoClient(proxy);
      try {
        for (let i = 0; i < 20; i++) assert.equal((await unary(client)).serverId, 'good');
        const retries = proxy.state().calls.retries;
        assert.equal(retries, refusing.seen.streams, 'each refusal was retried once, elsewhere');
      } finally {
        client.close();
        await proxy.close(100);
        await good.stop(0);
        await refusing.close();
      }
    });
  }

  it('a stream above the last-stream-id of a GOAWAY is retried on the next backend', async () => {
    const leaving = await goawayBackend();
    const good = await startExampleServer({ id: 'good' });
    const proxy = await proxyFor({ clusters: { echo: { target: `${leaving.address},${good.address}`, policy: 'round_robin', retry: RETRY } } });
    const client = echoClient(proxy);
    try {
      for (let i = 0; i < 10; i++) assert.equal((await unary(client)).serverId, 'good');
      assert.ok(leaving.seen.streams >= 1, 'the leaving backend was tried');
      assert.equal(proxy.state().calls.retries, leaving.seen.streams);
    } finally {
      client.close();
      await proxy.close(100);
      await good.stop(0);
      await leaving.close();
    }
  });

  it('never sends a request again once it reached a backend: a backend dying mid-call gives UNAVAILABLE', async () => {
    // Reads the whole request, then drops the connection without answering.
    const dying = await h2Backend((stream) => {
      stream.resume();
      stream.on('end', () => stream.session!.destroy());
    });
    const good = await startExampleServer({ id: 'good' });
    const proxy = await proxyFor({ clusters: { echo: { target: `${dying.address},${good.address}`, policy: 'round_robin', retry: RETRY } } });
    const client = echoClient(proxy);
    try {
      let failures = 0;
      for (let i = 0; i < 10 && failures === 0; i++) {
        try {
          await unary(client);
        } catch (error) {
          const e = error as grpc.ServiceError;
          assert.equal(e.code, grpc.status.UNAVAILABLE);
          assert.match(e.details, new RegExp(`connection to backend ${dying.address} lost`));
          failures++;
        }
      }
      assert.equal(failures, 1, 'the call on the dying backend failed');
      assert.equal(dying.seen.streams, 1, 'it was sent once');
      assert.equal(proxy.state().calls.retries, 0);
      // Without retries configured, the same holds (and the next calls go to the good one).
      assert.equal((await unary(client)).serverId, 'good');
    } finally {
      client.close();
      await proxy.close(100);
      await good.stop(0);
      await dying.close();
    }
  });

  it('a call whose backend connection is lost before any request byte reached it is retried on the next backend', async () => {
    // Drops the connection as soon as a stream opens: a client-streaming call that has sent its
    // headers but no message yet has given that backend nothing to process.
    const dropping = await h2Backend((stream) => stream.session!.destroy());
    const good = await startExampleServer({ id: 'good' });
    const proxy = await proxyFor({ clusters: { echo: { target: `${dropping.address},${good.address}`, policy: 'round_robin', retry: RETRY } } });
    const client = echoClient(proxy);
    try {
      for (let i = 0; i < 6; i++) {
        const reply = await new Promise<{ serverId: string; message: string }>((resolve, reject) => {
          const call = client.clientStream(new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, r) => (err ? reject(err) : resolve(r!)));
          // The first message only once the proxy has had time to try (and lose) a backend.
          setTimeout(() => {
            call.write({ message: 'a' });
            call.write({ message: 'b' });
            call.end();
          }, 50);
        });
        assert.equal(reply.serverId, 'good');
        assert.equal(reply.message, 'ab');
      }
      assert.ok(dropping.seen.streams >= 1, 'the dropping backend was tried');
      assert.equal(proxy.state().calls.retries, dropping.seen.streams, 'each lost connection was retried once, elsewhere');
    } finally {
      client.close();
      await proxy.close(100);
      await good.stop(0);
      await dropping.close();
    }
  });

  it('with one backend refusing and no other, the call ends UNAVAILABLE after its transparent attempts', async () => {
    const refusing = await h2Backend((stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    const proxy = await proxyFor({ clusters: { echo: { target: refusing.address, retry: { ...RETRY, attempts: 3 } } } });
    const client = echoClient(proxy);
    try {
      const error = await rejection(unary(client));
      assert.equal(error.code, grpc.status.UNAVAILABLE);
      assert.match(error.details, /reset the stream with REFUSED_STREAM/);
      // A refused stream was not processed: gRFC A6's transparent retries, 4 sends in all (more than retry.attempts 3).
      assert.equal(refusing.seen.streams, 4, 'four attempts on the only backend');
    } finally {
      client.close();
      await proxy.close(100);
      await refusing.close();
    }
  });
});
