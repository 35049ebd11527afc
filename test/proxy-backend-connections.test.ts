/**
 * The proxy's connections to a backend are shared by every client, so what one client does to
 * them — cancel, time out, disconnect — must not cost the others, and what a backend does to them
 * — a graceful GOAWAY — must not make it unavailable:
 * - a grpcio client cancelling server streams after their first message (honest, and far beyond
 *   the 1000 + 33/s RST_STREAM a grpc-js backend tolerates per connection: nghttp2's rapid-reset
 *   limit) and clients disconnecting with hundreds of streams open never make the backend GOAWAY;
 * - a client whose calls all time out in the proxy pays for the backend resets it causes;
 * - a grpcio backend with max_connection_age_ms (grpc-go's MaxConnectionAge) rotating its
 *   connections every 300 ms costs no call, and streams above a GOAWAY's last-stream-id (never
 *   processed, RFC 9113 §6.8) are sent again on a fresh connection whatever their method.
 * A steady client calls through the same proxy and backend during each, and loses nothing.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { startExampleServer } from '../src/example/example-server.js';
import {
  echoClient,
  eventually,
  frame,
  FRAME,
  grpcRequestHeaders,
  headerBlock,
  PREFACE,
  proxyFor,
  RawConnection,
  steadyClient,
  unary,
  unaryCaller,
} from './support/proxy.js';
import { requirePython, runPython, startPythonServer } from './support/python-peer.js';

const C = http2.constants;
const SETTINGS = frame(FRAME.SETTINGS, 0, 0);
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const UNARY = '/grpcha.example.v1.Echo/Unary';
const BIDI = '/grpcha.example.v1.Echo/BidiStream';
/** An empty EchoRequest, length-prefixed. */
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

/**
 * Runs `attack` with raw client connections against a proxy in front of one grpc-js backend
 * (2,000 streams allowed on it), a steady client calling beside it all along; then checks the
 * backend was never lost and the steady client lost nothing.
 */
async function attackBeside(attack: (proxy: Awaited<ReturnType<typeof proxyFor>>, backend: Awaited<ReturnType<typeof startExampleServer>>, connections: RawConnection[]) => Promise<void>, minConnections: number): Promise<void> {
  const backend = await startExampleServer({ id: 'b' });
  const proxy = await proxyFor({ clusters: { echo: { target: backend.address, maxConcurrentStreamsPerBackend: 2000 } } });
  const client = echoClient(proxy);
  const steady = steadyClient(() => unary(client));
  const connections: RawConnection[] = [];
  try {
    await attack(proxy, backend, connections);
    const b = proxy.state().clusters[0]!.backends[0]!;
    assert.equal(b.errors, 0, `backend errors: ${b.lastError}`);
    assert.equal(b.state, 'ready');
    // The resets did not fit one connection's tolerance: the pool moved to fresh ones.
    assert.ok(b.connectionsOpened >= minConnections, `${b.connectionsOpened} connections opened`);
  } finally {
    for (const c of connections) c.close();
    const result = await steady.stop();
    client.close();
    await proxy.close(100);
    await backend.stop(100);
    assert.deepEqual(result.failures, [], 'the steady client lost calls');
    assert.ok(result.calls > 0, 'the steady client made no call');
  }
}

