/**
 * gRPC statuses the proxy itself produces, and how an HTTP/2 stream reset maps to one.
 *
 * A proxy-made error is a "Trailers-Only" response (PROTOCOL-HTTP2.md: "Response → (Response-Headers
 * *Length-Prefixed-Message Trailers) / Trailers-Only"): one HEADERS frame with END_STREAM carrying
 * `:status 200`, `content-type`, `grpc-status` and `grpc-message`, so every gRPC client reports the
 * status and reason instead of an HTTP error.
 */
import { constants } from 'node:http2';

/** gRPC status codes used by the proxy (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  PERMISSION_DENIED: 7,
} as const;

/** Statuses that count as a failure of the backend for the load estimate (as the grpc-js policies do). */
export const BACKEND_FAILURE_STATUSES: ReadonlySet<number> = new Set([2, 4, 8, 13, 14, 15]);

/**
 * "grpc-message → Percent-Encoded: the value is percent-encoded as described in RFC 3986 ... for
 * every byte that is not in %x20-%x24 / %x26-%x7E" - PROTOCOL-HTTP2.md.
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Headers of a Trailers-Only response carrying `code` and `message`. */
export function trailersOnly(code: number, message: string): Record<string, string | number> {
  return {
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(code),
    'grpc-message': encodeGrpcMessage(message),
  };
}

/** Trailers (after a response already started) carrying `code` and `message`. */
export function statusTrailers(code: number, message: string): Record<string, string> {
  return { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
}

const RST_NAMES: Record<number, string> = {
  [constants.NGHTTP2_NO_ERROR]: 'NO_ERROR',
  [constants.NGHTTP2_PROTOCOL_ERROR]: 'PROTOCOL_ERROR',
  [constants.NGHTTP2_INTERNAL_ERROR]: 'INTERNAL_ERROR',
  [constants.NGHTTP2_FLOW_CONTROL_ERROR]: 'FLOW_CONTROL_ERROR',
  [constants.NGHTTP2_SETTINGS_TIMEOUT]: 'SETTINGS_TIMEOUT',
  [constants.NGHTTP2_STREAM_CLOSED]: 'STREAM_CLOSED',
  [constants.NGHTTP2_FRAME_SIZE_ERROR]: 'FRAME_SIZE_ERROR',
  [constants.NGHTTP2_REFUSED_STREAM]: 'REFUSED_STREAM',
  [constants.NGHTTP2_CANCEL]: 'CANCEL',
  [constants.NGHTTP2_COMPRESSION_ERROR]: 'COMPRESSION_ERROR',
  [constants.NGHTTP2_CONNECT_ERROR]: 'CONNECT_ERROR',
  [constants.NGHTTP2_ENHANCE_YOUR_CALM]: 'ENHANCE_YOUR_CALM',
  [constants.NGHTTP2_INADEQUATE_SECURITY]: 'INADEQUATE_SECURITY',
  [constants.NGHTTP2_HTTP_1_1_REQUIRED]: 'HTTP_1_1_REQUIRED',
};

/** The RFC 9113 §7 name of an error code, for messages. */
export function rstCodeName(code: number): string {
  return RST_NAMES[code] ?? `error code ${code}`;
}

/**
 * The status a client sees when the backend resets its stream, per PROTOCOL-HTTP2.md "Errors":
 * "REFUSED_STREAM → UNAVAILABLE (indicates that no processing occurred and the request can be
 * retried, possibly elsewhere)", "CANCEL → CANCELLED", "ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED",
 * "INADEQUATE_SECURITY → PERMISSION_DENIED", every other code → INTERNAL.
 */
export function statusForUpstreamReset(code: number): number {
  switch (code) {
    case constants.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case constants.NGHTTP2_CANCEL:
      return GrpcStatus.CANCELLED;
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/**
 * The received header fields as an object Node sends back field for field. Node joins repeated
 * fields into one "a, b" value (RFC 9110 §5.3 allows it), which changes gRPC metadata: two values
 * become one. When a name repeats, rebuild from the raw list with arrays (sent as separate
 * fields, in order); otherwise Node's object is already exact and is used as is.
 */
export function exactHeaders<H extends object>(headers: H, raw: readonly string[] | undefined): H {
  if (raw === undefined) return headers;
  let fields = 0;
  for (const _ in headers) fields++;
  if (fields * 2 === raw.length) return headers;
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (typeof existing === 'string') out[name] = [existing, value];
    else existing.push(value);
  }
  return out as H;
}
