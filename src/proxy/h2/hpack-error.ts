/** A malformed header block: "a decoding error ... MUST be treated as a connection error of type COMPRESSION_ERROR" - RFC 9113 §4.3. */
export class HpackError extends Error {}
