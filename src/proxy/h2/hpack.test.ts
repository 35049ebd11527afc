/**
 * HPACK against the examples of RFC 7541 Appendix C (requests with and without Huffman coding,
 * sharing one dynamic table), our encoder round-tripping through the decoder, and the malformed
 * blocks a decoder must refuse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.js';
import { huffmanDecode, huffmanEncode } from './huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('hpack', () => {
  it('decodes the RFC 7541 C.3 requests (no Huffman) through one dynamic table', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')).fields, [
      ':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com',
    ]);
    assert.deepEqual(d.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865')).fields, [
      ':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache',
    ]);
    const third = d.decode(hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'));
    assert.deepEqual(third.fields, [
      ':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value',
    ]);
    // RFC 9113 §6.5.2 size: name + value + 32 per field.
    assert.equal(third.size, 7 + 3 + 7 + 5 + 5 + 11 + 10 + 15 + 10 + 12 + 5 * 32);
  });

  it('decodes the RFC 7541 C.4 requests (Huffman)', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')).fields, [
      ':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com',
    ]);
    assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')).fields.slice(-2), ['cache-control', 'no-cache']);
    assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')).fields.slice(-2), ['custom-key', 'custom-value']);
  });

  it('evicts the oldest entries past the table size (RFC 7541 C.5 responses with a 256-octet table)', () => {
    const d = new HpackDecoder();
    d.decode(hex('3fe1 01')); // size update to 256
    d.decode(hex('4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
    const second = d.decode(hex('4803 3330 37c1 c0bf'));
    assert.deepEqual(second.fields, [
      ':status', '307', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com',
    ]);
  });

  it('round-trips every octet, repeated names and long values through the encoder', () => {
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const fields = [':status', '200', 'content-type', 'application/grpc', 'x-bin', all, 'x-m', 'a', 'x-m', 'b', 'x-long', 'v'.repeat(70_000), 'grpc-status', '0'];
    const block = new HpackEncoder().encode(fields);
    assert.deepEqual(new HpackDecoder().decode(block).fields, fields);
    // Static pairs are one octet each.
    assert.deepEqual([...new HpackEncoder().encode([':status', '200', ':method', 'POST'])], [0x88, 0x83]);
  });

  it('round-trips Huffman strings and rejects bad padding and EOS', () => {
    for (const s of ['', 'a', 'www.example.com', 'custom-value', '\u0000\u00ff\u0080 binary']) {
      const b = huffmanEncode(s);
      assert.equal(huffmanDecode(b, 0, b.length), s);
    }
    assert.throws(() => huffmanDecode(Buffer.from([0x00]), 0, 1), HpackError); // '0' bits as padding
    assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), HpackError); // EOS
  });

  it('rejects malformed blocks with HpackError', () => {
    const bad = [
      hex('80'), // index 0
      hex('ff00'), // index beyond the tables
      hex('0005 6162'), // string past the end
      hex('3fe2 1f'), // table size update to 4097, above the limit
      hex('82 3f00'), // size update after a field
      hex('ffff ffff ffff 7f'), // integer overflow
    ];
    for (const b of bad) assert.throws(() => new HpackDecoder().decode(b), HpackError, b.toString('hex'));
  });

  it('stops building fields at the list size limit and still keeps the dynamic table in step', () => {
    const d = new HpackDecoder();
    const entry = (v: string) => Buffer.concat([hex('40 06'), Buffer.from('x-bomb'), Buffer.from([v.length]), Buffer.from(v)]);
    // A bomb: one 100-octet entry (index 62), referenced 1000 times, then a literal that is indexed past the limit.
    const bomb = Buffer.concat([hex('83 86'), entry('a'.repeat(100)), Buffer.alloc(1000, 0x80 | 62), hex('0003 7a7a 7a01 31'), entry('second')]);
    const out = d.decode(bomb, 1000);
    assert.equal(out.oversized, true);
    assert.ok(out.size > 1000 && out.size < 1000 + 139, `stopped at ${out.size}`);
    assert.ok(out.fields.length < 20, `${out.fields.length / 2} fields built`);
    // The entries inserted past the limit are in the table: 62 is the newest ("second"), 63 the first.
    assert.deepEqual(d.decode(hex('be bf')).fields, ['x-bomb', 'second', 'x-bomb', 'a'.repeat(100)]);
    assert.equal(d.decode(hex('be')).oversized, false);
  });

  it('decodes a block sent again to the same list, but not past a change of the dynamic table', () => {
    const d = new HpackDecoder();
    // 'x-a: 1' inserted (62), then a block of a literal :path (never indexed, as nghttp2 sends it) and index 62.
    d.decode(Buffer.concat([hex('40 03'), Buffer.from('x-a'), hex('01'), Buffer.from('1')]));
    const path = huffmanEncode('/pkg.Svc/Method');
    const again = Buffer.concat([hex('83 04'), Buffer.from([0x80 | path.length]), path, hex('be')]);
    const first = d.decode(again);
    assert.deepEqual(first.fields, [':method', 'POST', ':path', '/pkg.Svc/Method', 'x-a', '1']);
    // The same octets, from another read: the remembered block.
    assert.equal(d.decode(Buffer.from(again)), first);
    // 'x-b: 2' becomes index 62: the same octets now say x-b.
    d.decode(Buffer.concat([hex('40 03'), Buffer.from('x-b'), hex('01'), Buffer.from('2')]));
    assert.deepEqual(d.decode(again).fields, [':method', 'POST', ':path', '/pkg.Svc/Method', 'x-b', '2']);
    // A block that changes the table is decoded every time (its second copy inserts again).
    const inserting = Buffer.concat([hex('40 03'), Buffer.from('x-c'), hex('01'), Buffer.from('3')]);
    assert.notEqual(d.decode(inserting), d.decode(inserting));
    assert.deepEqual(d.decode(hex('be bf')).fields, ['x-c', '3', 'x-c', '3']);
    // A remembered block is not handed out past a smaller list limit.
    assert.equal(d.decode(again, 10).oversized, true);
  });

  it("encodes a list again from its kept block, and follows edits of the caller's list", () => {
    const e = new HpackEncoder();
    const fields = [':status', '200', 'content-type', 'application/grpc'];
    const first = e.encode(fields);
    assert.equal(e.encode([...fields]), first);
    fields[3] = 'application/grpc+proto';
    assert.deepEqual(new HpackDecoder().decode(e.encode(fields)).fields, fields);
    for (let i = 0; i < 6; i++) e.encode(['x-n', String(i)]); // more lists than are kept
    assert.deepEqual(new HpackDecoder().decode(e.encode([':status', '200'])).fields, [':status', '200']);
  });

  it('decodes every symbol of the Huffman code, and refuses padding longer than 7 bits', () => {
    for (let c = 0; c < 256; c++) {
      const s = String.fromCharCode(c).repeat(3) + 'a' + String.fromCharCode(255 - c);
      const b = huffmanEncode(s);
      assert.equal(huffmanDecode(b, 0, b.length), s);
    }
    // 'a' is 00011 (5 bits): 3 one-bits of padding fill its octet; a whole octet more of ones is 11 bits.
    assert.equal(huffmanDecode(Buffer.from([0x1f]), 0, 1), 'a');
    assert.throws(() => huffmanDecode(Buffer.from([0x1f, 0xff]), 0, 2), /padding/);
  });
});
