/**
 * Property-based fuzzing of the proxy's HTTP/2 engine (src/proxy/h2/), as the engines it replaces
 * are fuzzed (nghttp2 and Envoy run libFuzzer on their frame and HPACK decoders): the frame
 * reader, the HPACK decoder, the RFC 9113 §8 checks of requests, responses and trailers, and a
 * whole server connection fed random and mutated frames. Inputs start from valid frames and
 * header blocks that are then mutated (bit flips, truncation, inserted and repeated bytes), plus
 * pure noise. Every property asserts that no exception escapes, that what the engine holds stays
 * bounded, and that each rejected input gets the error RFC 9113 gives it.
 *
 * The same properties run briefly in `npm test` (test/h2-fuzz.test.ts) and for as long as asked
 * in `npm run fuzz -- --seconds N` (scripts/fuzz.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { H2Connection } from '../../src/proxy/h2/connection.js';
import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, errorCodeName, Flag, FrameType, PREFACE, Setting, encodeFrame, settingsFrame } from '../../src/proxy/h2/frame.js';
import { FrameReader } from '../../src/proxy/h2/frame-reader.js';
import { HpackDecoder, HpackEncoder, HpackError } from '../../src/proxy/h2/hpack.js';
import { huffmanEncode } from '../../src/proxy/h2/huffman.js';
import { requestFieldsError, responseFieldsError, trailerFieldsError } from '../../src/proxy/h2/message-fields.js';
import { formatGrpcTimeout, parseGrpcTimeout } from '../../src/proxy/grpc-timeout.js';
import { IGNORE } from '../../src/proxy/h2/stream.js';

/** One property: synchronous or not, with what it needs started and stopped around it. */
export interface FuzzProperty {
  readonly name: string;
  /** Builds the property (after `setup`). */
  readonly property: () => fc.IRawProperty<unknown[]>;
  readonly setup?: () => Promise<void>;
  readonly teardown?: () => Promise<void>;
}

// --- generators of valid input, to mutate ---

const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.'.split(''));
/** A lowercase field name (RFC 9110 token, as gRPC metadata keys are). */
const fieldName = fc.string({ unit: tokenChar, minLength: 1, maxLength: 20 }).filter((n) => !['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host'].includes(n));
/** A field value: visible ASCII and spaces inside, none at the ends (RFC 9113 §8.2.1). */
const fieldValue = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 })
  .map((v) => v.trim());
const metadata = fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 6 });
const grpcPath = fc.tuple(fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 }), fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 })).map(([s, m]) => `/${s}.Svc/${m}`);

/** A well-formed gRPC request header list. */
const validRequest = fc.tuple(grpcPath, metadata, fc.boolean()).map(([path, extra, authority]) => {
  const fields = [':method', 'POST', ':scheme', 'http', ':path', path];
  if (authority) fields.push(':authority', 'localhost');
  fields.push('content-type', 'application/grpc', 'te', 'trailers');
  for (const [n, v] of extra) fields.push(n, v);
  return fields;
});

/** How one field is written into a block (RFC 7541 §6): which representation, Huffman or not, and whether it is then referenced again. */
const representation = fc.record({ kind: fc.constantFrom('incremental', 'without', 'never'), huffman: fc.boolean(), repeat: fc.nat({ max: 3 }) });

/** §5.1 integer with an N-bit prefix. */
function hpackInt(value: number, prefix: number, high: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function hpackString(s: string, huffman: boolean): number[] {
  const bytes = huffman ? huffmanEncode(s) : Buffer.from(s, 'latin1');
  return [...hpackInt(bytes.length, 7, huffman ? 0x80 : 0), ...bytes];
}

/**
 * Encodes `fields` with varied representations: literals with incremental indexing (then
 * referenced again by index 62, the newest dynamic entry, `repeat` times), without indexing,
 * never indexed; Huffman or raw strings. A different encoder from the proxy's, so the decoder
 * sees what real peers send.
 */
function encodeVaried(fields: readonly string[], reps: readonly { kind: string; huffman: boolean; repeat: number }[]): Buffer {
  const out: number[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const r = reps[(i / 2) % reps.length] ?? { kind: 'without', huffman: false, repeat: 0 };
    const high = r.kind === 'incremental' ? 0x40 : r.kind === 'never' ? 0x10 : 0x00;
    out.push(high, ...hpackString(fields[i]!, r.huffman), ...hpackString(fields[i + 1]!, r.huffman));
    // Only an entry that fits the 4096-octet table is there to reference (RFC 7541 §4.4).
    if (r.kind === 'incremental' && fields[i]!.length + fields[i + 1]!.length + 32 <= 4096) for (let k = 0; k < r.repeat; k++) out.push(0x80 | 62);
  }
  return Buffer.from(out);
}

/** A mutation of a byte string: what a fuzzer does to valid input. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 1, max: 8 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

/** Applies mutations to a copy of `input`. */
function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.op) {
      case 'flip':
        b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'repeat': {
        const piece = b.subarray(at, at + m.length);
        b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: m.times + 1 }, () => piece), b.subarray(at + piece.length)]);
        break;
      }
    }
  }
  return b;
}

