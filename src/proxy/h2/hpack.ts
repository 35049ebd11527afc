/**
 * HPACK (RFC 7541): a decoder with the static and dynamic tables and Huffman strings, and an
 * encoder. Header lists are flat arrays `[name, value, name, value, ...]` of latin1 strings, so
 * every octet passes through unchanged (binary `-bin` metadata, UTF-8 the proxy never inspects).
 *
 * The encoder never adds to the dynamic table ("literal header field without indexing", §6.2.2)
 * and never Huffman-codes: on loopback and LAN the bytes saved cost more CPU than they return,
 * and a peer's table size setting can then never be violated.
 */
import { HpackError } from './hpack-error.js';
import { huffmanDecode } from './huffman.js';

/** RFC 7541 Appendix A. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** "The size of an entry is the sum of its name's length in octets ..., its value's length in octets, and 32" - RFC 7541 §4.1. */
const ENTRY_OVERHEAD = 32;

export { HpackError } from './hpack-error.js';

/** Result of decoding one header block. */
export interface DecodedBlock {
  /** `[name, value, ...]`; incomplete when `oversized` (decoding stopped there). Shared by the copies of a remembered block: never edited. */
  readonly fields: readonly string[];
  /** RFC 9113 §6.5.2 size: name + value + 32 per field; when `oversized`, the size at which decoding stopped. */
  readonly size: number;
  /** The list grew past the limit given to `decode`: `fields` stops there and must only be refused. */
  readonly oversized: boolean;
  /**
   * On a block the decoder remembers: the results of the RFC 9113 §8 checks made of it so far,
   * by kind (message-fields.ts), so that its next copies skip them; null on any other block.
   */
  readonly checks: (string | null | undefined)[] | null;
}

/**
 * Blocks up to this many octets are remembered; a gRPC call's header sections are a few dozen.
 * Clients send the same octets call after call: nghttp2 (grpc-js, Node, Envoy, h2load) never
 * indexes :path or content-length, so each request carries them as the same literals, and every
 * other field as a reference to the same table entry.
 */
const REMEMBER_MAX_OCTETS = 256;
/** Blocks remembered per connection: a request kind or two, or a response's headers and trailers. */
const REMEMBERED = 4;

/** A block decoded while the dynamic table was at `version`, and that did not change the table. */
interface Remembered {
  readonly bytes: Buffer;
  readonly version: number;
  readonly block: DecodedBlock;
}

/** Decodes header blocks of one connection, in order (the dynamic table is per connection). */
export class HpackDecoder {
  /** Dynamic table entries, newest first, as [name, value]. */
  private table: [string, string][] = [];
  private tableSize = 0;
  /** The limit the peer set with a size update, at most `maxTableSize`. */
  private limit: number;
  /** Bumped by every change of the dynamic table: a remembered block decodes the same only at its version. */
  private version = 0;
  private readonly remembered: Remembered[] = [];
  private nextSlot = 0;

  /** `maxTableSize`: our SETTINGS_HEADER_TABLE_SIZE (4096 unless we advertise otherwise). */
  constructor(private readonly maxTableSize = 4096) {
    this.limit = maxTableSize;
  }

  /**
   * Decodes a complete header block; throws HpackError when it is malformed. Past
   * `maxListSize` (RFC 9113 §6.5.2 size) no more field is built: the rest of the block is only
   * walked, for the insertions that keep the dynamic table in step ("The header section MUST be
   * processed to ensure a consistent connection state" - RFC 9113 §10.5.1). So a block that
   * references one 4 KB entry 28,000 times costs a walk of its own octets, not 113 MB of fields.
   */
  decode(buf: Buffer, maxListSize = Infinity): DecodedBlock {
    // The same octets against the same table are the same list: "the decoder ... processes
    // header blocks in order", and a block that neither adds to the table nor resizes it leaves
    // the table as it was (RFC 7541 §2.3, §6) — so its result stands for its next copies.
    const n = buf.length;
    if (n <= REMEMBER_MAX_OCTETS) {
      const remembered = this.remembered;
      for (let k = 0; k < remembered.length; k++) {
        const r = remembered[k]!;
        if (r.version === this.version && r.block.size <= maxListSize && sameOctets(r.bytes, buf)) return r.block;
      }
    }
    const version = this.version;
    const decoded = this.decodeBlock(buf, maxListSize);
    if (n > REMEMBER_MAX_OCTETS || decoded.oversized || this.version !== version) return decoded;
    const block: DecodedBlock = { fields: decoded.fields, size: decoded.size, oversized: false, checks: [] };
    // Copied: `buf` is a view of a socket read that would otherwise stay alive with it.
    const entry: Remembered = { bytes: Buffer.from(buf), version, block };
    if (this.remembered.length < REMEMBERED) this.remembered.push(entry);
    else this.remembered[this.nextSlot] = entry;
    this.nextSlot = (this.nextSlot + 1) % REMEMBERED;
    return block;
  }

