/**
 * An HTTP/2 connection over a raw socket (net or tls), either side: the frame parser runs over
 * each read chunk in one loop, HPACK state is per connection, frames to send are collected and
 * written once per turn of the event loop, and flow control (RFC 9113 §5.2, §6.9) is explicit: the peer gets
 * window back only when its stream's owner `consume()`s what it received.
 *
 * It also carries the protections a frame engine owes its process (RFC 9113 §10.5 "Denial-of-
 * Service Considerations"): frame size, header block size, CONTINUATION, PING, SETTINGS, empty
 * DATA and RST_STREAM floods (CVE-2023-44487 "rapid reset") end the connection with
 * ENHANCE_YOUR_CALM, and a peer that stops reading cannot make us buffer without bound.
 */
import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  errorCodeName,
  Flag,
  FrameType,
  goawayFrame,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frame.js';
import { FloodGuard, type FloodKind } from './flood-guard.js';
import { FrameReader } from './frame-reader.js';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.js';
import { isInterimResponse, REQUEST, RESPONSE, sectionError, TRAILERS } from './message-fields.js';
import { H2Stream, type ResetKind, type StreamHandler } from './stream.js';

/** Options of a connection. */
export interface ConnectionOptions {
  readonly role: 'server' | 'client';
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise. */
  readonly streamWindow: number;
  /** Connection-level receive window we grant (RFC 9113 §6.9.2: raised with a WINDOW_UPDATE on stream 0). */
  readonly connectionWindow: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE we advertise. A larger block is walked only for HPACK state (no
   * field is built past the limit) and counts against a per-connection budget; server side its
   * stream is still handed over, with the size, for the owner to refuse; client side it is a
   * malformed response.
   */
  readonly maxHeaderListSize: number;
  /** Bytes written but not yet taken by the peer beyond which we stop reading it. Defaults to 4 MiB. */
  readonly maxWriteBufferBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise (server side). */
  readonly maxConcurrentStreams?: number;
  /**
   * Server: a client opened a stream with these headers. `headerListSize` is their RFC 9113 §6.5.2
   * size; above maxHeaderListSize, `fields` is incomplete (decoding stopped) and the stream is only to be refused.
   */
  readonly onStream?: (stream: H2Stream, fields: readonly string[], endStream: boolean, headerListSize: number) => void;
  /** The peer's first SETTINGS arrived: it speaks HTTP/2. */
  readonly onReady?: () => void;
  /** The peer sent GOAWAY, or the stream ids ran out: open no more streams here. */
  readonly onGoaway?: (code: number) => void;
  /** The socket closed; `reason` says why when it was an error. */
  readonly onClose?: (reason: string) => void;
  /** A bug surfaced while handling a frame; the connection was closed with INTERNAL_ERROR, the process keeps running. */
  readonly onError?: (error: unknown) => void;
  /** Streams opened or closed (for idle tracking). */
  readonly onStreamCount?: (open: number) => void;
  /** An RST_STREAM frame was written (client side: a backend counts what it receives, see upstream-connection.ts). */
  readonly onResetSent?: () => void;
}

/** CONTINUATION frames allowed in one header block. */
const MAX_CONTINUATIONS = 32;

/** Socket bytes pending (ours and the kernel's refusals) beyond which DATA waits for 'drain'. */
const SOCKET_HIGH_WATER = 1 << 20;
/**
 * Past this (by default), a peer that does not read what we write is not read either (until
 * 'drain'): frames that are not flow-controlled (HEADERS of answers, ACKs, RST_STREAM) cannot pile
 * up without bound.
 */
const PAUSE_READING_AT = 4 * SOCKET_HIGH_WATER;

/**
 * Connections with frames to write, written together once every ready I/O callback of this turn of
 * the event loop ran: setImmediate runs after the poll phase (a nextTick after each callback would
 * write to a backend once per client connection read, not once per turn). A proxy's reads fan out —
 * one client chunk holds calls for several backends, one backend chunk answers several clients —
 * so the write syscalls, each a loopback delivery charged to the writer, were most of its CPU.
 * HAProxy's event loop likewise handles every ready descriptor before it sends.
 */