/** A header block: a valid one (varied representations) mutated or not, or noise. */
const headerBlockInput = fc.oneof(
  fc.tuple(validRequest, fc.array(representation, { minLength: 1, maxLength: 8 }), fc.array(mutation, { maxLength: 4 })).map(([f, r, m]) => mutate(encodeVaried(f, r), m)),
  fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
);

// --- frames ---

const frame = (type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)) => encodeFrame(type, flags, id, payload);
const ping = (data: string) => frame(FrameType.PING, 0, 0, Buffer.from(data.padEnd(8, '.').slice(0, 8), 'latin1'));

/** A valid client transcript: preface, SETTINGS, a few requests (HEADERS, CONTINUATION, DATA, trailers), PINGs, WINDOW_UPDATEs, resets. */
const validTranscript = fc
  .tuple(fc.array(fc.tuple(validRequest, fc.array(representation, { minLength: 1, maxLength: 4 }), fc.nat({ max: 3 }), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([requests, withPing]) => {
    const frames: Buffer[] = [PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]])];
    requests.forEach(([fields, reps, dataFrames, split, reset], i) => {
      const id = 1 + 2 * i;
      const block = encodeVaried(fields, reps);
      if (split && block.length > 1) {
        const half = block.length >> 1;
        frames.push(frame(FrameType.HEADERS, 0, id, block.subarray(0, half)), frame(FrameType.CONTINUATION, Flag.END_HEADERS, id, block.subarray(half)));
      } else {
        frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block));
      }
      for (let d = 0; d < dataFrames; d++) frames.push(frame(FrameType.DATA, 0, id, Buffer.from([0, 0, 0, 0, 1, 0x2a])));
      frames.push(frame(FrameType.WINDOW_UPDATE, 0, id, Buffer.from([0, 0, 1, 0])));
      if (reset) frames.push(frame(FrameType.RST_STREAM, 0, id, Buffer.from([0, 0, 0, ErrorCode.CANCEL])));
      else frames.push(frame(FrameType.DATA, Flag.END_STREAM, id));
    });
    if (withPing) frames.push(ping('ping'));
    return Buffer.concat(frames);
  });

/** Bytes split into chunks at the given points (what reads of a socket deliver). */
function chunks(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    if (p > at) out.push(bytes.subarray(at, p));
    at = Math.max(at, p);
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}

/** What a reader yields for `parts`: the frames (type, flags, id, payload hex) and the error code, if any. */
function readAll(parts: readonly Buffer[]): { frames: string[]; error: number | null; maxHeld: number } {
  const reader = new FrameReader(true);
  const frames: string[] = [];
  let maxHeld = 0;
  for (const part of parts) {
    const error = reader.push(part, (type, flags, id, payload) => {
      frames.push(`${type}/${flags}/${id}/${payload.toString('hex')}`);
      return true;
    });
    if (error !== null) return { frames, error: error.code, maxHeld };
    maxHeld = Math.max(maxHeld, (reader as unknown as { partialBytes: number }).partialBytes);
  }
  return { frames, error: null, maxHeld };
}

/** Transcripts to feed: valid ones mutated (after the preface too), or noise after a valid preface. */
const mutatedTranscript = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(validTranscript, fc.array(mutation, { minLength: 1, maxLength: 5 })).map(([t, m]) => mutate(t, m)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.concat([PREFACE, settingsFrame([]), Buffer.from(u)])) },
);

// --- 1. the frame reader ---

const frameReader: FuzzProperty = {
  name: 'frame reader: any bytes, in any chunks, give the same frames and error, and hold at most one frame',
  property: () =>
    fc.property(mutatedTranscript, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
      const whole = readAll([bytes]);
      const split = readAll(chunks(bytes, cuts));
      assert.deepEqual(split.frames, whole.frames);
      assert.equal(split.error, whole.error);
      // Only a broken preface or an oversized frame are the reader's to refuse (RFC 9113 §3.4, §4.2).
      if (whole.error !== null) assert.ok(whole.error === ErrorCode.PROTOCOL_ERROR || whole.error === ErrorCode.FRAME_SIZE_ERROR, errorCodeName(whole.error));
      assert.ok(split.maxHeld < 9 + DEFAULT_MAX_FRAME_SIZE, `held ${split.maxHeld} octets`);
    }),
};

// --- 2. the HPACK decoder ---

const hpackRobust: FuzzProperty = {
  name: 'hpack: any block decodes or throws HpackError (COMPRESSION_ERROR), within the list limit and table size',
  property: () =>
    fc.property(fc.array(headerBlockInput, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 2000 }), (blocks, limit) => {
      const d = new HpackDecoder();
      for (const block of blocks) {
        try {
          const { fields, size, oversized } = d.decode(block, limit);
          let built = 0;
          for (let i = 0; i < fields.length; i += 2) built += fields[i]!.length + fields[i + 1]!.length + 32;
          assert.ok(built <= limit, `built ${built} octets of fields over the limit ${limit}`);
          assert.equal(oversized, size > limit);
          if (!oversized) assert.equal(built, size);
        } catch (error) {
          if (!(error instanceof HpackError)) throw error;
          return; // a connection error: the connection ends, its decoder with it
        }
        const tableSize = (d as unknown as { tableSize: number }).tableSize;
        assert.ok(tableSize <= 4096, `dynamic table of ${tableSize} octets`);
      }
    }),
};

