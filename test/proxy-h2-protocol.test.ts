/**
 * The protections the proxy's own HTTP/2 engine gives that nghttp2 used to (RFC 9113 §5.4 error
 * handling, §10.5 denial of service), driven by a bare client writing the frames no well-behaved
 * client sends: each gets the error code the RFC names, and the proxy keeps serving others.
 * Also the proxy's own deadline enforcement, and both health checking modes.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import type { EchoClient } from '../src/example/echo-service.js';
import type { Proxy } from '../src/proxy/proxy.js';
import * as grpc from '@grpc/grpc-js';
import { echoClient, eventually, frame, FRAME, grpcRequestHeaders, headerBlock, PREFACE, proxyFor, RawConnection, rejection, unary, unaryCaller } from './support/proxy.js';

const C = http2.constants;
const SETTINGS = frame(FRAME.SETTINGS, 0, 0);
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const CONTINUATION = 0x9;
const UNARY = '/grpcha.example.v1.Echo/Unary';
const HELD = '/held.v1.Held/Call';
const DOWN = '/down.v1.Down/Call';

/** grpc-status of the HEADERS frames the proxy sent on `streamId` (Trailers-Only answers). */
function statusOf(c: RawConnection, streamId: number): string | undefined {
  const f = c.frames.find((x) => x.type === FRAME.HEADERS && x.streamId === streamId && x.flags & END_STREAM);
  if (!f) return undefined;
  // Our encoder writes literals without Huffman: the value follows the name in plain text.
  const m = /grpc-status.(\d+)/.exec(f.payload.toString('latin1'));
  return m?.[1];
}

