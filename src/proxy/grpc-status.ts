/**
 * gRPC statuses the proxy itself produces, and how an HTTP/2 stream reset maps to one.
 *
 * A proxy-made error is a "Trailers-Only" response (PROTOCOL-HTTP2.md: "Response → (Response-Headers
 * *Length-Prefixed-Message Trailers) / Trailers-Only"): one HEADERS frame with END_STREAM carrying
 * `:status 200`, `content-type`, `grpc-status` and `grpc-message`, so every gRPC client reports the
 * status and reason instead of an HTTP error.
 */
import { Status } from '../core/status.js';
import { ErrorCode, errorCodeName } from './h2/frame.js';

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

/** The text of a received `grpc-message` (percent-decoded as above); a malformed encoding is kept as it came. */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Header fields (`[name, value, ...]`) of a Trailers-Only response carrying `code` and `message`. */
export function trailersOnly(code: number, message: string): string[] {
  return [':status', '200', 'content-type', 'application/grpc', 'grpc-status', String(code), 'grpc-message', encodeGrpcMessage(message)];
}

/** Trailer fields (after a response already started) carrying `code` and `message`. */
export function statusTrailers(code: number, message: string): string[] {
  return ['grpc-status', String(code), 'grpc-message', encodeGrpcMessage(message)];
}

/** The RFC 9113 §7 name of an error code, for messages. */
export const rstCodeName = errorCodeName;

/**
 * The status a client sees when the backend resets its stream, per PROTOCOL-HTTP2.md "Errors":
 * "REFUSED_STREAM → UNAVAILABLE (indicates that no processing occurred and the request can be
 * retried, possibly elsewhere)", "CANCEL → CANCELLED", "ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED",
 * "INADEQUATE_SECURITY → PERMISSION_DENIED", every other code → INTERNAL.
 */
export function statusForUpstreamReset(code: number): number {
  switch (code) {
    case ErrorCode.REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case ErrorCode.CANCEL:
      return Status.CANCELLED;
    case ErrorCode.ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    case ErrorCode.INADEQUATE_SECURITY:
      return Status.PERMISSION_DENIED;
    default:
      return Status.INTERNAL;
  }
}
