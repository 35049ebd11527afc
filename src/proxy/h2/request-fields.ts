/**
 * The checks of a request's header fields that RFC 9113 §8.2-§8.3 makes the receiver's job and
 * the proxy relies on before forwarding: lowercase names, pseudo-header fields first and only the
 * request ones, no connection-specific fields. A request failing them is malformed: "Malformed
 * requests or responses that are detected MUST be treated as a stream error of type PROTOCOL_ERROR" - RFC 9113 §8.1.1.
 */

/** Connection-specific fields: "An endpoint MUST NOT generate an HTTP/2 message containing connection-specific header fields" - RFC 9113 §8.2.2. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const REQUEST_PSEUDO = new Set([':method', ':path', ':scheme', ':authority']);

/** Whether `[name, value, ...]` is a well-formed request header section. */
export function validRequestFields(fields: readonly string[]): boolean {
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.length === 0) return false;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      // "All pseudo-header fields MUST appear in a field block before all regular field lines" - RFC 9113 §8.3.
      if (regular || !REQUEST_PSEUDO.has(name)) return false;
      continue;
    }
    regular = true;
    for (let k = 0; k < name.length; k++) {
      const c = name.charCodeAt(k);
      // "A field name MUST NOT contain characters in the ranges 0x00-0x20, 0x41-0x5a, or 0x7f-0xff" - RFC 9113 §8.2.1.
      if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f) return false;
    }
    if (CONNECTION_SPECIFIC.has(name)) return false;
    // "The only exception to this is the TE header field, which MAY be present ... [with] "trailers"" - RFC 9113 §8.2.2.
    if (name === 'te' && fields[i + 1] !== 'trailers') return false;
  }
  return true;
}