  private decodeBlock(buf: Buffer, maxListSize: number): DecodedBlock {
    const fields: string[] = [];
    let size = 0;
    let oversized = false;
    let i = 0;
    const end = buf.length;
    let fieldSeen = false;
    while (i < end) {
      const b = buf[i]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // §6.1 Indexed Header Field.
        const index = readInt(buf, i, 7);
        i = readEnd;
        [name, value] = this.entry(index);
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 Dynamic Table Size Update: "MUST occur at the beginning of the first header block following the change".
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        const newSize = readInt(buf, i, 5);
        i = readEnd;
        if (newSize > this.maxTableSize) throw new HpackError(`dynamic table size ${newSize} exceeds the limit ${this.maxTableSize}`);
        this.limit = newSize;
        this.version++;
        this.evict(0);
        continue;
      } else {
        // §6.2: 01 incremental indexing (6-bit index), 0000 without / 0001 never indexed (4-bit).
        const indexing = (b & 0xc0) === 0x40;
        const index = readInt(buf, i, indexing ? 6 : 4);
        i = readEnd;
        if (oversized && !indexing) {
          // Nothing to keep: step over the strings without decoding them.
          fieldSeen = true;
          if (index === 0) i = skipString(buf, i);
          else this.entry(index);
          i = skipString(buf, i);
          continue;
        }
        if (index === 0) {
          name = readString(buf, i);
          i = readEnd;
        } else {
          name = this.entry(index)[0];
        }
        value = readString(buf, i);
        i = readEnd;
        if (indexing) this.add(name, value);
      }
      fieldSeen = true;
      if (oversized) continue;
      size += name.length + value.length + ENTRY_OVERHEAD;
      if (size > maxListSize) oversized = true;
      else fields.push(name, value);
    }
    return { fields, size, oversized, checks: null };
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const e = this.table[index - STATIC_TABLE.length - 1];
    if (e === undefined) throw new HpackError(`index ${index} beyond the tables`);
    return e;
  }

  private add(name: string, value: string): void {
    this.version++;
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // "an attempt to add an entry larger than the maximum size causes the table to be emptied" - §4.4.
    this.evict(size);
    if (size <= this.limit) {
      this.table.unshift([name, value]);
      this.tableSize += size;
    }
  }

  /** Evicts oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.table.length > 0 && this.tableSize + room > this.limit) {
      const [n, v] = this.table.pop()!;
      this.tableSize -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }
}

/** Whether `a` and `b` hold the same octets (a loop: for a few dozen octets, cheaper than Buffer#equals' native call). */
function sameOctets(a: Buffer, b: Buffer): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Where the last readInt or readString ended. Returned beside the value, as a tuple, it cost an
 * array per field on every header block; decoding is synchronous, so one variable serves.
 */
let readEnd = 0;

/** §5.1 integer with an N-bit prefix at `buf[i]`; its end goes to `readEnd`. */
function readInt(buf: Buffer, i: number, prefix: number): number {
  const max = (1 << prefix) - 1;
  let value = buf[i]! & max;
  i++;
  if (value < max) {
    readEnd = i;
    return value;
  }
  let shift = 0;
  for (;;) {
    if (i >= buf.length) throw new HpackError('truncated integer');
    const b = buf[i++]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
    // Nothing legitimate needs more than 2^28 (header blocks are bounded far below that).
    if (shift > 28) throw new HpackError('integer too large');
  }
  readEnd = i;
  return value;
}

