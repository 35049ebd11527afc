/**
 * One HTTP/2 stream of an {@link H2Connection}: its state (RFC 9113 §5.1, reduced to "each side
 * ended or not"), its two flow-control windows, and the DATA waiting for send window. The owner
 * (a proxied call) gets events through a {@link StreamHandler} rather than an EventEmitter: one
 * object, no listeners to add or remove per call.
 */
import type { H2Connection } from './connection.js';

/** Why a stream ended without both sides finishing: reset by the peer, by us, or its connection went away. */
export type ResetKind = 'peer' | 'local' | 'connection';

/** Receives one stream's events. */
export interface StreamHandler {
  /** A HEADERS block after the one that opened the stream (responses, trailers). */
  onHeaders(stream: H2Stream, fields: readonly string[], endStream: boolean): void;
  /** DATA payload (padding removed); the handler must `consume()` the bytes once it passed them on. */
  onData(stream: H2Stream, data: Buffer, endStream: boolean): void;
  /** The stream ended abnormally; `code` is the RFC 9113 §7 error code. Called once; not for `reset()` by the owner. */
  onReset(stream: H2Stream, code: number, kind: ResetKind): void;
  /** `bytes` of DATA given to `sendData` have been written to the connection. */
  onSent(stream: H2Stream, bytes: number): void;
}

/** A handler that ignores everything (streams whose owner is gone). */
export const IGNORE: StreamHandler = { onHeaders() {}, onData() {}, onReset() {}, onSent() {} };

/** One stream. Fields are read by the connection; owners use the methods. */
export class H2Stream {
  handler: StreamHandler = IGNORE;
  /** Octets we may still send (RFC 9113 §6.9: the peer's window for this stream). */
  sendWindow: number;
  /** Octets the peer may still send before we grant more. */
  recvWindow: number;
  /** Octets passed on but not yet granted back with WINDOW_UPDATE. */
  unacked = 0;
  /** We sent END_STREAM (or it is queued behind DATA). */
  localEnded = false;
  /** The peer sent END_STREAM. */
  remoteEnded = false;
  closed = false;
  headersSent = false;
  /** DATA waiting for window, oldest first. */
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  /** END_STREAM to send once `queue` is written. */
  endPending = false;
  /** Trailers to send once `queue` is written. */
  trailersPending: string[] | null = null;
  /** Client side: the final response headers arrived (further HEADERS are trailers). */
  responded = false;
  /** Why the engine reset the stream (a malformed message), for its owner's messages; '' otherwise. */
  error = '';
  /** Set by the connection while this stream waits in its blocked set. */
  blocked = false;
  /**
   * Client streams beyond the peer's SETTINGS_MAX_CONCURRENT_STREAMS wait unopened (id 0, their
   * HEADERS here) until a stream closes, as nghttp2 does; DATA given meanwhile waits with them.
   */
  opened = true;
  openFields: readonly string[] | null = null;

  constructor(
    /** Stream identifier; 0 while the stream waits to be opened. */
    public id: number,
    readonly connection: H2Connection,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Sends a HEADERS block (split into CONTINUATION frames when needed). */
  sendHeaders(fields: readonly string[], endStream: boolean): void {
    if (this.closed || this.localEnded) return;
    this.headersSent = true;
    if (endStream) this.localEnded = true;
    this.connection.writeHeaders(this, fields, endStream);
  }

  /** Sends DATA as windows allow; the rest waits here (`onSent` tells when it left). */
  sendData(data: Buffer, endStream: boolean): void {
    if (this.closed || this.localEnded) return;
    if (data.length > 0) {
      this.queue.push(data);
      this.queuedBytes += data.length;
    }
    if (endStream) {
      this.localEnded = true;
      this.endPending = true;
    }
    this.connection.flushStream(this);
  }

  /** Ends the stream with trailers, after any DATA still queued. */
  sendTrailers(fields: readonly string[]): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.trailersPending = fields as string[];
    this.connection.flushStream(this);
  }

  /** Resets the stream (RST_STREAM with `code`) unless it is already closed. The handler is not called. */
  reset(code: number): void {
    if (this.closed) return;
    this.connection.resetStream(this, code, null);
  }

  /**
   * The owner passed `bytes` of received DATA on: grant them back to the peer. RFC 9113 §6.9
   * leaves the timing of WINDOW_UPDATE to the receiver; granting only what left the proxy keeps
   * every buffer bounded by the windows.
   */
  consume(bytes: number): void {
    this.connection.consume(this, bytes);
  }
}