const hpackLimitInStep: FuzzProperty = {
  name: 'hpack: stopping at the list limit builds a prefix of the fields and keeps the dynamic table in step',
  property: () =>
    fc.property(
      fc.array(fc.tuple(validRequest, fc.array(representation, { minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 0, max: 600 }),
      (requests, limit) => {
        const limited = new HpackDecoder();
        const whole = new HpackDecoder();
        for (const [fields, reps] of requests) {
          const block = encodeVaried(fields, reps);
          const a = limited.decode(block, limit);
          const b = whole.decode(block);
          assert.deepEqual(a.fields, b.fields.slice(0, a.fields.length));
          assert.equal(a.oversized, b.size > limit);
          if (!a.oversized) assert.deepEqual(a.fields, b.fields);
        }
        // Every dynamic entry, referenced: both decoders must have the same table (RFC 9113 §10.5.1).
        const refs = Buffer.from(Array.from({ length: 20 }, (_, i) => 0x80 | (62 + i)));
        const probe = (d: HpackDecoder) => {
          try {
            return d.decode(refs).fields;
          } catch (error) {
            return (error as Error).message;
          }
        };
        assert.deepEqual(probe(limited), probe(whole));
      },
    ),
};

const hpackRoundTrip: FuzzProperty = {
  name: "hpack: the proxy's encoder round-trips any latin1 fields through the decoder",
  property: () =>
    fc.property(fc.array(fc.tuple(fc.string({ unit: 'binary-ascii', maxLength: 30 }), fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 300 }))), (pairs) => {
      const fields = pairs.flat();
      assert.deepEqual(new HpackDecoder().decode(new HpackEncoder().encode(fields)).fields, fields);
    }),
};

// --- 3. RFC 9113 §8 checks ---

/** A defect that makes a request malformed, with the reason the check gives (RFC 9113 §8.2, §8.3). */
const requestDefect = fc.oneof(
  fc.constantFrom(':method', ':scheme', ':path').map((p) => ({ what: `second ${p}`, apply: (f: string[]) => f.splice(6, 0, p, p === ':path' ? '/admin.Secret/Delete' : 'x'), reason: /appears more than once/ })),
  fc.constantFrom(':method', ':scheme', ':path').map((p) => ({ what: `no ${p}`, apply: (f: string[]) => f.splice(f.indexOf(p), 2), reason: /^no :/ })),
  fieldName.map((n) => ({ what: 'uppercase name', apply: (f: string[]) => f.push(`X${n}`, 'v'), reason: /uppercase field name/ })),
  fc.constantFrom('connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade').map((n) => ({ what: n, apply: (f: string[]) => f.push(n, 'x'), reason: /connection-specific/ })),
  fc.constantFrom('gzip', 'trailers, deflate', '').map((v) => ({ what: 'te', apply: (f: string[]) => f.push('te', v), reason: /^te: / })),
  fc.constant({ what: 'pseudo after regular', apply: (f: string[]) => f.push(':authority', 'x'), reason: /after a regular field/ }),
  fc.constantFrom(':status', ':protocol', ':x').map((p) => ({ what: p, apply: (f: string[]) => f.splice(0, 0, p, '200'), reason: /not a request pseudo-header/ })),
  fc.constantFrom('\r', '\n', '\u0000').map((c) => ({ what: 'CR/LF/NUL', apply: (f: string[]) => f.push('x-a', `a${c}b`), reason: /NUL, CR or LF/ })),
  fc.constantFrom(' a', 'a\t').map((v) => ({ what: 'edge whitespace', apply: (f: string[]) => f.push('x-a', v), reason: /whitespace/ })),
  fc.constantFrom('x y', 'x:y', 'x\u007f', 'é').map((n) => ({ what: 'bad name', apply: (f: string[]) => f.push(n, 'v'), reason: /invalid character/ })),
  fc.constantFrom('admin.Secret/Delete', '').map((p) => ({ what: `path ${JSON.stringify(p)}`, apply: (f: string[]) => (f[f.indexOf(':path') + 1] = p), reason: /no :path|does not start with/ })),
  fc.constant({ what: 'host differs', apply: (f: string[]) => (f.splice(0, 0, ':authority', 'a.example'), f.push('host', 'b.example')), reason: /host differs|more than once/ }),
);

const messageChecks: FuzzProperty = {
  name: 'RFC 9113 §8: valid requests pass, each defect is named, no field list makes a check throw',
  property: () =>
    fc.property(
      validRequest,
      fc.option(requestDefect, { nil: undefined }),
      fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 12 }),
      (fields, defect, noise) => {
        if (defect === undefined) {
          assert.equal(requestFieldsError(fields), null, fields.join(' '));
        } else {
          const broken = [...fields];
          defect.apply(broken);
          const error = requestFieldsError(broken);
          assert.ok(error !== null && defect.reason.test(error), `${defect.what}: ${error} for ${JSON.stringify(broken)}`);
        }
        // Arbitrary lists (odd lengths padded): answered with null or a reason, never an exception.
        const list = noise.length % 2 === 0 ? noise : [...noise, ''];
        for (const check of [requestFieldsError, responseFieldsError, trailerFieldsError]) {
          const r = check(list);
          assert.ok(r === null || typeof r === 'string');
        }
      },
    ),
};