/** §5.2 string literal at `buf[i]`, as latin1; its end goes to `readEnd`. */
function readString(buf: Buffer, i: number): string {
  if (i >= buf.length) throw new HpackError('truncated string');
  const huffman = (buf[i]! & 0x80) !== 0;
  const len = readInt(buf, i, 7);
  const start = readEnd;
  const end = start + len;
  if (end > buf.length) throw new HpackError('string beyond the header block');
  readEnd = end;
  return huffman ? huffmanDecode(buf, start, end) : buf.toString('latin1', start, end);
}

/** The offset after the §5.2 string literal at `buf[i]`, checked but not decoded. */
function skipString(buf: Buffer, i: number): number {
  if (i >= buf.length) throw new HpackError('truncated string');
  const len = readInt(buf, i, 7);
  const end = readEnd + len;
  if (end > buf.length) throw new HpackError('string beyond the header block');
  return end;
}

/** Static-table index of each name (first match), and per name, of each exact value it has there. */
const STATIC_NAME = new Map<string, number>();
const STATIC_PAIR = new Map<string, Map<string, number>>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
  if (value === '') return;
  let values = STATIC_PAIR.get(name);
  if (values === undefined) STATIC_PAIR.set(name, (values = new Map()));
  values.set(value, i + 1);
});

/**
 * Strings up to this length are copied to the block by a loop: Buffer#write's native call costs
 * more than the copy for header names and values of a few dozen octets.
 */
const SHORT_STRING = 64;

/** Writes latin1 `s` at `at`; returns the offset after it. */
function writeLatin1(out: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return at + out.write(s, at, 'latin1');
  for (let k = 0; k < n; k++) out[at + k] = s.charCodeAt(k);
  return at + n;
}

/** A header list and its block, kept for the lists that follow it. */
interface Encoded {
  readonly fields: readonly string[];
  readonly block: Buffer;
}

/**
 * Encodes header lists as literals without indexing (static-table names and pairs where they
 * match). The block is a function of the list alone (no dynamic table), so the last few are kept:
 * a proxy sends the same response headers and trailers call after call, as the same strings
 * (the decoder hands its remembered blocks' strings over again), and compares them by identity.
 */
export class HpackEncoder {
  private readonly recent: Encoded[] = [];
  private nextSlot = 0;

  /** Encodes `[name, value, ...]` into a header block (a kept block is shared: never edit it). */
  encode(fields: readonly string[]): Buffer {
    const n = fields.length;
    const recent = this.recent;
    next: for (let k = 0; k < recent.length; k++) {
      const r = recent[k]!;
      const kept = r.fields;
      if (kept.length !== n) continue;
      for (let i = 0; i < n; i++) if (kept[i] !== fields[i]) continue next;
      return r.block;
    }
    const block = encodeFields(fields);
    if (block.length <= REMEMBER_MAX_OCTETS) {
      // A copy: the caller may edit its list afterwards (a call's request fields are, per attempt).
      const entry: Encoded = { fields: fields.slice(), block };
      if (recent.length < REMEMBERED) recent.push(entry);
      else recent[this.nextSlot] = entry;
      this.nextSlot = (this.nextSlot + 1) % REMEMBERED;
    }
    return block;
  }
}

function encodeFields(fields: readonly string[]): Buffer {
  let max = 0;
  for (let i = 0; i < fields.length; i++) max += fields[i]!.length + 6;
  const out = Buffer.allocUnsafe(max);
  let at = 0;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    // Only pseudo-header fields and accept-encoding have values in the static table (no string is built to look them up).
    const pair = STATIC_PAIR.get(name)?.get(value);
    if (pair !== undefined) {
      at = writeInt(out, at, pair, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    if (nameIndex !== undefined) {
      at = writeInt(out, at, nameIndex, 4, 0x00);
    } else {
      out[at++] = 0x00;
      at = writeInt(out, at, name.length, 7, 0x00);
      at = writeLatin1(out, at, name);
    }
    at = writeInt(out, at, value.length, 7, 0x00);
    at = writeLatin1(out, at, value);
  }
  return out.subarray(0, at);
}

/** §5.1 integer with an N-bit prefix and the high `bits` of the first octet. */
function writeInt(out: Buffer, at: number, value: number, prefix: number, bits: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out[at++] = bits | value;
    return at;
  }
  out[at++] = bits | max;
  value -= max;
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}
