/**
 * Idle HTTP/2 client connections for the `proxy-scale` bench: each makes one unary Echo call and
 * then stays open, saying nothing. Ten thousand grpc-js channels would cost the bench process more
 * than the proxy it measures, so each connection is a bare socket that writes one prepared buffer
 * (the RFC 9113 §3.4 preface, an empty SETTINGS, the call's HEADERS and its DATA with END_STREAM)
 * and reads frames only to acknowledge the proxy's SETTINGS and PINGs (§6.5.3, §6.7) and to see
 * the call's trailers. The call proves the connection reached a worker and was served; after it
 * the connection holds a stream-free HTTP/2 session, the state an idle gRPC client leaves.
 */
import { connect, type Socket } from 'node:net';
import { encodeFrame, Flag, FrameType, PREFACE, SETTINGS_ACK, settingsFrame } from '../src/proxy/h2/frame.js';
import { HpackDecoder, HpackEncoder } from '../src/proxy/h2/hpack.js';

/** The bytes of one connection's preface and unary call to `path` with `body` (a length-prefixed message). */
export function idleCallBytes(authority: string, path: string, body: Buffer): Buffer {
  const headers = new HpackEncoder().encode([
    ':method', 'POST',
    ':scheme', 'http',
    ':path', path,
    ':authority', authority,
    'content-type', 'application/grpc',
    'te', 'trailers',
  ]);
  return Buffer.concat([
    PREFACE,
    settingsFrame([]),
    encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, headers),
    encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, body),
  ]);
}

/** One idle connection: resolves with it once its call ended with grpc-status 0; rejects otherwise. */
export function openIdleConnection(port: number, bytes: Buffer, timeoutMs = 30_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let pending: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(socket);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.write(bytes));
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error('the proxy closed the connection')));
    const decoder = new HpackDecoder();
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const type = pending[3]!;
        const flags = pending[4]!;
        const payload = pending.subarray(9, 9 + length);
        pending = pending.subarray(9 + length);
        if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) socket.write(SETTINGS_ACK);
        else if (type === FrameType.PING && (flags & Flag.ACK) === 0) socket.write(encodeFrame(FrameType.PING, Flag.ACK, 0, Buffer.from(payload)));
        else if (type === FrameType.GOAWAY) finish(new Error('the proxy sent GOAWAY'));
        else if (type === FrameType.HEADERS) {
          // Every header block goes through the decoder, to keep its dynamic table in step (RFC 7541 §2.2).
          const { fields } = decoder.decode(payload);
          if ((flags & Flag.END_STREAM) === 0) continue;
          const at = fields.indexOf('grpc-status');
          const status = at >= 0 ? fields[at + 1] : undefined;
          finish(status === '0' ? undefined : new Error(`call ended with grpc-status ${status}`));
        }
      }
    });
  });
}