/**
 * grpc-timeout (PROTOCOL-HTTP2.md: 1-8 ASCII digits, then H M S m u n). This property found the
 * proxy reading "1e5S", "0x1fS" and " 1S" as numbers, and writing waited-for deadlines past 8
 * digits (test/proxy-grpc-timeout.test.ts).
 */
const grpcTimeout: FuzzProperty = {
  name: 'grpc-timeout: exactly the grammar is read, and what is written reads back no shorter, within one unit',
  property: () =>
    fc.property(
      fc.oneof(
        fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength: 1, maxLength: 8 }), fc.constantFrom(...'HMSmun'.split(''))).map(([d, u]) => d + u),
        fc.string({ unit: fc.constantFrom(...'0123456789+-. exXabHMSmunhs\t'.split('')), maxLength: 11 }),
      ),
      fc.double({ min: 0, max: 1e16, noNaN: true }),
      (value, ms) => {
        const digits = value.slice(0, -1);
        const grammatical = value.length >= 2 && value.length <= 9 && [...digits].every((c) => c >= '0' && c <= '9') && 'HMSmun'.includes(value[value.length - 1]!);
        const parsed = parseGrpcTimeout(value);
        assert.equal(parsed !== null, grammatical, JSON.stringify(value));
        const written = formatGrpcTimeout(ms);
        const back = parseGrpcTimeout(written);
        assert.ok(back !== null, `${ms} ms written as ${written}`);
        const unit = { m: 1, S: 1000, M: 60_000, H: 3_600_000 }[written[written.length - 1] as 'm' | 'S' | 'M' | 'H'];
        // Never shorter than asked (at least 1 ms), at most one unit longer; capped at the largest value the grammar says.
        if (back < 99_999_999 * 3_600_000) assert.ok(back >= Math.max(1, ms) && back < Math.max(1, ms) + unit, `${ms} ms written as ${written}`);
      },
    ),
};

// --- 4. a server connection fed frames ---

/**
 * Connected loopback socket pairs. A fuzzer opening thousands of connections a second can see a
 * connect refused (ECONNRESET on a full accept queue): that is retried, it says nothing of the engine.
 */
class Loopback {
  private server: Server | undefined;
  private readonly unclaimed = new Map<number, Socket>();
  private readonly waiting = new Map<number, (socket: Socket) => void>();

