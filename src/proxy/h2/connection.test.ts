/**
 * Two engines talking over loopback TCP: flow control holds a sender to what the receiver's owner
 * consumed (RFC 9113 §6.9), header blocks past the frame size travel as HEADERS + CONTINUATION,
 * and a reset reaches the other side's handler.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { H2Connection } from './connection.js';
import { ErrorCode } from './frame.js';
import { IGNORE, type H2Stream, type StreamHandler } from './stream.js';

const WINDOW = 65_535;
const REQUEST = [':method', 'POST', ':scheme', 'http', ':path', '/x.Y/Z', ':authority', 'test', 'content-type', 'application/grpc'];

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 150 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), `timed out waiting for ${what}`);
}

describe('h2 connection', () => {
  let server: Server;
  let client: H2Connection;
  /** What the server side saw, per stream. */
  const seen: { fields: string[]; stream: H2Stream; received: number; ended: boolean; reset?: number }[] = [];

  before(async () => {
    server = createServer((socket) => {
      new H2Connection(socket, {
        role: 'server',
        streamWindow: WINDOW,
        connectionWindow: 4 * WINDOW,
        maxHeaderListSize: 1 << 20,
        maxConcurrentStreams: 10,
        onStream: (stream, fields) => {
          const entry = { fields, stream, received: 0, ended: false } as (typeof seen)[number];
          seen.push(entry);
          stream.handler = {
            ...IGNORE,
            onData: (_s, data, end) => {
              entry.received += data.length;
              entry.ended ||= end;
            },
            onReset: (_s, code) => (entry.reset = code),
          };
        },
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    let ready = false;
    client = new H2Connection(socket, { role: 'client', streamWindow: WINDOW, connectionWindow: WINDOW, maxHeaderListSize: 1 << 20, onReady: () => (ready = true) });
    await until(() => ready, 'SETTINGS');
  });

  after(() => {
    client.destroy();
    server.close();
  });

  it("sends no more than the receiver's window until its owner consumes, then the rest", async () => {
    let sent = 0;
    const handler: StreamHandler = { ...IGNORE, onSent: (_s, n) => (sent += n) };
    const stream = client.request(REQUEST, false, handler)!;
    stream.sendData(Buffer.alloc(200_000, 1), true);
    await until(() => seen.length === 1 && seen[0]!.received === WINDOW, 'one window of data');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen[0]!.received, WINDOW, 'the sender went past the window');
    assert.equal(sent, WINDOW);
    // The owner passes bytes on as they arrive from now on.
    const entry = seen[0]!;
    entry.stream.consume(entry.received);
    const onData = entry.stream.handler.onData;
    entry.stream.handler = { ...entry.stream.handler, onData: (s, data, end) => (onData(s, data, end), s.consume(data.length)) };
    await until(() => entry.ended, 'END_STREAM');
    assert.equal(entry.received, 200_000);
    assert.equal(sent, 200_000);
    assert.deepEqual(entry.fields, REQUEST);
  });

  it('carries a header list larger than a frame in HEADERS + CONTINUATION, and resets to the other side', async () => {
    const big = [...REQUEST, 'x-big', 'b'.repeat(40_000), 'x-bin', '\u0001\u00ff\u0080'];
    const stream = client.request(big, false, IGNORE)!;
    await until(() => seen.length === 2, 'the second stream');
    assert.deepEqual(seen[1]!.fields, big);
    stream.reset(ErrorCode.CANCEL);
    await until(() => seen[1]!.reset !== undefined, 'the reset');
    assert.equal(seen[1]!.reset, ErrorCode.CANCEL);
  });
});