describe('proxy: client resets never poison a backend connection', () => {
  it('keeps a grpc-js backend connected while a grpcio client cancels 1,400 server streams after their first message', async () => {
    requirePython('grpc');
    const backend = await startExampleServer({ id: 'b' });
    // Streams stay open on the backend until cancelled: one reply every 10 ms.
    backend.setLatency(10);
    const proxy = await proxyFor({ clusters: { echo: { target: backend.address } } });
    const client = echoClient(proxy);
    const steady = steadyClient(() => unary(client));
    try {
      const run = await runPython('grpc_peer.py', ['cancel-streams', `127.0.0.1:${proxy.port}`, '1400', '16'], 60_000);
      assert.deepEqual(run, { ok: 1400, failed: {} }, 'the cancelling client lost calls of its own');
      const b = proxy.state().clusters[0]!.backends[0]!;
      assert.equal(b.errors, 0, `backend errors: ${b.lastError}`);
      assert.equal(b.state, 'ready');
      // 1,400 resets do not fit one connection's tolerance: the pool moved to fresh ones.
      assert.ok(b.connectionsOpened >= 2, `${b.connectionsOpened} connections opened`);
    } finally {
      const result = await steady.stop();
      client.close();
      await proxy.close(100);
      await backend.stop(100);
      assert.deepEqual(result.failures, [], 'the steady client lost calls');
    }
  });

  it('keeps a grpc-js backend connected when clients disconnect with 1,200 calls in flight', async () => {
    await attackBeside(async (proxy, backend, connections) => {
      for (let n = 0; n < 3; n++) {
        const c = await RawConnection.open(proxy.port);
        const frames = [PREFACE, SETTINGS];
        // Bidi calls whose request never ends: each stays open on the backend until reset.
        for (let i = 0; i < 400; i++) frames.push(frame(FRAME.HEADERS, END_HEADERS, 1 + 2 * i, headerBlock(grpcRequestHeaders(BIDI))));
        c.write(Buffer.concat(frames));
        connections.push(c);
      }
      await eventually(() => backend.stats.byMethod.bidiStream >= 1200, 10_000, '1,200 calls in flight on the backend');
      // Every one of them is reset at once: 1,200 RST_STREAM toward the backend.
      for (const c of connections) c.close();
      await new Promise((r) => setTimeout(r, 1500));
    }, 2);
  });

  it('keeps a grpc-js backend connected while eight connections open and reset streams, send grpc-timeout: 1n and disconnect, each within its budget', async () => {
    await attackBeside(async (proxy, _backend, connections) => {
      // Per connection and round: 60 bidi streams opened and reset at once (the paced
      // rapid reset), 60 unary calls whose grpc-timeout has passed on arrival (the proxy resets
      // their backend streams), 60 bidi streams left open; then the connection closes with them.
      // 8 x 3 rounds x 180 streams: over 4,000 backend resets, about 400 per connection and
      // second, a fifth of each connection's budget; every one toward the same backend.
      for (let round = 0; round < 3; round++) {
        for (let n = 0; n < 8; n++) {
          const c = await RawConnection.open(proxy.port);
          connections.push(c);
          const frames = [PREFACE, SETTINGS];
          let id = 1;
          for (let i = 0; i < 60; i++, id += 2) {
            frames.push(frame(FRAME.HEADERS, END_HEADERS, id, headerBlock(grpcRequestHeaders(BIDI))), frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, C.NGHTTP2_CANCEL])));
          }
          for (let i = 0; i < 60; i++, id += 2) {
            frames.push(frame(FRAME.HEADERS, END_HEADERS, id, headerBlock(grpcRequestHeaders(UNARY, [['grpc-timeout', '1n']]))), frame(FRAME.DATA, END_STREAM, id, EMPTY_MESSAGE));
          }
          for (let i = 0; i < 60; i++, id += 2) frames.push(frame(FRAME.HEADERS, END_HEADERS, id, headerBlock(grpcRequestHeaders(BIDI))));
          c.write(Buffer.concat(frames));
        }
        await new Promise((r) => setTimeout(r, 300));
        for (const c of connections) {
          // Each stayed within its budget: none was told to calm down.
          assert.equal(c.goawayCode(), undefined, 'a connection within its reset budget got GOAWAY');
          c.close();
        }
        connections.length = 0;
      }
      await new Promise((r) => setTimeout(r, 500));
    }, 4);
  });

  it('charges the backend resets its deadlines cause to the client: GOAWAY ENHANCE_YOUR_CALM past its reset budget', async () => {
    const backend = await startExampleServer({ id: 'b' });
    // 50 streams per connection: a reset budget of 100 per second (twice the stream limit, at least 100).
    const proxy = await proxyFor({ limits: { maxConcurrentStreams: 50 }, clusters: { echo: { target: backend.address } } });
    const client = echoClient(proxy);
    const steady = steadyClient(() => unary(client));
    const c = await RawConnection.open(proxy.port);
    try {
      c.write(Buffer.concat([PREFACE, SETTINGS]));
      // Batches of 40 calls whose grpc-timeout (1 ns) has passed on arrival: each is forwarded, then
      // its backend stream reset by the proxy; the client itself sends no RST_STREAM.
      let id = 1;
      for (let batch = 0; batch < 5 && !c.closed && c.goawayCode() === undefined; batch++) {
        const frames: Buffer[] = [];
        for (let i = 0; i < 40; i++, id += 2) {
          frames.push(frame(FRAME.HEADERS, END_HEADERS, id, headerBlock(grpcRequestHeaders(UNARY, [['grpc-timeout', '1n']]))), frame(FRAME.DATA, END_STREAM, id, EMPTY_MESSAGE));
        }
        c.write(Buffer.concat(frames));
        await new Promise((r) => setTimeout(r, 50));
      }
      await eventually(() => c.goawayCode() !== undefined, 3000, 'GOAWAY');
      assert.equal(c.goawayCode(), C.NGHTTP2_ENHANCE_YOUR_CALM);
      assert.match(c.frames.find((f) => f.type === FRAME.GOAWAY)!.payload.subarray(8).toString(), /more than 100 streams reset or refused per second/);
    } finally {
      c.close();
      const result = await steady.stop();
      client.close();
      await proxy.close(100);
      await backend.stop(100);
      assert.deepEqual(result.failures, [], 'the steady client lost calls');
    }
  });
});