const dirty: H2Connection[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

/** A header block being received (HEADERS without END_HEADERS, then CONTINUATION). */
interface PendingBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  fragments: Buffer[];
  bytes: number;
  frames: number;
}

/** One HTTP/2 connection. */
export class H2Connection {
  readonly streams = new Map<number, H2Stream>();
  /** The peer's settings that matter here (RFC 9113 §6.5.2 defaults until its SETTINGS arrive). */
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  peerMaxConcurrentStreams = Infinity;
  /** Whether the peer's first SETTINGS arrived. */
  ready = false;
  /** Closed, or closing: no new streams. */
  draining = false;
  destroyed = false;
  /** Why the connection failed, for messages. */
  lastError = '';
  /** Highest stream id the peer opened (for GOAWAY). */
  private lastPeerStreamId = 0;
  private nextStreamId = 1;
  private sendWindow = DEFAULT_WINDOW;
  private recvWindow = DEFAULT_WINDOW;
  private unacked = 0;
  private readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  private queued = false;
  private readonly reader: FrameReader;
  private block: PendingBlock | null = null;
  /** Client streams waiting for the peer's concurrency limit, oldest first. */
  private readonly waitingOpen: H2Stream[] = [];
  /** Streams with DATA waiting for window or for the socket. */
  private readonly blocked = new Set<H2Stream>();
  private readonly floods: FloodGuard;
  private ending = false;
  private readPaused = false;
  private readonly blockLimit: number;

