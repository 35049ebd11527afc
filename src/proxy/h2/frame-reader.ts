/**
 * Splits a connection's byte stream into frames (RFC 9113 §4.1), checking the client preface
 * first on the server side. Frames are handed out as views into the chunk they arrived in, in one
 * loop per chunk; only a frame split across reads is copied, once, when it is complete.
 */
import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, PREFACE } from './frame.js';

/** Receives each complete frame; returns false to stop reading (the connection failed). */
export type FrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => boolean;

/** Why the byte stream is not HTTP/2. */
export interface ReadError {
  readonly code: number;
  readonly reason: string;
}

/** One connection's frame splitter. */
export class FrameReader {
  private prefaceOk: boolean;
  /** Bytes of an incomplete frame, kept as received. */
  private readonly partial: Buffer[] = [];
  private partialBytes = 0;
  /** Octets needed before trying again (9 until a frame header is known). */
  private partialNeed = 0;

  /** `expectPreface`: the server side, which first reads the client connection preface. */
  constructor(expectPreface: boolean) {
    this.prefaceOk = !expectPreface;
  }

  /** Feeds one chunk; calls `handler` per complete frame. Returns an error when the input is not HTTP/2. */
  push(chunk: Buffer, handler: FrameHandler): ReadError | null {
    let buf = chunk;
    if (this.partialBytes > 0) {
      // A frame trickled in small pieces is joined once, not once per piece (no quadratic copying).
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.partialNeed) return null;
      buf = Buffer.concat(this.partial, this.partialBytes);
      this.partial.length = 0;
      this.partialBytes = 0;
    }
    let at = 0;
    if (!this.prefaceOk) {
      const n = Math.min(buf.length, PREFACE.length);
      if (buf.compare(PREFACE, 0, n, 0, n) !== 0) {
        // "Clients and servers MUST treat an invalid connection preface as a connection error of type PROTOCOL_ERROR" - RFC 9113 §3.4.
        const http1 = /^[A-Z]+ \S+ HTTP\/1\.[01]\r?\n/.test(buf.toString('latin1', 0, Math.min(buf.length, 256)));
        return { code: ErrorCode.PROTOCOL_ERROR, reason: http1 ? 'HTTP/1.x request: this is a gRPC (HTTP/2) proxy' : 'invalid HTTP/2 connection preface' };
      }
      if (buf.length < PREFACE.length) {
        // Checked again with every byte, so garbage is answered as soon as it differs.
        this.keep(buf, buf.length + 1);
        return null;
      }
      this.prefaceOk = true;
      at = PREFACE.length;
    }
    const end = buf.length;
    while (end - at >= 9) {
      const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
      // We never raise SETTINGS_MAX_FRAME_SIZE from its default: "An endpoint MUST send an error
      // code of FRAME_SIZE_ERROR if a frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE" - RFC 9113 §4.2.
      if (length > DEFAULT_MAX_FRAME_SIZE) {
        return { code: ErrorCode.FRAME_SIZE_ERROR, reason: `frame of ${length} octets exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}` };
      }
      if (end - at - 9 < length) break;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const id = buf.readUInt32BE(at + 5) & 0x7fff_ffff;
      const payload = buf.subarray(at + 9, at + 9 + length);
      at += 9 + length;
      if (!handler(type, flags, id, payload)) return null;
    }
    if (at < end) {
      const rest = at === 0 ? buf : buf.subarray(at);
      this.keep(rest, rest.length < 9 ? 9 : 9 + ((rest[0]! << 16) | (rest[1]! << 8) | rest[2]!));
    }
    return null;
  }

  private keep(rest: Buffer, need: number): void {
    this.partial.push(rest);
    this.partialBytes = rest.length;
    this.partialNeed = need;
  }
}
