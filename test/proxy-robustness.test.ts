/**
 * Misbehaving clients against the grpc-ha proxy: garbage, HTTP/1.1, a broken preface, oversized
 * headers, too many streams, slowloris and slow readers. Each gets the HTTP/2 answer RFC 9113
 * prescribes (GOAWAY / RST_STREAM with the right code, or a gRPC status), the proxy's buffering
 * stays bounded by flow control, and a well-behaved client's long call runs on untouched.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import type { EchoClient } from '../src/example/echo-service.js';
import type { Proxy } from '../src/proxy/proxy.js';
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
  rejection,
  startRawServer,
  unary,
} from './support/proxy.js';

const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR } = http2.constants;
const SETTINGS = frame(FRAME.SETTINGS, 0, 0);
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const UNARY = '/grpcha.example.v1.Echo/Unary';

describe('proxy: misbehaving clients', () => {
  let backend: ExampleServer;
  let proxy: Proxy;
  let good: EchoClient;
  let longCall: { received: number; status: Promise<grpc.StatusObject>; end(): void };

  before(async () => {
    backend = await startExampleServer({ id: 'b' });
    proxy = await proxyFor({
      limits: { maxConcurrentStreams: 5, maxHeaderListSize: 8192, firstStreamTimeoutMs: 300, idleTimeoutMs: 600 },
      clusters: { echo: { target: backend.address } },
    });
    good = echoClient(proxy);
    await unary(good);
    // A well-behaved client's bidi call stays open through every test and must never break.
    const bidi = good.bidiStream();
    const state = { received: 0 };
    bidi.on('data', () => state.received++);
    const timer = setInterval(() => bidi.write({ message: 'ping' }), 20);
    longCall = {
      get received() {
        return state.received;
      },
      status: new Promise((resolve) => bidi.on('status', resolve)),
      end: () => {
        clearInterval(timer);
        bidi.end();
      },
    };
    bidi.on('error', () => {});
  });

  after(async () => {
    const before = longCall.received;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(longCall.received > before, 'the well-behaved long call stalled');
    longCall.end();
    assert.equal((await longCall.status).code, grpc.status.OK, 'the well-behaved long call failed');
    good.close();
    await proxy.close(100);
    await backend.stop(100);
  });

  /** Writes `bytes`, waits until the proxy closed the connection, returns it. */
  async function sendAndWaitClose(bytes: Buffer[], timeoutMs = 2000): Promise<RawConnection> {
    const c = await RawConnection.open(proxy.port);
    for (const b of bytes) c.write(b);
    await eventually(() => c.closed, timeoutMs, 'the proxy to close the connection');
    c.close();
    // Other clients are unaffected.
    assert.equal((await unary(good)).serverId, 'b');
    return c;
  }

  it('closes a connection that sends garbage with GOAWAY PROTOCOL_ERROR', async () => {
    const c = await sendAndWaitClose([Buffer.from([0, 0xff, 0x13, 0x37, ...Buffer.from(' definitely not HTTP/2 at all\r\n')])]);
    assert.equal(c.goawayCode(), NGHTTP2_PROTOCOL_ERROR);
  });

  it('closes an HTTP/1.1 request with GOAWAY PROTOCOL_ERROR saying why', async () => {
    const c = await sendAndWaitClose([Buffer.from('POST /grpcha.example.v1.Echo/Unary HTTP/1.1\r\nHost: x\r\n\r\n')]);
    assert.equal(c.goawayCode(), NGHTTP2_PROTOCOL_ERROR);
    assert.match(c.frames.find((f) => f.type === FRAME.GOAWAY)!.payload.subarray(8).toString(), /HTTP\/1\.x request/);
  });

  it('closes a broken connection preface with GOAWAY PROTOCOL_ERROR', async () => {
    const c = await sendAndWaitClose([Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')]);
    assert.equal(c.goawayCode(), NGHTTP2_PROTOCOL_ERROR);
  });

  it('closes a connection whose frames are garbage after a valid preface', async () => {
    const c = await sendAndWaitClose([PREFACE, SETTINGS, Buffer.alloc(64, 0xab)]);
    assert.notEqual(c.goawayCode(), undefined, 'no GOAWAY');
    assert.notEqual(c.goawayCode(), NGHTTP2_NO_ERROR);
  });

  it('answers headers over maxHeaderListSize with RESOURCE_EXHAUSTED, keeping the connection', async () => {
    const md = new grpc.Metadata();
    md.set('x-big', 'a'.repeat(10_000));
    // grpc-js (nghttp2) itself resets a stream whose headers exceed the limit the proxy advertised.
    const error = await rejection(unary(good, { message: 'x' }, { metadata: md }));
    assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await unary(good)).serverId, 'b');
    // A client that ignores the advertised limit gets a Trailers-Only answer and a reset stream.
    const c = await RawConnection.open(proxy.port);
    c.write(Buffer.concat([PREFACE, SETTINGS, frame(FRAME.HEADERS, END_HEADERS | END_STREAM, 1, headerBlock(grpcRequestHeaders(UNARY, [['x-big', 'a'.repeat(10_000)]])))]));
    await eventually(() => c.resets().has(1), 2000, 'the oversized stream to be answered');
    assert.ok(c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 1 && f.flags & END_STREAM), 'no Trailers-Only answer');
    assert.equal(c.resets().get(1), NGHTTP2_NO_ERROR);
    assert.equal(c.closed, false);
    assert.ok(proxy.state().calls.proxyErrors >= 1);
    c.close();
  });

  it('survives a header block far beyond any limit (HEADERS + CONTINUATION)', async () => {
    const block = headerBlock(grpcRequestHeaders(UNARY, [['x-huge', 'h'.repeat(300_000)]]));
    const frames = [PREFACE, SETTINGS, frame(FRAME.HEADERS, END_STREAM, 1, block.subarray(0, 16_000))];
    for (let at = 16_000; at < block.length; at += 16_000) {
      const end = Math.min(at + 16_000, block.length);
      frames.push(frame(9 /* CONTINUATION */, end === block.length ? END_HEADERS : 0, 1, block.subarray(at, end)));
    }
    const c = await RawConnection.open(proxy.port);
    for (const f of frames) c.write(f);
    await eventually(() => c.closed || c.resets().has(1) || c.frames.some((f) => f.type === FRAME.HEADERS), 2000, 'a refusal');
    assert.ok(!c.frames.some((f) => f.type === FRAME.HEADERS && (f.flags & END_STREAM) === 0), 'the call was forwarded');
    c.close();
    assert.equal((await unary(good)).serverId, 'b');
  });

  it('refuses streams beyond SETTINGS_MAX_CONCURRENT_STREAMS with REFUSED_STREAM and serves the rest', async () => {
    backend.setLatency(300);
    try {
      const c = await RawConnection.open(proxy.port);
      c.write(Buffer.concat([PREFACE, SETTINGS]));
      // An empty request message, so each call is complete and answered.
      const body = frame(FRAME.DATA, END_STREAM, 0, Buffer.from([0, 0, 0, 0, 0]));
      for (let i = 0; i < 8; i++) {
        const id = 1 + 2 * i;
        c.write(frame(FRAME.HEADERS, END_HEADERS, id, headerBlock(grpcRequestHeaders(UNARY))));
        body.writeUInt32BE(id, 5);
        c.write(body);
      }
      await eventually(() => c.frames.filter((f) => f.type === FRAME.HEADERS && f.flags & END_STREAM).length >= 5, 3000, '5 answers');
      const resets = c.resets();
      assert.deepEqual([...resets.values()], [NGHTTP2_REFUSED_STREAM, NGHTTP2_REFUSED_STREAM, NGHTTP2_REFUSED_STREAM]);
      assert.deepEqual([...resets.keys()], [11, 13, 15]);
      c.close();
    } finally {
      backend.setLatency(0);
    }
  });

  it('drops a slowloris connection that never completes its preface', async () => {
    const c = await RawConnection.open(proxy.port);
    const started = Date.now();
    for (let i = 0; i < 5 && !c.closed; i++) {
      c.write(PREFACE.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 100));
    }
    await eventually(() => c.closed, 2000, 'slowloris dropped');
    assert.ok(Date.now() - started < 1500);
  });

  it('drops a slowloris connection that trickles a HEADERS frame, and closes idle connections', async () => {
    const c = await RawConnection.open(proxy.port);
    const headers = frame(FRAME.HEADERS, END_HEADERS, 1, headerBlock(grpcRequestHeaders(UNARY)));
    c.write(Buffer.concat([PREFACE, SETTINGS]));
    for (let i = 0; i < 20 && !c.closed; i++) {
      c.write(headers.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 50));
    }
    await eventually(() => c.closed, 2000, 'trickling client dropped');
    c.close();

    // A connection that finished its calls is closed gracefully (GOAWAY NO_ERROR) once idle.
    const idle = await RawConnection.open(proxy.port);
    idle.write(Buffer.concat([PREFACE, SETTINGS, frame(FRAME.HEADERS, END_HEADERS | END_STREAM, 1, headerBlock(grpcRequestHeaders(UNARY)))]));
    await eventually(() => idle.closed, 3000, 'idle connection closed');
    assert.equal(idle.goawayCode(), NGHTTP2_NO_ERROR);
  });
});