  async start(): Promise<void> {
    this.server = createServer({ noDelay: true }, (socket) => {
      socket.on('error', () => {});
      // Nothing is read from the socket itself: the fuzzer's chunks are delivered with emit('data').
      socket.pause();
      const port = socket.remotePort!;
      const waiter = this.waiting.get(port);
      if (waiter === undefined) this.unclaimed.set(port, socket);
      else {
        this.waiting.delete(port);
        waiter(socket);
      }
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async stop(): Promise<void> {
    for (const s of this.unclaimed.values()) s.destroy();
    this.unclaimed.clear();
    await new Promise((r) => this.server?.close(r));
  }

  /** A new connection: `near` is the connecting side, `far` the accepted one. */
  async pair(): Promise<{ near: Socket; far: Socket }> {
    for (let attempt = 1; ; attempt++) {
      const near = connect((this.server!.address() as AddressInfo).port, '127.0.0.1');
      try {
        await once(near, 'connect');
      } catch (error) {
        near.destroy();
        if (attempt === 5) throw error;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      near.on('error', () => {});
      const port = near.localPort!;
      const far = this.unclaimed.get(port) ?? (await new Promise<Socket>((resolve) => this.waiting.set(port, resolve)));
      this.unclaimed.delete(port);
      return { near, far };
    }
  }
}

/** What both harnesses share: loopback pairs, and the exceptions that escaped the engine's frame handling. */
class Harness {
  protected readonly loopback = new Loopback();
  /** Exceptions that escaped frame handling (the engine turns them into GOAWAY INTERNAL_ERROR and reports them). */
  readonly escaped: unknown[] = [];

  start(): Promise<void> {
    return this.loopback.start();
  }

  stop(): Promise<void> {
    return this.loopback.stop();
  }
}

/** The engine's server side on real loopback sockets; bytes are delivered to it synchronously, in the chunks the fuzzer chose. */
class ServerHarness extends Harness {
  /**
   * Feeds `parts` to a fresh server connection (each part is one 'data' event, handled before the
   * next: the engine parses synchronously) and returns what it sent back and its state after.
   */
  async run(parts: readonly Buffer[], opts: { pingAfter?: boolean } = {}): Promise<ConnectionOutcome> {
    const { near: client, far: socket } = await this.loopback.pair();
    const received: Buffer[] = [];
    client.on('data', (b: Buffer) => received.push(b));
    const closed = once(client, 'close');
    const connection = new H2Connection(socket, {
      role: 'server',
      streamWindow: 65_535,
      connectionWindow: 1 << 20,
      maxHeaderListSize: 16_384,
      maxConcurrentStreams: 100,
      onStream: (stream) => {
        // A request whose body ends is answered (the write side runs too); one that arrived
        // ended stays half-closed (remote), where DATA must get STREAM_CLOSED (RFC 9113 §5.1).
        stream.handler = {
          ...IGNORE,
          onData: (st, data, end) => {
            st.consume(data.length);
            if (end) st.sendHeaders([':status', '200', 'content-type', 'application/grpc', 'grpc-status', '12'], true);
          },
        };
      },
      onError: (error) => this.escaped.push(error),
    });
    socket.pause();
    for (const part of parts) {
      if (connection.destroyed || socket.destroyed) break;
      socket.emit('data', part);
    }
    const state = engineState(connection);
    // A connection still open and not in the middle of a frame or header block must still answer: a PING then comes back.
    let answered = false;
    if (!connection.draining && !connection.destroyed && state.partial === 0 && !state.inBlock && opts.pingAfter !== false) {
      socket.emit('data', ping('fuzz-end'));
      const ackOf = (bytes: Buffer) => parseFrames(bytes).some((f) => f.type === FrameType.PING && f.flags & Flag.ACK && f.payload.toString('latin1') === 'fuzz-end');
      const deadline = Date.now() + 2000;
      while (!answered && Date.now() < deadline && !client.destroyed) {
        await new Promise((r) => setTimeout(r, 1));
        answered = ackOf(Buffer.concat(received));
      }
    } else if (connection.draining || connection.destroyed) {
      // It ended the connection: everything it wrote (the GOAWAY last) arrives before the end.
      await Promise.race([once(client, 'end'), closed, new Promise((r) => setTimeout(r, 2000))]);
    }
    client.destroy();
    socket.destroy();
    await closed;
    return { frames: parseFrames(Buffer.concat(received)), state, answered, lastError: connection.lastError, draining: connection.draining };
  }
}

interface ConnectionOutcome {
  readonly frames: ParsedFrame[];
  readonly state: ReturnType<typeof engineState>;
  readonly answered: boolean;
  readonly lastError: string;
  readonly draining: boolean;
}

interface ParsedFrame {
  readonly type: number;
  readonly flags: number;
  readonly id: number;
  readonly payload: Buffer;
}

function parseFrames(bytes: Buffer): ParsedFrame[] {
  const out: ParsedFrame[] = [];
  for (let at = 0; at + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    out.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, id: bytes.readUInt32BE(at + 5) & 0x7fff_ffff, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return out;
}

/** What the engine holds: bounded whatever the input. */
function engineState(c: H2Connection): { partial: number; inBlock: boolean; blockBytes: number; table: number; streams: number } {
  const inner = c as unknown as { reader: { partialBytes: number }; block: { bytes: number } | null; decoder: { tableSize: number } };
  return { partial: inner.reader.partialBytes, inBlock: inner.block !== null, blockBytes: inner.block?.bytes ?? 0, table: inner.decoder.tableSize, streams: c.streams.size };
}

const harness = new ServerHarness();

/** GOAWAY codes a client's bytes may earn (RFC 9113 §5.4.1); INTERNAL_ERROR would be a bug of ours. */
const CONNECTION_ERRORS = new Set<number>([
  ErrorCode.PROTOCOL_ERROR,
  ErrorCode.FLOW_CONTROL_ERROR,
  ErrorCode.FRAME_SIZE_ERROR,
  ErrorCode.COMPRESSION_ERROR,
  ErrorCode.ENHANCE_YOUR_CALM,
  ErrorCode.STREAM_CLOSED,
]);

/** Asserts what holds for any input: nothing escaped, every error is an RFC one, state is bounded, and a live connection answers. */
function assertSound(out: ConnectionOutcome): void {
  assert.deepEqual(harness.escaped.splice(0).map(String), [], 'an exception escaped frame handling');
  for (const f of out.frames) {
    if (f.type === FrameType.GOAWAY) {
      const code = f.payload.readUInt32BE(4);
      assert.ok(CONNECTION_ERRORS.has(code), `GOAWAY ${errorCodeName(code)}: ${f.payload.subarray(8).toString()}`);
    }
    if (f.type === FrameType.RST_STREAM) {
      const code = f.payload.readUInt32BE(0);
      assert.ok(code !== ErrorCode.INTERNAL_ERROR, `RST_STREAM INTERNAL_ERROR on stream ${f.id}`);
    }
  }
  const s = out.state;
  assert.ok(s.partial < 9 + DEFAULT_MAX_FRAME_SIZE, `reader holds ${s.partial} octets`);
  assert.ok(s.blockBytes <= 16_384 + 16_384, `header block of ${s.blockBytes} octets held`);
  assert.ok(s.table <= 4096, `dynamic table of ${s.table} octets`);
  assert.ok(s.streams <= 100, `${s.streams} streams open`);
  if (!out.draining && s.partial === 0 && !s.inBlock) assert.ok(out.answered, 'a live connection did not answer PING');
}

const connectionMutated: FuzzProperty = {
  name: 'server connection: mutated transcripts end in an RFC 9113 error or a connection that still answers',
  setup: () => harness.start(),
  teardown: () => harness.stop(),
  property: () =>
    fc.asyncProperty(mutatedTranscript, fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
      assertSound(await harness.run(chunks(bytes, cuts)));
    }),
};

/** A defect in a valid connection, and the RFC 9113 answer it must get. */
interface Defect {
  readonly what: string;
  readonly frames: Buffer;
  /** GOAWAY with this code, or RST_STREAM with `stream`'s code on that stream (the connection still answering). */
  readonly expect: { readonly goaway: number } | { readonly rst: number; readonly stream: number };
}

const requestBlock = (fields: readonly string[]) => new HpackEncoder().encode(fields);
const rst = (code: number, stream = 1) => ({ rst: code, stream });
const goaway = (code: number) => ({ goaway: code });

const defect: fc.Arbitrary<Defect> = fc.oneof(
  fc.integer({ min: DEFAULT_MAX_FRAME_SIZE + 1, max: 0xff_ffff }).map((n) => {
    const header = Buffer.alloc(9);
    header.writeUIntBE(n, 0, 3);
    header[3] = FrameType.DATA;
    header.writeUInt32BE(1, 5);
    return { what: `frame of ${n} octets`, frames: header, expect: goaway(ErrorCode.FRAME_SIZE_ERROR) };
  }),
  fc.constantFrom(FrameType.DATA, FrameType.HEADERS).map((t) => ({ what: `type ${t} on stream 0`, frames: frame(t, Flag.END_HEADERS, 0, Buffer.from([0x82])), expect: goaway(ErrorCode.PROTOCOL_ERROR) })),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((u) => {
    try {
      new HpackDecoder().decode(Buffer.from(u));
      return false;
    } catch (error) {
      return error instanceof HpackError;
    }
  }).map((u) => ({ what: 'undecodable header block', frames: frame(FrameType.HEADERS, Flag.END_HEADERS, 3, Buffer.from(u)), expect: goaway(ErrorCode.COMPRESSION_ERROR) })),
  fc.tuple(validRequest, requestDefect).map(([fields, d]) => {
    const broken = [...fields];
    d.apply(broken);
    return { what: `malformed request: ${d.what}`, frames: frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, requestBlock(broken)), expect: rst(ErrorCode.PROTOCOL_ERROR, 3) };
  }),
  fc.integer({ min: 1, max: 30 }).filter((n) => n % 6 !== 0).map((n) => ({ what: `SETTINGS of ${n} octets`, frames: frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(n)), expect: goaway(ErrorCode.FRAME_SIZE_ERROR) })),
  fc.integer({ min: 0, max: 20 }).filter((n) => n !== 8).map((n) => ({ what: `PING of ${n} octets`, frames: frame(FrameType.PING, 0, 0, Buffer.alloc(n)), expect: goaway(ErrorCode.FRAME_SIZE_ERROR) })),
  fc.integer({ min: 0, max: 12 }).filter((n) => n !== 4).map((n) => ({ what: `RST_STREAM of ${n} octets`, frames: frame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(n)), expect: goaway(ErrorCode.FRAME_SIZE_ERROR) })),
  fc.integer({ min: 0, max: 12 }).filter((n) => n !== 4).map((n) => ({ what: `WINDOW_UPDATE of ${n} octets`, frames: frame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.alloc(n)), expect: goaway(ErrorCode.FRAME_SIZE_ERROR) })),
  fc.constant({ what: 'WINDOW_UPDATE of 0 on the connection', frames: frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(4)), expect: goaway(ErrorCode.PROTOCOL_ERROR) }),
  fc.constant({ what: 'WINDOW_UPDATE of 0 on a stream', frames: frame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.alloc(4)), expect: rst(ErrorCode.PROTOCOL_ERROR) }),
  fc.integer({ min: 0x7fff_ffff - 65_535 + 1, max: 0x7fff_ffff }).map((n) => ({ what: `WINDOW_UPDATE of ${n} on a stream`, frames: frame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])), expect: rst(ErrorCode.FLOW_CONTROL_ERROR) })),
  fc.constant({ what: 'CONTINUATION without HEADERS', frames: frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.from([0x82])), expect: goaway(ErrorCode.PROTOCOL_ERROR) }),
  fc.constantFrom(FrameType.PING, FrameType.DATA).map((t) => ({ what: `type ${t} inside a header block`, frames: Buffer.concat([frame(FrameType.HEADERS, 0, 3, Buffer.from([0x83])), frame(t, 0, t === FrameType.PING ? 0 : 3, Buffer.alloc(t === FrameType.PING ? 8 : 0))]), expect: goaway(ErrorCode.PROTOCOL_ERROR) })),
  fc.integer({ min: 2, max: 100 }).map((n) => ({ what: 'client-opened even stream', frames: frame(FrameType.HEADERS, Flag.END_HEADERS, 2 * n, Buffer.from([0x83, 0x86, 0x84])), expect: goaway(ErrorCode.PROTOCOL_ERROR) })),
  fc.constant({ what: 'PUSH_PROMISE from a client', frames: frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), expect: goaway(ErrorCode.PROTOCOL_ERROR) }),
  fc.integer({ min: 2, max: 0xffff_ffff }).map((v) => ({ what: `SETTINGS_ENABLE_PUSH ${v}`, frames: settingsFrame([[Setting.ENABLE_PUSH, v]]), expect: goaway(ErrorCode.PROTOCOL_ERROR) })),
  fc.integer({ min: 0x8000_0000, max: 0xffff_ffff }).map((v) => ({ what: `SETTINGS_INITIAL_WINDOW_SIZE ${v}`, frames: settingsFrame([[Setting.INITIAL_WINDOW_SIZE, v]]), expect: goaway(ErrorCode.FLOW_CONTROL_ERROR) })),
  fc.oneof(fc.integer({ min: 0, max: DEFAULT_MAX_FRAME_SIZE - 1 }), fc.integer({ min: 0x100_0000, max: 0xffff_ffff })).map((v) => ({ what: `SETTINGS_MAX_FRAME_SIZE ${v}`, frames: settingsFrame([[Setting.MAX_FRAME_SIZE, v]]), expect: goaway(ErrorCode.PROTOCOL_ERROR) })),
  fc.integer({ min: 1, max: 20 }).map((pad) => ({ what: `padding of ${pad} in ${pad} octets`, frames: frame(FrameType.DATA, Flag.PADDED, 1, Buffer.concat([Buffer.from([pad]), Buffer.alloc(pad - 1)])), expect: goaway(ErrorCode.PROTOCOL_ERROR) })),
  fc.integer({ min: 0, max: 10 }).filter((n) => n !== 5).map((n) => ({ what: `PRIORITY of ${n} octets`, frames: frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(n)), expect: rst(ErrorCode.FRAME_SIZE_ERROR) })),
  fc.constant({ what: 'DATA on an idle stream', frames: frame(FrameType.DATA, 0, 41, Buffer.alloc(1)), expect: goaway(ErrorCode.PROTOCOL_ERROR) }),
  fc.constant({ what: 'DATA after END_STREAM', frames: Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, Buffer.from([0x83, 0x86, 0x84, 0x41, 0x01, 0x61])), frame(FrameType.DATA, 0, 3, Buffer.alloc(1))]), expect: { rst: ErrorCode.STREAM_CLOSED, stream: 3 } }),
);