  constructor(
    readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.reader = new FrameReader(options.role === 'server');
    this.floods = new FloodGuard(Math.max(100, 2 * (options.maxConcurrentStreams ?? 100)));
    // A compressed block is never much larger than the list it decodes to; past this it is a flood.
    this.blockLimit = options.maxHeaderListSize + 16_384;
    if (options.role === 'client') this.nextStreamId = 1;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (this.readPaused) {
        this.readPaused = false;
        socket.resume();
      }
      this.unblock();
    });
    socket.on('error', (error: Error) => {
      if (!this.lastError) this.lastError = error.message;
    });
    socket.on('close', () => this.onSocketClose());
    const settings: [number, number][] = [
      [Setting.INITIAL_WINDOW_SIZE, options.streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListSize],
    ];
    if (options.role === 'client') settings.push([Setting.ENABLE_PUSH, 0]);
    if (options.maxConcurrentStreams !== undefined) settings.push([Setting.MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams]);
    if (options.role === 'client') this.write(PREFACE);
    this.write(settingsFrame(settings));
    if (options.connectionWindow > DEFAULT_WINDOW) {
      this.write(windowUpdateFrame(0, options.connectionWindow - DEFAULT_WINDOW));
      this.recvWindow = options.connectionWindow;
    }
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Streams open or waiting for the peer's SETTINGS_MAX_CONCURRENT_STREAMS (client side). */
  get load(): number {
    return this.streams.size + this.waitingOpen.length;
  }

  /** Client side: stream ids this connection can still open (RFC 9113 §5.1.1: ids are never reused). */
  get streamIdsLeft(): number {
    return Math.max(0, (MAX_WINDOW - this.nextStreamId) >>> 1);
  }

  /**
   * Server side: the owner reset work on the peer's behalf (a backend stream cancelled when the
   * call's grpc-timeout passed): it counts against the peer's reset budget like a RST_STREAM it
   * sent. False once over budget (the connection is then closed with ENHANCE_YOUR_CALM).
   */
  chargeReset(): boolean {
    if (this.destroyed || this.ending) return false;
    return this.budget('resets', 'streams reset or refused');
  }

  /**
   * Client: opens a stream with `fields`; null when the connection takes no new stream (GOAWAY,
   * closed). Past the peer's SETTINGS_MAX_CONCURRENT_STREAMS the stream waits to be opened.
   */
  request(fields: readonly string[], endStream: boolean, handler: StreamHandler): H2Stream | null {
    if (this.destroyed || this.draining) return null;
    const stream = new H2Stream(0, this, this.peerInitialWindow, this.options.streamWindow);
    stream.handler = handler;
    stream.headersSent = true;
    if (endStream) stream.localEnded = true;
    if (this.streams.size < this.peerMaxConcurrentStreams) {
      this.open(stream, fields);
    } else {
      stream.opened = false;
      stream.openFields = fields;
      this.waitingOpen.push(stream);
    }
    return stream;
  }

  /** Gives `stream` the next stream id and sends its HEADERS (and whatever DATA waited). */
  private open(stream: H2Stream, fields: readonly string[]): void {
    const id = this.nextStreamId;
    if (id > MAX_WINDOW) {
      // "Stream identifiers cannot be reused. Long-lived connections can result in an endpoint
      // exhausting the available range" - RFC 9113 §5.1.1: refuse (never sent, so retryable) and drain.
      stream.closed = true;
      if (!this.draining) {
        this.draining = true;
        this.options.onGoaway?.(ErrorCode.NO_ERROR);
      }
      stream.handler.onReset(stream, ErrorCode.REFUSED_STREAM, 'peer');
      return;
    }
    this.nextStreamId += 2;
    stream.id = id;
    stream.opened = true;
    stream.openFields = null;
    this.streams.set(id, stream);
    this.options.onStreamCount?.(this.streams.size);
    this.writeHeaders(stream, fields, stream.localEnded && stream.queue.length === 0 && !stream.endPending && stream.trailersPending === null);
    if (stream.queue.length > 0 || stream.endPending || stream.trailersPending !== null) this.flushStream(stream);
  }

  /** Opens waiting streams while the peer's limit allows. */
  private openWaiting(): void {
    while (this.waitingOpen.length > 0 && this.streams.size < this.peerMaxConcurrentStreams && !this.draining) {
      const stream = this.waitingOpen.shift()!;
      if (!stream.closed) this.open(stream, stream.openFields!);
    }
  }

  /**
   * Graceful close: "GOAWAY ... NO_ERROR ... graceful shutdown" - RFC 9113 §6.8. Streams in
   * flight finish; the socket closes when the last one does.
   */
  close(): void {
    if (this.destroyed) return;
    if (!this.draining) {
      this.draining = true;
      this.write(goawayFrame(this.lastPeerStreamId, ErrorCode.NO_ERROR));
    }
    if (this.streams.size === 0) this.endSocket();
  }

  /** Ends the connection at once with GOAWAY `code` (streams in flight are reset). */
  fail(code: number, reason: string): void {
    if (this.destroyed) return;
    this.lastError = `${errorCodeName(code)}: ${reason}`;
    this.draining = true;
    this.write(goawayFrame(this.lastPeerStreamId, code, reason));
    this.flush();
    this.endSocket();
    this.failStreams(code);
  }

  /** Closes the socket now. */
  destroy(): void {
    this.socket.destroy();
  }

  // --- writing ---

  /** Queues bytes for this turn's write. */
  write(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.queued) {
      this.queued = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Writes what was queued: one socket write (small frames copied together, large DATA as is). */
  flush(): void {
    this.queued = false;
    const out = this.out;
    if (out.length === 0) return;
    if (this.socket.destroyed) {
      out.length = 0;
      this.outBytes = 0;
      return;
    }
    if (out.length === 1) {
      this.socket.write(out[0]!);
    } else if (this.outBytes <= 65_536) {
      this.socket.write(Buffer.concat(out, this.outBytes));
    } else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    out.length = 0;
    this.outBytes = 0;
    if (this.socket.writableLength > (this.options.maxWriteBufferBytes ?? PAUSE_READING_AT) && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /** Encodes and queues a HEADERS block (with CONTINUATION frames past the peer's frame size). */
  writeHeaders(stream: H2Stream, fields: readonly string[], endStream: boolean): void {
    const block = this.encoder.encode(fields);
    const max = this.peerMaxFrameSize;
    const flags = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      const frame = Buffer.allocUnsafe(9 + block.length);
      writeFrameHeader(frame, 0, block.length, FrameType.HEADERS, flags | Flag.END_HEADERS, stream.id);
      block.copy(frame, 9);
      this.write(frame);
    } else {
      for (let at = 0; at < block.length; at += max) {
        const end = Math.min(at + max, block.length);
        const header = Buffer.allocUnsafe(9);
        const last = end === block.length ? Flag.END_HEADERS : 0;
        writeFrameHeader(header, 0, end - at, at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, (at === 0 ? flags : 0) | last, stream.id);
        this.write(header);
        this.write(block.subarray(at, end));
      }
    }
    if (endStream) this.maybeClose(stream);
  }

  /** Writes what a stream has queued as far as both windows and the socket allow. */
  flushStream(stream: H2Stream): void {
    if (stream.closed || !stream.opened) return;
    const queue = stream.queue;
    let sent = 0;
    while (queue.length > 0) {
      const room = Math.min(stream.sendWindow, this.sendWindow, this.peerMaxFrameSize, SOCKET_HIGH_WATER - this.outBytes - this.socket.writableLength);
      if (room <= 0) break;
      const chunk = queue[0]!;
      let piece: Buffer;
      if (chunk.length <= room) {
        piece = chunk;
        queue.shift();
      } else {
        piece = chunk.subarray(0, room);
        queue[0] = chunk.subarray(room);
      }
      const n = piece.length;
      stream.sendWindow -= n;
      this.sendWindow -= n;
      stream.queuedBytes -= n;
      sent += n;
      const end = queue.length === 0 && stream.endPending;
      const header = Buffer.allocUnsafe(9);
      writeFrameHeader(header, 0, n, FrameType.DATA, end ? Flag.END_STREAM : 0, stream.id);
      this.write(header);
      this.write(piece);
      if (end) stream.endPending = false;
    }
    if (queue.length > 0) {
      if (!stream.blocked) {
        stream.blocked = true;
        this.blocked.add(stream);
      }
    } else {
      if (stream.blocked) {
        stream.blocked = false;
        this.blocked.delete(stream);
      }
      if (stream.endPending) {
        stream.endPending = false;
        const header = Buffer.allocUnsafe(9);
        writeFrameHeader(header, 0, 0, FrameType.DATA, Flag.END_STREAM, stream.id);
        this.write(header);
      }
      const trailers = stream.trailersPending;
      if (trailers !== null) {
        stream.trailersPending = null;
        this.writeHeaders(stream, trailers, true);
      } else if (stream.localEnded) {
        this.maybeClose(stream);
      }
    }
    if (sent > 0) stream.handler.onSent(stream, sent);
  }

  /** Grants `bytes` back to the peer on the stream and the connection, in batches of half a window. */
  consume(stream: H2Stream, bytes: number): void {
    if (this.destroyed || bytes <= 0) return;
    if (!stream.closed && !stream.remoteEnded) {
      stream.unacked += bytes;
      if (stream.unacked >= this.options.streamWindow >>> 1) {
        this.write(windowUpdateFrame(stream.id, stream.unacked));
        stream.recvWindow += stream.unacked;
        stream.unacked = 0;
      }
    }
    this.unacked += bytes;
    if (this.unacked >= this.options.connectionWindow >>> 1) {
      this.write(windowUpdateFrame(0, this.unacked));
      this.recvWindow += this.unacked;
      this.unacked = 0;
    }
  }

  /** RST_STREAM `code` and forget the stream; `kind` non-null tells its handler. */
  resetStream(stream: H2Stream, code: number, kind: ResetKind | null): void {
    if (stream.closed) return;
    if (!stream.opened) {
      // Never sent: nothing to tell the peer.
      stream.closed = true;
      const i = this.waitingOpen.indexOf(stream);
      if (i >= 0) this.waitingOpen.splice(i, 1);
      if (kind !== null) stream.handler.onReset(stream, code, kind);
      return;
    }
    this.writeReset(stream.id, code);
    this.closeStream(stream);
    if (kind !== null) stream.handler.onReset(stream, code, kind);
  }

  private writeReset(id: number, code: number): void {
    this.write(rstStreamFrame(id, code));
    this.options.onResetSent?.();
  }

  private unblock(): void {
    if (this.blocked.size === 0) return;
    for (const s of [...this.blocked]) {
      this.flushStream(s);
      if (SOCKET_HIGH_WATER - this.outBytes - this.socket.writableLength <= 0 || this.sendWindow <= 0) break;
    }
  }

  private maybeClose(stream: H2Stream): void {
    if (!stream.localEnded || stream.queue.length > 0 || stream.trailersPending !== null || stream.endPending) return;
    if (stream.remoteEnded) {
      this.closeStream(stream);
    } else if (this.options.role === 'server') {
      // "A server can send a complete response prior to the client sending an entire request ...
      // the server MAY request that the client abort transmission of a request without error by
      // sending a RST_STREAM with an error code of NO_ERROR after sending a complete response" - RFC 9113 §8.1.
      this.writeReset(stream.id, ErrorCode.NO_ERROR);
      this.closeStream(stream);
    }
  }

  private closeStream(stream: H2Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.queue.length = 0;
    stream.queuedBytes = 0;
    if (stream.blocked) {
      stream.blocked = false;
      this.blocked.delete(stream);
    }
    this.streams.delete(stream.id);
    this.options.onStreamCount?.(this.streams.size);
    if (this.waitingOpen.length > 0) this.openWaiting();
    if (this.draining && this.streams.size === 0) this.endSocket();
  }

  private endSocket(): void {
    this.flush();
    const socket = this.socket;
    if (socket.destroyed || this.ending) return;
    this.ending = true;
    socket.end();
    // A peer that never closes its side must not hold the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private failStreams(code: number): void {
    for (const stream of [...this.streams.values(), ...this.waitingOpen.splice(0)]) {
      this.closeStream(stream);
      stream.handler.onReset(stream, code, 'connection');
    }
  }

  private onSocketClose(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.draining = true;
    this.out.length = 0;
    this.outBytes = 0;
    this.failStreams(ErrorCode.CANCEL);
    this.options.onClose?.(this.lastError);
  }

  // --- reading ---

  private onData(chunk: Buffer): void {
    if (this.destroyed || this.ending) return;
    const error = this.reader.push(chunk, this.dispatchFrame);
    if (error !== null) this.fail(error.code, error.reason);
  }

  /** Handles one frame; false once the connection is failing (frames after a connection error are not read). */
  private readonly dispatchFrame = (type: number, flags: number, id: number, payload: Buffer): boolean => {
    try {
      this.onFrame(type, flags, id, payload);
    } catch (error) {
      if (error instanceof HpackError) {
        this.fail(ErrorCode.COMPRESSION_ERROR, error.message);
      } else {
        // One connection's trouble must not take down every other connection's calls.
        this.fail(ErrorCode.INTERNAL_ERROR, 'internal error');
        this.options.onError?.(error);
      }
    }
    return !this.destroyed && !this.ending;
  };

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (block !== null && (type !== FrameType.CONTINUATION || id !== block.streamId)) {
      // "A receiver MUST treat the receipt of any other type of frame or a frame on a different stream as a connection error of type PROTOCOL_ERROR" - RFC 9113 §6.10.
      this.fail(ErrorCode.PROTOCOL_ERROR, 'expected CONTINUATION');
      return;
    }
    if (!this.ready && type !== FrameType.SETTINGS) {
      // "The first frame sent ... MUST be a SETTINGS frame" (the preface) - RFC 9113 §3.4.
      this.fail(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      return;
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, payload);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, id, payload);
      case FrameType.PRIORITY:
        if (id === 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) return this.streamError(id, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.onRstStream(id, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        // We send SETTINGS_ENABLE_PUSH 0 (client) and clients never push (server).
        return this.fail(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE is not enabled');
      case FrameType.PING:
        return this.onPing(flags, id, payload);
      case FrameType.GOAWAY:
        return this.onGoaway(id, payload);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, payload);
      default:
        // "Implementations MUST ignore and discard frames of unknown types" - RFC 9113 §5.5.
        return;
    }
  }

  /** Counts a flood-prone frame; false (and the connection closed) when over budget. */
  private budget(kind: FloodKind, what: string): boolean {
    const exceeded = this.floods.count(kind);
    if (exceeded === 0) return true;
    this.fail(ErrorCode.ENHANCE_YOUR_CALM, `more than ${exceeded} ${what} per second`);
    return false;
  }

  private stripPadding(flags: number, payload: Buffer): Buffer | null {
    if ((flags & Flag.PADDED) === 0) return payload;
    if (payload.length < 1) return null;
    const pad = payload[0]!;
    // "If the length of the padding is the length of the frame payload or greater, the recipient MUST treat this as a connection error of type PROTOCOL_ERROR" - RFC 9113 §6.1.
    if (pad >= payload.length) return null;
    return payload.subarray(1, payload.length - pad);
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const size = payload.length;
    // Flow control counts the whole payload, padding included (RFC 9113 §6.9.1).
    this.recvWindow -= size;
    if (this.recvWindow < 0) return this.fail(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const data = this.stripPadding(flags, payload);
    if (data === null) return this.fail(ErrorCode.PROTOCOL_ERROR, 'invalid padding');
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (data.length === 0 && !endStream && !this.budget('emptyData', 'empty DATA frames')) return;
    const stream = this.streams.get(id);
    if (stream === undefined || stream.remoteEnded) {
      this.giveBack(size);
      if (stream === undefined && this.idle(id)) return this.fail(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      // "If an endpoint receives additional frames ... for a stream that is in this [closed / half-closed (remote)] state ... STREAM_CLOSED" - RFC 9113 §5.1.
      if (stream !== undefined) this.streamError(id, ErrorCode.STREAM_CLOSED);
      return;
    }
    stream.recvWindow -= size;
    if (stream.recvWindow < 0) {
      this.giveBack(size);
      return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    }
    if (size !== data.length) this.consume(stream, size - data.length);
    if (endStream) {
      stream.remoteEnded = true;
      this.maybeClose(stream);
    }
    stream.handler.onData(stream, data, endStream);
  }

  /** Connection-level credit for DATA nobody will consume. */
  private giveBack(bytes: number): void {
    this.unacked += bytes;
    if (this.unacked >= this.options.connectionWindow >>> 1) {
      this.write(windowUpdateFrame(0, this.unacked));
      this.recvWindow += this.unacked;
      this.unacked = 0;
    }
  }

  /** Whether `id` names a stream the peer has not opened yet. */
  private idle(id: number): boolean {
    const peerOpens = (id & 1) === (this.options.role === 'server' ? 1 : 0);
    return peerOpens ? id > this.lastPeerStreamId : id >= this.nextStreamId;
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let fragment = this.stripPadding(flags, payload);
    if (fragment === null) return this.fail(ErrorCode.PROTOCOL_ERROR, 'invalid padding');
    if (flags & Flag.PRIORITY) {
      if (fragment.length < 5) return this.fail(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) {
      this.onHeaderBlock(id, fragment, endStream);
    } else {
      this.block = { streamId: id, endStream, fragments: [fragment], bytes: fragment.length, frames: 1 };
      if (fragment.length > this.blockLimit) this.fail(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${this.blockLimit} octets`);
    }
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (block === null || block.streamId !== id) return this.fail(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    block.fragments.push(payload);
    block.bytes += payload.length;
    // CONTINUATION floods (2024, "HTTP/2 CONTINUATION flood"): bound the block in octets and frames.
    if (block.bytes > this.blockLimit) return this.fail(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${this.blockLimit} octets`);
    if (++block.frames > MAX_CONTINUATIONS) return this.fail(ErrorCode.ENHANCE_YOUR_CALM, `header block in more than ${MAX_CONTINUATIONS} frames`);
    if (flags & Flag.END_HEADERS) {
      this.block = null;
      this.onHeaderBlock(id, Buffer.concat(block.fragments, block.bytes), block.endStream);
    }
  }

  private onHeaderBlock(id: number, blockBytes: Buffer, endStream: boolean): void {
    // Decoded even when the stream is refused: the HPACK table must stay in step (RFC 9113 §4.3).
    const limit = this.options.maxHeaderListSize;
    const block = this.decoder.decode(blockBytes, limit);
    const { fields, size, oversized } = block;
    if (oversized && !this.budget('oversizedHeaders', `header lists over ${limit} octets`)) return;
    const stream = this.streams.get(id);
    if (stream !== undefined) {
      if (stream.remoteEnded) return this.streamError(id, ErrorCode.STREAM_CLOSED);
      if (oversized) return this.streamError(id, ErrorCode.PROTOCOL_ERROR, `header list over SETTINGS_MAX_HEADER_LIST_SIZE ${limit}`);
      // Server side a second HEADERS is the request's trailers; client side the first final one
      // is the response (or a Trailers-Only response), the next one its trailers.
      const trailers = this.options.role === 'server' || stream.responded;
      // "trailers ... [are] carried in a ... HEADERS frame ... [that] MUST ... [carry] END_STREAM" - RFC 9113 §8.1.
      if (trailers && !endStream) return this.streamError(id, ErrorCode.PROTOCOL_ERROR, 'trailers without END_STREAM');
      const malformed = sectionError(block, trailers ? TRAILERS : RESPONSE);
      if (malformed !== null) return this.streamError(id, ErrorCode.PROTOCOL_ERROR, malformed);
      if (!trailers && isInterimResponse(fields)) {
        // "A HEADERS frame with the END_STREAM flag set that carries an informational status code is malformed" - RFC 9113 §8.1.
        if (endStream) return this.streamError(id, ErrorCode.PROTOCOL_ERROR, 'interim (1xx) response with END_STREAM');
        // An interim response precedes the final one; gRPC has no use for it.
        return;
      }
      stream.responded = true;
      if (endStream) {
        stream.remoteEnded = true;
        this.maybeClose(stream);
      }
      stream.handler.onHeaders(stream, fields, endStream);
      return;
    }
    if (this.options.role === 'client') {
      // A response on a stream we already closed (reset it, e.g.): nothing to do.
      if (this.idle(id)) this.fail(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
      return;
    }
    if ((id & 1) === 0) return this.fail(ErrorCode.PROTOCOL_ERROR, `client opened even stream ${id}`);
    if (id <= this.lastPeerStreamId) return this.streamError(id, ErrorCode.STREAM_CLOSED);
    this.lastPeerStreamId = id;
    // After our GOAWAY, streams above its last-stream-id are ignored (RFC 9113 §6.8).
    if (this.draining) return;
    if (this.streams.size >= (this.options.maxConcurrentStreams ?? Infinity)) {
      // "An endpoint that receives a HEADERS frame that causes its advertised concurrent stream
      // limit to be exceeded MUST treat this as a stream error of type PROTOCOL_ERROR or REFUSED_STREAM" - RFC 9113 §5.1.2.
      // A refused stream cost a header block's decoding and a reset, as a rapid reset does: it draws
      // on the same per-second budget (Node's lifetime maxSessionRejectedStreams would, in a
      // long-lived connection, end an honest client's occasional bursts too).
      if (!this.budget('resets', 'streams reset or refused')) return;
      this.writeReset(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    // An oversized request is handed over incomplete, for its owner to refuse with the size.
    const malformed = oversized ? null : sectionError(block, REQUEST);
    if (malformed !== null) {
      // A stream opened only to be reset costs what a rapid reset does: it counts against the same budget.
      if (!this.budget('resets', 'streams reset or refused')) return;
      return this.streamError(id, ErrorCode.PROTOCOL_ERROR, malformed);
    }
    const created = new H2Stream(id, this, this.peerInitialWindow, this.options.streamWindow);
    created.remoteEnded = endStream;
    this.streams.set(id, created);
    this.options.onStreamCount?.(this.streams.size);
    this.options.onStream?.(created, fields, endStream, size);
  }

  private onRstStream(id: number, payload: Buffer): void {
    if (payload.length !== 4) return this.fail(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM length');
    if (id === 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (this.idle(id)) return this.fail(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
      // Rapid reset against streams we answer at once (a cluster failing fast, no route): each
      // stream was routed and answered before its reset arrived, so it is counted as one too.
      if (this.options.role === 'server') this.budget('resets', 'streams reset or refused');
      return;
    }
    // Rapid reset (CVE-2023-44487): streams opened and reset at once cost the backend work each.
    if (this.options.role === 'server' && !this.budget('resets', 'streams reset or refused')) return;
    this.closeStream(stream);
    stream.handler.onReset(stream, payload.readUInt32BE(0), 'peer');
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) this.fail(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) return this.fail(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6');
    if (!this.budget('settings', 'SETTINGS frames')) return;
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (value > 1) return this.fail(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = value;
          if (this.waitingOpen.length > 0) queueMicrotask(() => this.openWaiting());
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) return this.fail(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          // "the receiver MUST adjust the size of all stream flow-control windows ... by the difference" - RFC 9113 §6.9.2.
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) return this.fail(ErrorCode.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xff_ffff) return this.fail(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrameSize = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never indexes, so any size suits it. Unknown: ignored (§6.5.2).
          break;
      }
    }
    this.write(SETTINGS_ACK);
    if (!this.ready) {
      this.ready = true;
      this.options.onReady?.();
    }
    this.unblock();
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (payload.length !== 8) return this.fail(ErrorCode.FRAME_SIZE_ERROR, 'PING length');
    if (id !== 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (flags & Flag.ACK) return;
    if (!this.budget('pings', 'PINGs')) return;
    const ack = Buffer.allocUnsafe(17);
    writeFrameHeader(ack, 0, 8, FrameType.PING, Flag.ACK, 0);
    payload.copy(ack, 9);
    this.write(ack);
  }

  private onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (payload.length < 8) return this.fail(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY length');
    const last = payload.readUInt32BE(0) & 0x7fff_ffff;
    const code = payload.readUInt32BE(4);
    this.draining = true;
    if (code !== ErrorCode.NO_ERROR) this.lastError = `GOAWAY ${errorCodeName(code)}${payload.length > 8 ? `: ${payload.toString('latin1', 8, Math.min(payload.length, 200))}` : ''}`;
    // "streams ... with identifiers higher than the included last stream identifier ... were not processed" - RFC 9113 §6.8.
    for (const s of [...this.streams.values()]) {
      const ours = (s.id & 1) === (this.options.role === 'client' ? 1 : 0);
      if (ours && s.id > last) {
        this.closeStream(s);
        s.handler.onReset(s, ErrorCode.REFUSED_STREAM, 'peer');
      }
    }
    for (const s of this.waitingOpen.splice(0)) {
      s.closed = true;
      s.handler.onReset(s, ErrorCode.REFUSED_STREAM, 'peer');
    }
    this.options.onGoaway?.(code);
    if (this.streams.size === 0) this.endSocket();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) return this.fail(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length');
    const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (id === 0) {
      if (increment === 0) return this.fail(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) return this.fail(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      this.unblock();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (this.idle(id)) this.fail(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    // "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a flow-control window increment of 0 as a stream error of type PROTOCOL_ERROR" - RFC 9113 §6.9.
    if (increment === 0) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    if (stream.queue.length > 0) this.flushStream(stream);
  }

  /** A stream error (RFC 9113 §5.4.2): RST_STREAM, and the owner hears of it; `reason` says why (malformed messages). */
  private streamError(id: number, code: number, reason?: string): void {
    const stream = this.streams.get(id);
    if (stream === undefined) {
      this.writeReset(id, code);
      return;
    }
    if (reason !== undefined) stream.error = reason;
    this.resetStream(stream, code, 'local');
  }
}
