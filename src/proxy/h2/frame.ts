/**
 * HTTP/2 frames (RFC 9113 §4 and §6): type, flag, setting and error-code numbers, and the
 * encoders of the frames the proxy sends. Every frame starts with the same 9 octets:
 * "Length (24), Type (8), Flags (8), Reserved (1), Stream Identifier (31)" - RFC 9113 §4.1.
 */

/** Frame types, RFC 9113 §6. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags, RFC 9113 §6 (ACK shares END_STREAM's bit on SETTINGS and PING). */
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Error codes, RFC 9113 §7. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** SETTINGS parameters, RFC 9113 §6.5.2. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** "The client connection preface starts with a sequence of 24 octets" - RFC 9113 §3.4. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Initial stream and connection window, and the smallest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2, §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** "The maximum size of a flow-control window is 2^31-1 (2,147,483,647) octets" - RFC 9113 §6.9.1. */
export const MAX_WINDOW = 0x7fff_ffff;

/** Writes a frame header into `buf` at `at`. */
export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(streamId, at + 5);
}

/** A frame with `payload` (copied after the header). */
export function encodeFrame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const n = payload === undefined ? 0 : payload.length;
  const out = Buffer.allocUnsafe(9 + n);
  writeFrameHeader(out, 0, n, type, flags, streamId);
  if (payload !== undefined) payload.copy(out, 9);
  return out;
}

/** SETTINGS with the given [parameter, value] pairs. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const out = Buffer.allocUnsafe(9 + 6 * settings.length);
  writeFrameHeader(out, 0, 6 * settings.length, FrameType.SETTINGS, 0, 0);
  settings.forEach(([id, value], i) => {
    out.writeUInt16BE(id, 9 + 6 * i);
    out.writeUInt32BE(value, 11 + 6 * i);
  });
  return out;
}

/** SETTINGS with the ACK flag. */
export const SETTINGS_ACK = encodeFrame(FrameType.SETTINGS, Flag.ACK, 0);

/** WINDOW_UPDATE granting `increment` octets on `streamId` (0: the connection). */
export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment, 9);
  return out;
}

/** RST_STREAM with `code`. */
export function rstStreamFrame(streamId: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeFrameHeader(out, 0, 4, FrameType.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code, 9);
  return out;
}

/** GOAWAY with the last stream processed, `code`, and `reason` as debug data. */
export function goawayFrame(lastStreamId: number, code: number, reason = ''): Buffer {
  const debug = Buffer.from(reason, 'utf8');
  const out = Buffer.allocUnsafe(17 + debug.length);
  writeFrameHeader(out, 0, 8 + debug.length, FrameType.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStreamId, 9);
  out.writeUInt32BE(code, 13);
  debug.copy(out, 17);
  return out;
}

/** The name of an error code, for messages ("error code N" for unknown ones). */
export function errorCodeName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) if (value === code) return name;
  return `error code ${code}`;
}