const connectionDefects: FuzzProperty = {
  name: 'server connection: each defect after valid frames gets its RFC 9113 error code',
  setup: () => harness.start(),
  teardown: () => harness.stop(),
  property: () =>
    fc.asyncProperty(validRequest, fc.array(fc.constantFrom('ping', 'window', 'unknown', 'priority'), { maxLength: 3 }), defect, fc.array(fc.nat(), { maxLength: 4 }), async (fields, noise, d, cuts) => {
      // A request left open on stream 1 (the defect may aim at it), and frames any peer may send.
      const before = [PREFACE, settingsFrame([]), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock(fields))];
      for (const n of noise) {
        if (n === 'ping') before.push(ping('noise'));
        else if (n === 'window') before.push(frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1, 0])));
        else if (n === 'priority') before.push(frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
        // "Implementations MUST ignore and discard frames of unknown types" - RFC 9113 §5.5.
        else before.push(frame(0xfa, 0xff, 1, Buffer.from('unknown')));
      }
      const out = await harness.run(chunks(Buffer.concat([...before, d.frames]), cuts));
      assertSound(out);
      const goawayFrame = out.frames.find((f) => f.type === FrameType.GOAWAY);
      if ('goaway' in d.expect) {
        assert.ok(goawayFrame !== undefined, `${d.what}: no GOAWAY (${out.lastError || 'connection open'})`);
        assert.equal(errorCodeName(goawayFrame.payload.readUInt32BE(4)), errorCodeName(d.expect.goaway), `${d.what}: ${goawayFrame.payload.subarray(8).toString()}`);
      } else {
        const stream = d.expect.stream;
        assert.equal(goawayFrame, undefined, `${d.what}: GOAWAY ${out.lastError}`);
        const reset = out.frames.find((f) => f.type === FrameType.RST_STREAM && f.id === stream);
        assert.ok(reset !== undefined, `${d.what}: no RST_STREAM on stream ${stream}`);
        assert.equal(errorCodeName(reset.payload.readUInt32BE(0)), errorCodeName(d.expect.rst), d.what);
        assert.ok(out.answered, `${d.what}: the connection stopped answering after a stream error`);
      }
    }),
};

