/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B): decoding four bits at a time through a
 * state table, as nghttp2 does, rather than walking the code tree bit by bit. Clients send
 * Huffman literals on every call (nghttp2 never indexes :path), so this runs per request.
 */
import { HpackError } from './hpack-error.js';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from './huffman-table.js';

/** EOS, the 257th symbol: "A Huffman-encoded string literal containing the EOS symbol MUST be treated as a decoding error" - §5.2. */
const EOS = 256;
/** Table entries that end decoding. */
const FAIL_EOS = -2;

/**
 * The code tree's internal nodes are the decoder's states (the root is 0). For each state and
 * nibble: the state after it, and the symbol it completes (+1, 0 for none) in bits 9 and up, or
 * FAIL_EOS. The shortest code is 5 bits, so a nibble completes at most one symbol.
 */
const { DECODE, ACCEPTING } = buildDecoder();

function buildDecoder(): { DECODE: Int32Array; ACCEPTING: Uint8Array } {
  // The tree, flattened: node i has children at [2i] and [2i+1]; a negative entry is -(symbol+1).
  const tree = new Int32Array(2 * 512);
  // Per node: "padding ... corresponding to the most significant bits of the code for the EOS
  // symbol" and "strictly longer than 7 bits MUST be treated as a decoding error" - §5.2: a
  // string may end in a node reached from the root by at most 7 one-bits.
  const accepting = new Uint8Array(512);
  accepting[0] = 1;
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    const len = HUFFMAN_LENGTHS[sym]!;
    let node = 0;
    for (let bit = len - 1; bit >= 0; bit--) {
      const b = (code >>> bit) & 1;
      const slot = 2 * node + b;
      if (bit === 0) {
        tree[slot] = -(sym + 1);
      } else {
        if (tree[slot] === 0) {
          tree[slot] = nodes;
          const depth = len - bit;
          accepting[nodes] = accepting[node] === 1 && b === 1 && depth <= 7 ? 1 : 0;
          nodes++;
        }
        node = tree[slot]!;
      }
    }
  }
  const decode = new Int32Array(nodes * 16);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emitted = 0;
      let entry = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const next = tree[2 * node + ((nibble >>> bit) & 1)]!;
        if (next < 0) {
          const sym = -next - 1;
          if (sym === EOS) {
            entry = FAIL_EOS;
            break;
          }
          emitted = sym + 1;
          node = 0;
        } else {
          node = next;
        }
      }
      // The code is complete (every bit string leads to a symbol), so there is no other failure.
      decode[state * 16 + nibble] = entry === FAIL_EOS ? FAIL_EOS : node | (emitted << 9);
    }
  }
  return { DECODE: decode, ACCEPTING: accepting };
}

/** Where Huffman strings are decoded before they become a string (one per process: decoding is synchronous). */
const scratch = Buffer.allocUnsafe(4096);

/** Decodes a Huffman string (RFC 7541 §5.2) to latin1. */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  // The shortest code is 5 bits: at most 8/5 symbols per octet. A larger string gets its own buffer, not kept.
  const most = Math.ceil(((end - start) * 8) / 5);
  const out = most <= scratch.length ? scratch : Buffer.allocUnsafe(most);
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    let e = DECODE[(state << 4) | (byte >>> 4)]!;
    if (e < 0) throw new HpackError('Huffman string contains EOS');
    if (e >= 512) out[n++] = (e >>> 9) - 1;
    state = e & 0x1ff;
    e = DECODE[(state << 4) | (byte & 0x0f)]!;
    if (e < 0) throw new HpackError('Huffman string contains EOS');
    if (e >= 512) out[n++] = (e >>> 9) - 1;
    state = e & 0x1ff;
  }
  if (ACCEPTING[state] !== 1) throw new HpackError('invalid Huffman padding');
  return out.toString('latin1', 0, n);
}

/** Huffman-encodes latin1 `s` (used by tests; the encoder sends raw strings). */
export function huffmanEncode(s: string): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const code = HUFFMAN_CODES[sym]!;
    const len = HUFFMAN_LENGTHS[sym]!;
    for (let bit = len - 1; bit >= 0; bit--) {
      acc = (acc << 1) | ((code >>> bit) & 1);
      if (++bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}
