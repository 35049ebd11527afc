/**
 * Fairness between client connections (src/proxy/fair-share.ts): five connections keeping
 * hundreds of slow streams open each — the "5 connections x 1,000 dripping streams" —
 * fill the backend's streams and the whole queue as fast as they free up, and a steady client
 * beside them still gets every call through, because a freed stream goes first to a connection
 * below its share and a full queue makes room for a connection below its share of it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startExampleServer } from '../src/example/example-server.js';
import { echoClient, eventually, frame, FRAME, grpcRequestHeaders, headerBlock, PREFACE, proxyFor, RawConnection, steadyClient, unary } from './support/proxy.js';

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const BIDI = '/grpcha.example.v1.Echo/BidiStream';
/** An empty EchoRequest, length-prefixed. */
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

/**
 * A connection that opens `open` bidi streams and "drips": every 50 ms it ends its 5 oldest live
 * streams (the backend then answers and ends them) and opens 10 new ones, more than the backend
 * frees, so the queue stays full.
 */
async function dripper(port: number, open: number): Promise<{ stop(): void; connection: RawConnection }> {
  const c = await RawConnection.open(port);
  let next = 1;
  const live: number[] = [];
  const openStreams = (n: number): Buffer[] => {
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++, next += 2) {
      frames.push(frame(FRAME.HEADERS, END_HEADERS, next, headerBlock(grpcRequestHeaders(BIDI))));
      live.push(next);
    }
    return frames;
  };
  c.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), ...openStreams(open)]));
  const timer = setInterval(() => {
    // Streams the proxy already ended (refused with a Trailers-Only UNAVAILABLE when the queue was full) are not live.
    const ended = new Set(c.frames.filter((f) => (f.type === FRAME.HEADERS && f.flags & END_STREAM) || f.type === FRAME.RST_STREAM).map((f) => f.streamId));
    for (let i = live.length - 1; i >= 0; i--) if (ended.has(live[i]!)) live.splice(i, 1);
    const frames = live.splice(0, 5).map((id) => frame(FRAME.DATA, END_STREAM, id, EMPTY_MESSAGE));
    c.write(Buffer.concat([...frames, ...openStreams(10)]));
  }, 50);
  return {
    connection: c,
    stop: () => {
      clearInterval(timer);
      c.close();
    },
  };
}

describe('proxy: fairness between client connections', () => {
  it("gives a steady client every call while five connections hold every backend stream and fill maxPending", async () => {
    const backend = await startExampleServer({ id: 'b' });
    const proxy = await proxyFor({ clusters: { echo: { target: backend.address, maxConcurrentStreamsPerBackend: 40, maxPending: 40, pendingTimeoutMs: 3000 } } });
    const client = echoClient(proxy);
    const drippers: Awaited<ReturnType<typeof dripper>>[] = [];
    try {
      for (let i = 0; i < 5; i++) drippers.push(await dripper(proxy.port, 100));
      // 500 streams for 40 backend slots and 40 places in the queue: both full, and refilled as they drain.
      const held = () => {
        const cluster = proxy.state().clusters[0]!;
        return cluster.backends[0]!.inFlight >= 35 && cluster.pending >= 30;
      };
      await eventually(held, 5000, 'the drippers holding the backend streams and the queue');
      const steady = steadyClient(() => unary(client, { message: 'steady' }, { deadlineMs: 3000 }));
      await new Promise((r) => setTimeout(r, 2500));
      const result = await steady.stop();
      assert.deepEqual(result.failures, [], 'the steady client lost calls');
      assert.ok(result.calls >= 3, `${result.calls} steady calls`);
      // The attack went on all along: the drippers still hold the backend and the queue, and streams kept turning over.
      await eventually(held, 2000, 'the drippers still holding the backend streams and the queue');
      assert.ok(backend.stats.byMethod.bidiStream > 200, `${backend.stats.byMethod.bidiStream} dripping streams served`);
    } finally {
      for (const d of drippers) d.stop();
      client.close();
      await proxy.close(100);
      await backend.stop(100);
    }
  });
});
