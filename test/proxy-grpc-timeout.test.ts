/**
 * grpc-timeout read and written by the grammar of PROTOCOL-HTTP2.md (src/proxy/grpc-timeout.ts),
 * defects the fuzzing of the request path found:
 * - a deadline past 2^31-1 ms (24.8 days: "99999999S") armed a Node timer that fires after 1 ms,
 *   so the call ended DEADLINE_EXCEEDED at once;
 * - a call that waited for a backend had its timeout rewritten in milliseconds whatever their
 *   number, past the 8 digits a backend accepts (grpc-js answered INTERNAL);
 * - a lax reader ("1e5S", "0x1fS", " 1S" were read as numbers) saw deadlines the backend reads
 *   otherwise (grpc-js reads "1e5S" as 5 s): such a call is refused with INTERNAL, as grpc-go
 *   and grpc-js servers refuse it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startExampleServer } from '../src/example/example-server.js';
import { HpackDecoder } from '../src/proxy/h2/hpack.js';
import { eventually, frame, FRAME, grpcRequestHeaders, headerBlock, PREFACE, proxyFor, RawConnection } from './support/proxy.js';

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
/** EchoRequest{message: "t"}, length-prefixed. */
const MESSAGE = Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x74]);

/** The grpc-status and grpc-message each stream ended with, decoding the proxy's header blocks in order. */
function statuses(c: RawConnection): Map<number, { status: string; message: string }> {
  const decoder = new HpackDecoder();
  const out = new Map<number, { status: string; message: string }>();
  for (const f of c.frames) {
    if (f.type !== FRAME.HEADERS) continue;
    const fields = decoder.decode(f.payload).fields;
    const i = fields.indexOf('grpc-status');
    if (i >= 0 && i % 2 === 0) out.set(f.streamId, { status: fields[i + 1]!, message: fields[fields.indexOf('grpc-message') + 1] ?? '' });
  }
  return out;
}

describe('proxy: grpc-timeout', () => {
  it('keeps deadlines beyond a timer (99999999S), rewrites them in 8 digits after a wait, and refuses malformed ones with INTERNAL', async () => {
    const backend = await startExampleServer({ id: 'b' });
    backend.setLatency(150);
    // One call at a time on the backend: the second waits for the first, so its timeout is rewritten.
    const proxy = await proxyFor({ clusters: { echo: { target: backend.address, maxConcurrentStreamsPerBackend: 1 } } });
    const c = await RawConnection.open(proxy.port);
    try {
      const call = (id: number, timeout: string) => [
        frame(FRAME.HEADERS, END_HEADERS, id, headerBlock(grpcRequestHeaders('/grpcha.example.v1.Echo/Unary', [['grpc-timeout', timeout]]))),
        frame(FRAME.DATA, END_STREAM, id, MESSAGE),
      ];
      c.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), ...call(1, '99999999S'), ...call(3, '99999999H'), ...call(5, '1e5S'), ...call(7, '0x1fS'), ...call(9, '123456789m'), ...call(11, '5s')]));
      await eventually(() => statuses(c).size === 6, 5000, 'six answers');
      const s = statuses(c);
      assert.equal(s.get(1)?.status, '0', `a 3.17-year deadline ended the call: ${s.get(1)?.message}`);
      assert.equal(s.get(3)?.status, '0', `a call that waited got a timeout its backend refused: ${s.get(3)?.message}`);
      for (const [id, value] of [[5, '1e5S'], [7, '0x1fS'], [9, '123456789m'], [11, '5s']] as const) {
        assert.equal(s.get(id)?.status, '13', `grpc-timeout ${value}`);
        assert.match(decodeURIComponent(s.get(id)!.message), new RegExp(`malformed grpc-timeout "${value}"`));
      }
      // The refused calls never reached the backend.
      assert.equal(backend.stats.byMethod.unary, 2);
    } finally {
      c.close();
      await proxy.close(100);
      await backend.stop(100);
    }
  });
});
