/**
 * One attempt of a proxied call on one backend: the handler of the stream on the backend's
 * connection. It owns that stream, the flow-control credit of the response toward the backend,
 * the reading of a reset as a gRPC status, and the release of the backend to its cluster. What
 * the call does with each event (forward, retry, end) is its owner's decision: a call makes one
 * attempt per backend it tries.
 */
import { Status } from '../core/status.js';
import type { Cluster } from './cluster.js';
import { rstCodeName, statusForUpstreamReset } from './grpc-status.js';
import { ErrorCode } from './h2/frame.js';
import type { H2Stream, ResetKind, StreamHandler } from './h2/stream.js';
import type { Upstream } from './upstream.js';

/**
 * Whether a failed attempt may be sent again: `always` when the backend provably did not process
 * it (REFUSED_STREAM, a stream above a GOAWAY's last-stream-id, a stream never opened or on a
 * connection the backend never answered: RFC 9113 §8.7, §6.8), whatever the method; `idempotent`
 * when no request byte reached the connection (a streaming handler may have started on the
 * headers alone); `never` otherwise.
 */
export type Resend = 'always' | 'idempotent' | 'never';

/** What an attempt reports to the call it belongs to. */
export interface AttemptOwner {
  /** The backend sent HEADERS: the response headers, its trailers, or (with `endStream` first) a Trailers-Only response. */
  responseHeaders(attempt: UpstreamAttempt, fields: readonly string[], endStream: boolean): void;
  /** The backend sent DATA; the owner calls `responseForwarded` or `discard` for its bytes. */
  responseData(attempt: UpstreamAttempt, data: Buffer, endStream: boolean): void;
  /** The attempt failed without a gRPC status from the backend; `resend` says whether the request may be sent again. */
  attemptFailed(attempt: UpstreamAttempt, status: number, message: string, resend: Resend): void;
  /** Request bytes reached the backend's connection (`attempt.sent` counts them). */
  requestWritten(attempt: UpstreamAttempt): void;
  /** The client connection the call came on: it holds the backend's stream for its fair share (fair-share.ts). */
  readonly client: object;
}

/** One call's stream on one backend. */
export class UpstreamAttempt implements StreamHandler {
  /** performance.now() when the backend was given the call: the start of the latency it is charged. */
  readonly startedAt = performance.now();
  /** Request bytes written to the backend's connection; a retry starts again from 0. */
  sent = 0;
  private stream: H2Stream | null = null;
  /** Response bytes forwarded to the client, and granted back to the backend as they are written there. */
  private received = 0;
  private credited = 0;

  constructor(
    private readonly owner: AttemptOwner,
    /** The backend the cluster picked. */
    readonly upstream: Upstream,
    private readonly cluster: Cluster,
  ) {
    cluster.took(upstream, owner.client);
  }

  /** Opens the stream with the request headers; false when the connection went away between the pick and now. */
  open(fields: readonly string[]): boolean {
    const stream = this.upstream.request(fields, this);
    this.stream = stream;
    return stream !== null;
  }

  /** Whether the stream is closed (or was never opened): no more request bytes will leave for it. */
  get closed(): boolean {
    return this.stream === null || this.stream.closed;
  }

  /** Sends request bytes (flow control queues what the backend's window does not take yet). */
  send(data: Buffer, endStream: boolean): void {
    this.stream!.sendData(data, endStream);
  }

  /** Ends the request with trailers. */
  sendTrailers(fields: readonly string[]): void {
    this.stream!.sendTrailers(fields);
  }

  /**
   * Cancels the backend's work: "CANCEL (0x8): Used by the endpoint to indicate that the stream
   * is no longer needed" - RFC 9113 §7. Nothing happens on a closed stream; true when a reset was sent.
   */
  cancel(): boolean {
    const stream = this.stream;
    if (stream === null || stream.closed) return false;
    stream.reset(ErrorCode.CANCEL);
    return true;
  }

  /** The response is complete: a backend that answered before the request ended needs no more of it. */
  responseEnded(): void {
    const stream = this.stream;
    if (stream !== null && !stream.closed && !stream.localEnded) stream.reset(ErrorCode.CANCEL);
  }

  /** The attempt failed without a status from the backend: it counts against the backend, which is released with `status`; the stream is cancelled. */
  fail(status: number): void {
    this.upstream.errors++;
    this.release(status);
    this.cancel();
  }

  /**
   * Gives the backend back to the cluster. `status` is the call's outcome on it (its latency and
   * failure class count for the picker and outlier ejection); undefined when the call ended for
   * the client's own reasons (a cancellation), which says nothing of the backend. Once per attempt.
   */
  release(status: number | undefined): void {
    this.cluster.release(this.upstream, status === undefined ? undefined : performance.now() - this.startedAt, status, this.owner.client);
  }

  /** `bytes` of response DATA go to the client: they are granted back to the backend as they are written there. */
  responseForwarded(bytes: number): void {
    this.received += bytes;
  }

  /** Response DATA nobody will forward: granted back at once, so the backend's connection window never shrinks. */
  discard(bytes: number): void {
    this.stream?.consume(bytes);
  }

  /** `bytes` of response DATA reached the client's connection: the backend may send as many more. */
  responseWritten(bytes: number): void {
    this.credit(this.credited + bytes);
  }

  /** The client is gone: every response byte still held is granted back to the backend's connection. */
  creditAllResponse(): void {
    this.credit(this.received);
  }

  private credit(total: number): void {
    const target = Math.min(total, this.received);
    if (target <= this.credited) return;
    this.stream!.consume(target - this.credited);
    this.credited = target;
  }

  // --- StreamHandler of the backend's stream ---

  onHeaders(_stream: H2Stream, fields: readonly string[], endStream: boolean): void {
    this.owner.responseHeaders(this, fields, endStream);
  }

  onData(_stream: H2Stream, data: Buffer, endStream: boolean): void {
    this.owner.responseData(this, data, endStream);
  }

  onSent(_stream: H2Stream, bytes: number): void {
    this.sent += bytes;
    this.owner.requestWritten(this);
  }

  onReset(stream: H2Stream, code: number, kind: ResetKind): void {
    const address = this.upstream.address;
    if (kind === 'connection') {
      // A stream never opened, or on a connection the backend never answered (not even its
      // SETTINGS, the first frame a server sends - RFC 9113 §3.4), did not reach it.
      const resend: Resend = !stream.opened || !stream.connection.ready ? 'always' : this.sent === 0 ? 'idempotent' : 'never';
      this.owner.attemptFailed(this, Status.UNAVAILABLE, `connection to backend ${address} lost: ${stream.connection.lastError || 'closed'}`, resend);
    } else if (kind === 'local') {
      // "Intermediaries ... MUST NOT forward a malformed request or response" - RFC 9113 §8.1.1: the client gets INTERNAL and the reason.
      const why = stream.error ? `sent a malformed response: ${stream.error}` : `broke HTTP/2 on the stream (${rstCodeName(code)})`;
      this.owner.attemptFailed(this, Status.INTERNAL, `backend ${address} ${why}`, 'never');
    } else {
      // "REFUSED_STREAM ... indicates that the stream is closed prior to any processing having
      // occurred" (RFC 9113 §8.7), as are streams above a GOAWAY's last-stream-id.
      this.owner.attemptFailed(this, statusForUpstreamReset(code), `backend ${address} reset the stream with ${rstCodeName(code)}`, code === ErrorCode.REFUSED_STREAM ? 'always' : 'never');
    }
  }
}