describe('proxy: slow readers', () => {
  it('holds a client that does not read to what flow control allows, and resumes it intact', async () => {
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 7);
    const raw = await startRawServer({
      serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        // Writes as fast as the proxy lets it: backpressure is the only brake.
        let stopped = false;
        call.on('cancelled', () => (stopped = true));
        const pump = (): void => {
          while (!stopped && written < 256 * 1024 * 1024) {
            written += chunk.length;
            if (!call.write(chunk)) {
              call.once('drain', pump);
              return;
            }
          }
        };
        pump();
      },
    });
    const proxy = await proxyFor({ clusters: { raw: { target: raw.address } } });
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    const req = session.request({ ':method': 'POST', ':path': '/test.raw.v1.Raw/ServerStream', 'content-type': 'application/grpc', te: 'trailers' });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    req.pause(); // a slow reader: reads nothing, so its stream window closes
    await new Promise((r) => setTimeout(r, 800));
    const stalled = written;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(written, stalled, 'the backend kept writing into a client that reads nothing');
    assert.ok(stalled < 12 * 1024 * 1024, `${stalled} bytes buffered for a client that reads nothing`);

    // The slow reader catches up: the stream resumes, every byte in order.
    let received = 0;
    req.on('data', (d: Buffer) => (received += d.length));
    req.resume();
    await eventually(() => written > stalled + 8 * 1024 * 1024, 5000, 'the stream to resume');
    req.close(http2.constants.NGHTTP2_CANCEL);
    assert.ok(received > stalled, `received ${received}`);
    session.close();
    await proxy.close(100);
    await raw.stop();
  });
});
