/**
 * The checks RFC 9113 §8 makes the receiver's job, on every header section the proxy receives:
 * requests from clients, responses and trailers from backends. "Intermediaries that process
 * HTTP requests or responses ... MUST NOT forward a malformed request or response. Malformed
 * requests or responses that are detected MUST be treated as a stream error of type
 * PROTOCOL_ERROR" - RFC 9113 §8.1.1. Each check returns why a section is malformed (for the
 * INTERNAL message of a malformed response, and for tests), or null when it is well-formed.
 *
 * Header sections are flat `[name, value, name, value, ...]` arrays of latin1 strings, as the
 * HPACK decoder produces them; the checks walk them once, without building anything, and once per
 * block the decoder remembers rather than once per copy of it ({@link sectionError}).
 */
import type { DecodedBlock } from './hpack.js';

/**
 * "An endpoint MUST NOT generate an HTTP/2 message containing connection-specific header
 * fields. This includes the Connection header field and those listed as having
 * connection-specific semantics (Proxy-Connection, Keep-Alive, Transfer-Encoding, and Upgrade).
 * Any message containing connection-specific header fields MUST be treated as malformed" - RFC 9113 §8.2.2.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Request pseudo-header fields as bits, to see each exactly once (RFC 9113 §8.3.1). */
const METHOD = 1;
const SCHEME = 2;
const PATH = 4;
const AUTHORITY = 8;
const REQUEST_PSEUDO: ReadonlyMap<string, number> = new Map([
  [':method', METHOD],
  [':scheme', SCHEME],
  [':path', PATH],
  [':authority', AUTHORITY],
]);

/**
 * Why the regular field `name: value` is not valid in any HTTP/2 message, or null.
 * "A field name MUST NOT contain characters in the ranges 0x00-0x20, 0x41-0x5a, or 0x7f-0xff
 * (all ranges inclusive) ... With the exception of pseudo-header fields ..., field names MUST
 * NOT include a colon" and "A field value MUST NOT contain the zero value (ASCII NUL, 0x00),
 * line feed (ASCII LF, 0x0a), or carriage return (ASCII CR, 0x0d) at any position. A field value
 * MUST NOT start or end with an ASCII whitespace character (ASCII SP or HTAB, 0x20 or 0x09)" - RFC 9113 §8.2.1.
 */
function regularFieldError(name: string, value: string): string | null {
  if (name.length === 0) return 'empty field name';
  for (let k = 0; k < name.length; k++) {
    const c = name.charCodeAt(k);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) {
      return c >= 0x41 && c <= 0x5a ? `uppercase field name ${JSON.stringify(name)}` : `invalid character 0x${c.toString(16)} in field name ${JSON.stringify(name)}`;
    }
  }
  const last = value.length - 1;
  if (last >= 0) {
    const first = value.charCodeAt(0);
    const end = value.charCodeAt(last);
    if (first === 0x20 || first === 0x09 || end === 0x20 || end === 0x09) return `field ${name} has a value with leading or trailing whitespace`;
    for (let k = 0; k <= last; k++) {
      const c = value.charCodeAt(k);
      if (c === 0x00 || c === 0x0a || c === 0x0d) return `field ${name} has a value with NUL, CR or LF`;
    }
  }
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  // "The only exception to this is the TE header field, which MAY be present in an HTTP/2
  // request; when it is, it MUST NOT contain any value other than "trailers"" - RFC 9113 §8.2.2.
  if (name === 'te' && value !== 'trailers') return `te: ${JSON.stringify(value)} (only "trailers" is allowed)`;
  return null;
}