// --- 5. a client connection (the proxy toward a backend) fed responses ---

/** A valid response header list, and valid trailers. */
const validResponse = metadata.map((extra) => {
  const fields = [':status', '200', 'content-type', 'application/grpc'];
  for (const [n, v] of extra) fields.push(n, v);
  return fields;
});
const validTrailers = fc.tuple(fc.nat({ max: 16 }), metadata).map(([status, extra]) => ['grpc-status', String(status), ...extra.flat()]);

/** A backend's valid answers to streams 1, 3 and 5 (response, DATA, trailers; or Trailers-Only), then PING, GOAWAY or nothing. */
const backendTranscript = fc
  .tuple(
    fc.array(fc.tuple(validResponse, validTrailers, fc.array(representation, { minLength: 1, maxLength: 4 }), fc.nat({ max: 2 }), fc.boolean()), { minLength: 3, maxLength: 3 }),
    fc.constantFrom('ping', 'goaway', 'none'),
  )
  .map(([answers, end]) => {
    const frames: Buffer[] = [settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 100]]), encodeFrame(FrameType.SETTINGS, Flag.ACK, 0)];
    answers.forEach(([response, trailers, reps, data, trailersOnly], i) => {
      const id = 1 + 2 * i;
      if (trailersOnly) {
        frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, encodeVaried([...response, ...trailers], reps)));
        return;
      }
      frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, encodeVaried(response, reps)));
      for (let d = 0; d < data; d++) frames.push(frame(FrameType.DATA, 0, id, Buffer.from([0, 0, 0, 0, 1, 0x2a])));
      frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, encodeVaried(trailers, reps)));
    });
    if (end === 'ping') frames.push(ping('backend'));
    if (end === 'goaway') frames.push(frame(FrameType.GOAWAY, 0, 0, Buffer.from([0, 0, 0, 3, 0, 0, 0, 0])));
    return Buffer.concat(frames);
  });