describe('proxy: backend GOAWAYs', () => {
  it('loses no call while a grpcio backend ends every connection after 300 ms (max_connection_age_ms)', async () => {
    requirePython('grpc');
    const backend = await startPythonServer('grpc_peer.py', ['serve', '300']);
    const proxy = await proxyFor({ clusters: { py: { target: `127.0.0.1:${backend.port}` } } });
    const caller = unaryCaller(`127.0.0.1:${proxy.port}`, '/test.v1.NotIdempotent/Call');
    const states = new Set<string>();
    let watch: NodeJS.Timeout | undefined;
    try {
      await eventually(() => proxy.state().clusters[0]!.backends[0]!.state === 'ready', 5000, 'the backend connected');
      // From the first connection on: before it, 'connecting' is the backend's honest state.
      watch = setInterval(() => states.add(proxy.state().clusters[0]!.backends[0]!.state), 10);
      const steady = steadyClient(async () => assert.deepEqual(await caller.call(Buffer.from('x')), Buffer.from('x')), 5);
      await new Promise((r) => setTimeout(r, 2000));
      const result = await steady.stop();
      assert.deepEqual(result.failures, [], 'calls failed across the backend GOAWAYs');
      assert.ok(result.calls > 50, `${result.calls} calls`);
      const b = proxy.state().clusters[0]!.backends[0]!;
      assert.ok(b.connectionsOpened >= 4, `${b.connectionsOpened} connections opened in 2 s of 300 ms connection age`);
      assert.deepEqual([...states], ['ready'], 'a graceful GOAWAY took the backend out');
    } finally {
      clearInterval(watch);
      caller.close();
      await proxy.close(100);
      await backend.stop();
    }
  });

  it('sends streams above the GOAWAY last-stream-id again on a fresh connection, whatever their method', async () => {
    requirePython('h2');
    const backend = await startPythonServer('h2_peer.py', ['serve', 'goaway-unprocessed']);
    const proxy = await proxyFor({ clusters: { py: { target: `127.0.0.1:${backend.port}` } } });
    const a = unaryCaller(`127.0.0.1:${proxy.port}`, '/test.v1.Orders/Create');
    const b = unaryCaller(`127.0.0.1:${proxy.port}`, '/test.v1.Orders/Delete');
    try {
      await eventually(() => proxy.state().clusters[0]!.backends[0]!.state === 'ready', 5000, 'the backend connected');
      // Two calls at once: streams 1 and 3 of the backend's first connection. It answers 1 and
      // sends GOAWAY with last-stream-id 1: stream 3 was never processed.
      const replies = await Promise.all([a.call(Buffer.from('create')), b.call(Buffer.from('delete'))]);
      assert.deepEqual(replies.map(String), ['create', 'delete']);
      const goaway = backend.lines.find((l) => l.event === 'goaway');
      assert.deepEqual(goaway, { event: 'goaway', connection: 1, lastStreamId: 1, unprocessed: [3] });
      const served = backend.lines.filter((l) => l.event === 'request').map((l) => `${l.connection} ${l.path}`);
      assert.equal(served.length, 2, served.join('; '));
      assert.ok(served.some((s) => s.startsWith('2 ')), `the unprocessed call was not sent on a new connection: ${served.join('; ')}`);
      assert.equal(proxy.state().clusters[0]!.backends[0]!.state, 'ready');
    } finally {
      a.close();
      b.close();
      await proxy.close(100);
      await backend.stop();
    }
  });
});