describe('proxy: HTTP/2 protocol errors and floods', () => {
  let backend: ExampleServer;
  let blackHole: Server;
  const held: Socket[] = [];
  let proxy: Proxy;
  let good: EchoClient;

  before(async () => {
    backend = await startExampleServer({ id: 'b' });
    // Accepts TCP and never speaks HTTP/2: calls routed there wait for a backend, unread.
    blackHole = createServer((s) => held.push(s.on('error', () => {})));
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    // A port nothing listens on: calls routed there fail at once, before the client's reset arrives.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    proxy = await proxyFor({
      limits: { maxConcurrentStreams: 5, streamWindowBytes: 65_535 },
      clusters: {
        echo: { target: backend.address },
        held: { target: `127.0.0.1:${(blackHole.address() as { port: number }).port}`, connectTimeoutMs: 10_000, pendingTimeoutMs: 10_000 },
        down: { target: `127.0.0.1:${closedPort}` },
      },
      routes: [{ prefix: '/held.', cluster: 'held' }, { prefix: '/down.', cluster: 'down' }, { service: '*', cluster: 'echo' }],
    });
    good = echoClient(proxy);
    await unary(good);
  });

  after(async () => {
    good.close();
    await proxy.close(100);
    for (const s of held) s.destroy();
    await new Promise((r) => blackHole.close(r));
    await backend.stop(100);
  });

  async function expectGoaway(frames: Buffer[], code: number): Promise<RawConnection> {
    const c = await RawConnection.open(proxy.port);
    c.write(Buffer.concat([PREFACE, SETTINGS, ...frames]));
    await eventually(() => c.goawayCode() !== undefined, 3000, 'GOAWAY');
    assert.equal(c.goawayCode(), code);
    c.close();
    assert.equal((await unary(good)).serverId, 'b', 'another client was affected');
    return c;
  }

  it('answers a few bytes of garbage at once, without waiting for a whole preface', async () => {
    const c = await RawConnection.open(proxy.port);
    c.write(Buffer.from('GET /\r\n'));
    await eventually(() => c.goawayCode() !== undefined, 1000, 'GOAWAY');
    assert.equal(c.goawayCode(), C.NGHTTP2_PROTOCOL_ERROR);
    c.close();
  });

  it('answers a frame larger than SETTINGS_MAX_FRAME_SIZE with FRAME_SIZE_ERROR', async () => {
    await expectGoaway([frame(FRAME.DATA, 0, 1, Buffer.alloc(20_000))], C.NGHTTP2_FRAME_SIZE_ERROR);
  });

  it('answers a first frame other than SETTINGS, HEADERS on stream 0 and a zero WINDOW_UPDATE with PROTOCOL_ERROR', async () => {
    const c = await RawConnection.open(proxy.port);
    c.write(Buffer.concat([PREFACE, frame(FRAME.PING, 0, 0, Buffer.alloc(8))]));
    await eventually(() => c.goawayCode() !== undefined, 3000, 'GOAWAY');
    assert.equal(c.goawayCode(), C.NGHTTP2_PROTOCOL_ERROR);
    c.close();
    await expectGoaway([frame(FRAME.HEADERS, END_HEADERS, 0, headerBlock(grpcRequestHeaders(UNARY)))], C.NGHTTP2_PROTOCOL_ERROR);
    await expectGoaway([frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.alloc(4))], C.NGHTTP2_PROTOCOL_ERROR);
  });

  it('resets a malformed request (uppercase field name) with PROTOCOL_ERROR, keeping the connection', async () => {
    const c = await RawConnection.open(proxy.port);
    c.write(Buffer.concat([PREFACE, SETTINGS, frame(FRAME.HEADERS, END_HEADERS | END_STREAM, 1, headerBlock(grpcRequestHeaders(UNARY, [['X-Upper', 'v']])))]));
    await eventually(() => c.resets().has(1), 3000, 'RST_STREAM');
    assert.equal(c.resets().get(1), C.NGHTTP2_PROTOCOL_ERROR);
    assert.equal(c.closed, false);
    c.close();
  });

  it('resets a stream that sends past its window with FLOW_CONTROL_ERROR', async () => {
    const c = await RawConnection.open(proxy.port);
    const frames = [PREFACE, SETTINGS, frame(FRAME.HEADERS, END_HEADERS, 1, headerBlock(grpcRequestHeaders(HELD)))];
    for (let i = 0; i < 5; i++) frames.push(frame(FRAME.DATA, 0, 1, Buffer.alloc(16_000)));
    c.write(Buffer.concat(frames));
    await eventually(() => c.resets().has(1), 3000, 'RST_STREAM');
    assert.equal(c.resets().get(1), C.NGHTTP2_FLOW_CONTROL_ERROR);
    c.close();
  });

  it('closes a connection flooding PING, SETTINGS or empty CONTINUATION frames with ENHANCE_YOUR_CALM', async () => {
    await expectGoaway(Array.from({ length: 1100 }, () => frame(FRAME.PING, 0, 0, Buffer.alloc(8))), C.NGHTTP2_ENHANCE_YOUR_CALM);
    await expectGoaway(Array.from({ length: 150 }, () => SETTINGS), C.NGHTTP2_ENHANCE_YOUR_CALM);
    const block = headerBlock(grpcRequestHeaders(UNARY));
    await expectGoaway([frame(FRAME.HEADERS, 0, 1, block), ...Array.from({ length: 40 }, () => frame(CONTINUATION, 0, 1))], C.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  /** HEADERS then RST_STREAM, `count` times, on `path`. */
  function rapidReset(path: string, count: number): Buffer[] {
    const frames: Buffer[] = [];
    const block = headerBlock(grpcRequestHeaders(path));
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(C.NGHTTP2_CANCEL);
    for (let i = 0; i < count; i++) {
      frames.push(frame(FRAME.HEADERS, END_HEADERS, 1 + 2 * i, block), frame(FRAME.RST_STREAM, 0, 1 + 2 * i, rst));
    }
    return frames;
  }

  it('closes a rapid-reset connection (CVE-2023-44487) with ENHANCE_YOUR_CALM', async () => {
    await expectGoaway(rapidReset(HELD, 150), C.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('closes a rapid-reset connection whose streams the proxy answered before their resets arrived', async () => {
    const caller = unaryCaller(`127.0.0.1:${proxy.port}`, DOWN);
    try {
      await eventually(async () => (await rejection(caller.call(Buffer.alloc(0), 2000))).code === grpc.status.UNAVAILABLE, 3000, 'the down cluster failing fast');
    } finally {
      caller.close();
    }
    await expectGoaway(rapidReset(DOWN, 150), C.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it('closes a connection opening streams past SETTINGS_MAX_CONCURRENT_STREAMS faster than the reset budget', async () => {
    // Requests whose body never comes: the backend waits for it, so the first 5 stay open (the
    // limit) whatever the clusters' state; the 101 after them are refused, one past the budget per second.
    const block = headerBlock(grpcRequestHeaders(UNARY));
    const frames = Array.from({ length: 106 }, (_, i) => frame(FRAME.HEADERS, END_HEADERS, 1 + 2 * i, block));
    const c = await expectGoaway(frames, C.NGHTTP2_ENHANCE_YOUR_CALM);
    assert.equal(c.resets().get(11), C.NGHTTP2_REFUSED_STREAM);
  });
});

describe('proxy: backend stream limits', () => {
  /** A backend allowing one stream per connection (SETTINGS_MAX_CONCURRENT_STREAMS 1); counts streams per session. */
  async function oneStreamBackend() {
    const server = http2.createServer({ settings: { maxConcurrentStreams: 1 } });
    const stats = { sessions: 0, maxOpenPerSession: 0 };
    server.on('session', (session) => {
      stats.sessions++;
      let open = 0;
      session.on('stream', (stream) => {
        stats.maxOpenPerSession = Math.max(stats.maxOpenPerSession, ++open);
        stream.on('error', () => {});
        stream.on('close', () => open--);
        stream.resume();
        setTimeout(() => {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.from([0, 0, 0, 0, 0]));
        }, 50);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, stats, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
  }

  async function fourCalls(port: number): Promise<string[]> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const call = () =>
      new Promise<string>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/test.raw.v1.Raw/Unary', 'content-type': 'application/grpc', te: 'trailers' });
        req.on('trailers', (t) => resolve(String(t['grpc-status'])));
        req.on('response', (h, flags) => {
          if (flags & END_STREAM) resolve(String(h['grpc-status']));
        });
        req.on('error', reject);
        req.resume();
        req.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    try {
      return await Promise.all([call(), call(), call(), call()]);
    } finally {
      session.close();
    }
  }

  it("queues streams past a backend's SETTINGS_MAX_CONCURRENT_STREAMS when its pool is at maxConnectionsPerBackend", async () => {
    const backend = await oneStreamBackend();
    const proxy = await proxyFor({ clusters: { raw: { target: backend.address, maxConnectionsPerBackend: 1 } } });
    assert.deepEqual(await fourCalls(proxy.port), ['0', '0', '0', '0']);
    assert.deepEqual(backend.stats, { sessions: 1, maxOpenPerSession: 1 });
    await proxy.close(100);
    await new Promise((r) => backend.server.close(r));
  });

  it("opens more connections to a backend whose SETTINGS_MAX_CONCURRENT_STREAMS is reached (Envoy's HTTP/2 pools do)", async () => {
    const backend = await oneStreamBackend();
    const proxy = await proxyFor({ clusters: { raw: { target: backend.address } } });
    assert.deepEqual(await fourCalls(proxy.port), ['0', '0', '0', '0']);
    assert.equal(backend.stats.maxOpenPerSession, 1, 'the backend limit was exceeded on a connection');
    assert.ok(backend.stats.sessions >= 2, `${backend.stats.sessions} connections`);
    await proxy.close(100);
    await new Promise((r) => backend.server.close(r));
  });
});

describe('proxy: deadlines', () => {
  it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED and resets the backend stream, even if the client does not', async () => {
    const backend = http2.createServer();
    const resets: number[] = [];
    backend.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.on('close', () => resets.push(stream.rstCode));
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      // Never ends: only the deadline ends this call.
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const proxy = await proxyFor({ clusters: { raw: { target: `127.0.0.1:${(backend.address() as { port: number }).port}` } } });
    const c = await RawConnection.open(proxy.port);
    const started = Date.now();
    c.write(Buffer.concat([PREFACE, SETTINGS, frame(FRAME.HEADERS, END_HEADERS | END_STREAM, 1, headerBlock(grpcRequestHeaders(UNARY, [['grpc-timeout', '300m']])))]));
    await eventually(() => c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 1 && f.flags & END_STREAM), 3000, 'the status');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250, `ended after ${elapsed} ms`);
    assert.equal(statusOf(c, 1), '4');
    await eventually(() => resets.length === 1, 3000, 'the backend stream reset');
    assert.equal(resets[0], C.NGHTTP2_CANCEL);
    c.close();
    await proxy.close(100);
    await new Promise((r) => backend.close(r));
  });
});

describe('proxy: deadline propagation', () => {
  it('takes the time a call waited for a backend off the grpc-timeout it forwards', async () => {
    const backend = http2.createServer();
    const timeouts: string[] = [];
    backend.on('stream', (stream, headers) => {
      timeouts.push(String(headers['grpc-timeout']));
      stream.on('error', () => {});
      stream.resume();
      setTimeout(() => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
      }, 300);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const proxy = await proxyFor({ clusters: { raw: { target: `127.0.0.1:${(backend.address() as { port: number }).port}`, maxConcurrentStreamsPerBackend: 1 } } });
    const c = await RawConnection.open(proxy.port);
    try {
      const request = (id: number) => frame(FRAME.HEADERS, END_HEADERS | END_STREAM, id, headerBlock(grpcRequestHeaders(UNARY, [['grpc-timeout', '2000m']])));
      c.write(Buffer.concat([PREFACE, SETTINGS, request(1), request(3)]));
      await eventually(() => statusOf(c, 1) !== undefined && statusOf(c, 3) !== undefined, 3000, 'both answers');
      // The first call waits only for the backend connection: a millisecond or so, rounded down.
      const first = Number(timeouts[0]!.slice(0, -1));
      assert.ok(timeouts[0]!.endsWith('m') && first <= 2000 && first >= 1950, `a call that did not wait is forwarded nearly unchanged: ${timeouts[0]}`);
      const second = Number(timeouts[1]!.slice(0, -1));
      assert.ok(timeouts[1]!.endsWith('m') && second <= 1750 && second > 1000, `second call forwarded grpc-timeout ${timeouts[1]}`);
    } finally {
      c.close();
      await proxy.close(100);
      await new Promise((r) => backend.close(r));
    }
  });
});

describe('proxy: health checking modes', () => {
  for (const mode of ['watch', 'check'] as const) {
    it(`takes a NOT_SERVING backend out of rotation and back (${mode})`, async () => {
      const a = await startExampleServer({ id: 'a' });
      const b = await startExampleServer({ id: 'b' });
      const proxy = await proxyFor({
        clusters: {
          echo: {
            target: `${a.address},${b.address}`,
            policy: 'round_robin',
            // In watch mode the interval only paces re-opening a Watch: a flip must come from the stream itself.
            healthCheck: { mode, intervalMs: mode === 'watch' ? 60_000 : 50, timeoutMs: 500, unhealthyThreshold: 1, healthyThreshold: 1 },
          },
        },
      });
      const backends = () => proxy.state().clusters[0]!.backends;
      await eventually(() => backends().every((x) => x.health === 'serving'), 3000, 'both serving');
      a.setServing(false);
      await eventually(() => backends().some((x) => x.health === 'not_serving'), 3000, 'a not serving');
      const client = echoClient(proxy);
      for (let i = 0; i < 4; i++) assert.equal((await unary(client)).serverId, 'b');
      a.setServing(true);
      await eventually(() => backends().every((x) => x.health === 'serving'), 3000, 'a back');
      const ids = new Set<string>();
      for (let i = 0; i < 6; i++) ids.add((await unary(client)).serverId);
      assert.deepEqual([...ids].sort(), ['a', 'b'], 'traffic reaches a again');
      client.close();
      await proxy.close(100);
      await Promise.all([a.stop(100), b.stop(100)]);
    });
  }
});