/** The engine's client side (as the proxy uses it toward backends), on real loopback sockets, with the backend's bytes delivered synchronously. */
class ClientHarness extends Harness {
  /** Opens three streams on a fresh client connection, feeds it `parts` as the backend's bytes, and returns its outcome and what the streams heard. */
  async run(parts: readonly Buffer[]): Promise<ConnectionOutcome & { events: string[] }> {
    // `socket` is the proxy's side, `backend` the far end whose bytes the fuzzer writes.
    const { near: socket, far: backend } = await this.loopback.pair();
    const events: string[] = [];
    const connection = new H2Connection(socket, {
      role: 'client',
      streamWindow: 65_535,
      connectionWindow: 1 << 20,
      maxHeaderListSize: 65_536,
      onError: (error) => this.escaped.push(error),
    });
    const received: Buffer[] = [];
    backend.on('data', (b: Buffer) => received.push(b));
    backend.resume();
    socket.pause();
    const handler = {
      onHeaders: (st: { id: number }, fields: string[], end: boolean) => events.push(`${st.id} headers ${fields.length / 2} ${end}`),
      onData: (st: { id: number; consume(n: number): void }, data: Buffer, end: boolean) => {
        st.consume(data.length);
        events.push(`${st.id} data ${data.length} ${end}`);
      },
      onReset: (st: { id: number; error: string }, code: number, kind: string) => events.push(`${st.id} reset ${errorCodeName(code)} ${kind} ${st.error}`),
      onSent: () => {},
    };
    for (let i = 0; i < 3; i++) connection.request([':method', 'POST', ':scheme', 'http', ':path', '/a.B/C', 'content-type', 'application/grpc', 'te', 'trailers'], true, handler);
    for (const part of parts) {
      if (connection.destroyed || socket.destroyed) break;
      socket.emit('data', part);
    }
    const state = engineState(connection);
    let answered = false;
    const fromProxy = () => parseFrames(Buffer.concat(received).subarray(PREFACE.length));
    if (!connection.draining && !connection.destroyed && state.partial === 0 && !state.inBlock && connection.ready) {
      socket.emit('data', ping('fuzz-end'));
      const deadline = Date.now() + 2000;
      while (!answered && Date.now() < deadline && !backend.destroyed) {
        await new Promise((r) => setTimeout(r, 1));
        answered = fromProxy().some((f) => f.type === FrameType.PING && f.flags & Flag.ACK && f.payload.toString('latin1') === 'fuzz-end');
      }
    } else if (connection.lastError !== '' && connection.draining) {
      await Promise.race([once(backend, 'end'), once(backend, 'close'), new Promise((r) => setTimeout(r, 2000))]);
    }
    const closed = once(backend, 'close');
    socket.destroy();
    backend.destroy();
    await closed;
    return { frames: fromProxy(), state, answered: answered || !connection.ready, lastError: connection.lastError, draining: connection.draining, events };
  }
}

const clientHarness = new ClientHarness();

const clientMutated: FuzzProperty = {
  name: "client connection: a backend's mutated answers end in an RFC 9113 error, a stream error, or a connection that still answers",
  setup: () => clientHarness.start(),
  teardown: () => clientHarness.stop(),
  property: () =>
    fc.asyncProperty(fc.tuple(backendTranscript, fc.array(mutation, { maxLength: 5 })).map(([t, m]) => mutate(t, m)), fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
      const out = await clientHarness.run(chunks(bytes, cuts));
      assert.deepEqual(clientHarness.escaped.splice(0).map(String), [], 'an exception escaped frame handling');
      assertSound(out);
      // The handler contract (stream.ts): nothing after a stream's reset or its END_STREAM, and one reset at most.
      const ended = new Set<string>();
      for (const e of out.events) {
        const [id, what, , end] = e.split(' ');
        assert.ok(!ended.has(id!), `an event after the stream ended: ${out.events.join('; ')}`);
        if (what === 'reset' || end === 'true') ended.add(id!);
      }
    }),
};

/** Every property, in the order they run. */
export const H2_PROPERTIES: readonly FuzzProperty[] = [frameReader, hpackRobust, hpackLimitInStep, hpackRoundTrip, messageChecks, grpcTimeout, connectionDefects, connectionMutated, clientMutated];