/** Why a request header section is malformed (RFC 9113 §8.2, §8.3, §8.3.1), or null. */
export function requestFieldsError(fields: readonly string[]): string | null {
  let seen = 0;
  let regular = false;
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* ':' */) {
      // "All pseudo-header fields MUST appear in a field block before all regular field lines" - RFC 9113 §8.3.
      if (regular) return `pseudo-header field ${name} after a regular field`;
      const bit = REQUEST_PSEUDO.get(name);
      // "Endpoints MUST NOT generate pseudo-header fields other than those defined in this
      // document" and "Pseudo-header fields defined for responses MUST NOT appear in requests" - RFC 9113 §8.3.
      if (bit === undefined) return `pseudo-header field ${name} is not a request pseudo-header field`;
      // "The same pseudo-header field name MUST NOT appear more than once in a field block" - RFC 9113 §8.3.
      if (seen & bit) return `${name} appears more than once`;
      seen |= bit;
      if (bit === METHOD) method = value;
      else if (bit === SCHEME) scheme = value;
      else if (bit === PATH) path = value;
      else authority = value;
      continue;
    }
    regular = true;
    const error = regularFieldError(name, value);
    if (error !== null) return error;
    if (name === 'host') host = value;
  }
  if (method === 'CONNECT') {
    // "The :scheme and :path pseudo-header fields MUST be omitted. The :authority pseudo-header
    // field contains the host and port to connect to" - RFC 9113 §8.5.
    if (scheme !== undefined || path !== undefined) return 'CONNECT request with :scheme or :path';
    if (authority === undefined) return 'CONNECT request without :authority';
    return null;
  }
  // "All HTTP/2 requests MUST include exactly one valid value for the :method, :scheme, and :path
  // pseudo-header fields, unless they are CONNECT requests" - RFC 9113 §8.3.1.
  if (method === undefined || method === '') return 'no :method';
  if (scheme === undefined || scheme === '') return 'no :scheme';
  if (path === undefined || path === '') return 'no :path';
  // "http or https URIs that do not contain a path component MUST include a value of '/'. The
  // exceptions to this rule are: an OPTIONS request for an "http" or "https" URI that does not
  // include a path component; these MUST include a ":path" pseudo-header field with a value of '*'" - RFC 9113 §8.3.1.
  if (path.charCodeAt(0) !== 0x2f /* '/' */ && !(path === '*' && method === 'OPTIONS')) return `:path ${JSON.stringify(path)} does not start with "/"`;
  // "A server SHOULD treat a request as malformed if it contains a Host header field that
  // identifies an entity that differs from the entity in the :authority pseudo-header field" - RFC 9113 §8.3.1.
  if (host !== undefined && authority !== undefined && host !== authority) return 'host differs from :authority';
  return null;
}

/**
 * Why a response header section is malformed (RFC 9113 §8.2, §8.3, §8.3.2), or null: "For HTTP/2
 * responses, a single ":status" pseudo-header field is defined ... This pseudo-header field MUST
 * be included in all responses, including interim responses; otherwise, the response is
 * malformed" - RFC 9113 §8.3.2.
 */
export function responseFieldsError(fields: readonly string[]): string | null {
  let status: string | undefined;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header field ${name} after a regular field`;
      if (name !== ':status') return `pseudo-header field ${name} is not a response pseudo-header field`;
      if (status !== undefined) return ':status appears more than once';
      status = value;
      continue;
    }
    regular = true;
    const error = regularFieldError(name, value);
    if (error !== null) return error;
  }
  if (status === undefined) return 'no :status';
  // A status code is "a three-digit integer" - RFC 9110 §15.
  if (!isStatusCode(status)) return `:status ${JSON.stringify(status)} is not a three-digit status code`;
  // "HTTP/2 removes support for the 101 (Switching Protocols) informational status code" - RFC 9113 §8.6.
  if (status === '101') return ':status 101 (Switching Protocols) does not exist in HTTP/2';
  return null;
}

/** Whether `s` is three digits, the first 1-5. */
function isStatusCode(s: string): boolean {
  if (s.length !== 3) return false;
  const a = s.charCodeAt(0);
  const b = s.charCodeAt(1);
  const c = s.charCodeAt(2);
  return a >= 0x31 && a <= 0x35 && b >= 0x30 && b <= 0x39 && c >= 0x30 && c <= 0x39;
}

/** Why a trailer section is malformed, or null: "Trailers MUST NOT include pseudo-header fields" - RFC 9113 §8.1. */
export function trailerFieldsError(fields: readonly string[]): string | null {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) return `pseudo-header field ${name} in trailers`;
    const error = regularFieldError(name, fields[i + 1]!);
    if (error !== null) return error;
  }
  return null;
}

/** Whether a response with these (well-formed) fields is interim: a 1xx status, followed by the final response (RFC 9113 §8.1). */
export function isInterimResponse(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === ':status') return fields[i + 1]!.charCodeAt(0) === 0x31 /* '1' */;
  return false;
}

/** The section a header block carries, as the index of a remembered block's checks. */
export type SectionKind = typeof REQUEST | typeof RESPONSE | typeof TRAILERS;
/** A request's header section. */
export const REQUEST = 0;
/** A response's header section (final or interim). */
export const RESPONSE = 1;
/** Trailers, of a request or a response. */
export const TRAILERS = 2;

/**
 * Why `block` is malformed as a section of `kind`, or null. A block the decoder remembers keeps
 * the answer: its copies (the same octets against the same table) are the same list.
 */
export function sectionError(block: DecodedBlock, kind: SectionKind): string | null {
  const checks = block.checks;
  if (checks !== null) {
    const known = checks[kind];
    if (known !== undefined) return known;
  }
  const fields = block.fields;
  const error = kind === REQUEST ? requestFieldsError(fields) : kind === RESPONSE ? responseFieldsError(fields) : trailerFieldsError(fields);
  if (checks !== null) checks[kind] = error;
  return error;
}
