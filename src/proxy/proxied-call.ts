/**
 * One call through the proxy: the client's stream (downstream) joined to a stream on a backend's
 * connection (upstream). Headers, messages and trailers pass through unchanged; DATA is forwarded
 * frame by frame as it arrives, and each side's window is granted back only as the other side
 * writes the bytes out, so HTTP/2 flow control holds end to end and no message is ever buffered
 * whole. The proxy also enforces the call's `grpc-timeout`.
 */
import { Status } from '../core/status.js';
import type { Cluster, PendingCall } from './cluster.js';
import { rstCodeName, statusForUpstreamReset, statusTrailers, trailersOnly } from './grpc-status.js';
import { ErrorCode } from './h2/frame.js';
import type { H2Stream, ResetKind, StreamHandler } from './h2/stream.js';
import type { Upstream } from './upstream.js';

/**
 * Request bytes kept for a retry while no response has arrived (Envoy's per-request buffer limit
 * is of this order); a bigger request is simply not retried.
 */
const REPLAY_LIMIT_BYTES = 64 * 1024;

/** Counters the listener keeps across calls, for the admin view. */
export interface CallStats {
  started: number;
  completed: number;
  /** Calls the proxy itself ended with an error status (no route, no backend, backend lost). */
  proxyErrors: number;
  retries: number;
}

/** The value of the first field called `name` in a `[name, value, ...]` list. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Forwards one call; lives until both streams are closed. */
export class ProxiedCall implements PendingCall, StreamHandler {
  readonly hashKey: string | undefined;
  timer?: NodeJS.Timeout;
  cancelled = false;
  private upstream: Upstream | null = null;
  /** The backend stream of the current attempt. */
  private up: H2Stream | null = null;
  private attempts = 0;
  private readonly maxAttempts: number;
  private started = 0;
  /** Response headers were forwarded: the call is committed to this backend. */
  private responded = false;
  private downstreamEnded = false;
  private finished = false;
  /** Request chunks that arrived before a backend was chosen (the client's window bounds them). */
  private held: Buffer[] | null = null;
  /** Request chunks kept for a retry; null once a retry is no longer possible. */
  private replay: Buffer[] | null;
  private replayBytes = 0;
  /**
   * Flow-control bookkeeping: request bytes received from the client and granted back to it,
   * bytes the current attempt wrote upstream; response bytes received from the backend and
   * granted back to it. Whatever is left when a side goes away is granted back then, so the
   * connection windows shared with other calls never shrink.
   */
  private reqReceived = 0;
  private reqCredited = 0;
  private attemptSent = 0;
  private respUp: H2Stream | null = null;
  private respReceived = 0;
  private respCredited = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the call's deadline, when it has a grpc-timeout. */
  private deadlineAt: number | undefined;
  private readonly receivedAt = performance.now();

  constructor(
    private readonly down: H2Stream,
    /** The request's header fields; `:scheme` is rewritten per backend. */
    private readonly fields: string[],
    private readonly cluster: Cluster,
    private readonly stats: CallStats,
  ) {
    const path = fieldValue(fields, ':path') ?? '';
    this.maxAttempts = cluster.retryAttempts(path);
    this.replay = this.maxAttempts > 1 ? [] : null;
    const header = cluster.hashHeader;
    this.hashKey = header === undefined ? undefined : fieldValue(fields, header);
    this.downstreamEnded = down.remoteEnded;
    down.handler = this;
    const timeout = fieldValue(fields, 'grpc-timeout');
    if (timeout !== undefined) {
      const ms = grpcTimeoutMs(timeout);
      if (ms !== null) {
        this.deadlineAt = this.receivedAt + ms;
        this.deadlineTimer = setTimeout(this.onDeadline, Math.max(ms, 0));
        this.deadlineTimer.unref();
      }
    }
  }

  /** Starts the call: finds a backend now or waits for one. */
  start(): void {
    this.stats.started++;
    this.cluster.acquire(this);
  }

  /** PendingCall: the cluster found a backend with room. */
  dispatch(upstream: Upstream): void {
    if (this.cancelled || this.finished) return;
    this.attempts++;
    this.upstream = upstream;
    upstream.load.start();
    this.started = performance.now();
    setField(this.fields, ':scheme', upstream.scheme);
    // Time spent waiting for a backend (or on a failed attempt) comes off the backend's deadline.
    const deadlineAt = this.deadlineAt;
    if (deadlineAt !== undefined && this.started - this.receivedAt >= 1) {
      setField(this.fields, 'grpc-timeout', `${Math.max(1, Math.ceil(deadlineAt - this.started))}m`);
    }
    const up = upstream.request(this.fields, this);
    if (up === null) {
      // The connection went away between the pick and now: nothing reached the backend.
      this.upstreamFailed(Status.UNAVAILABLE, `backend ${upstream.address} connection unusable: ${upstream.lastError || 'it takes no new stream'}`, true);
      return;
    }
    this.up = up;
    this.attemptSent = 0;
    const pending = this.attempts === 1 ? this.held : this.replay;
    this.held = null;
    if (pending !== null && pending.length > 0) {
      for (let i = 0; i < pending.length; i++) up.sendData(pending[i]!, this.downstreamEnded && i === pending.length - 1);
    } else if (this.downstreamEnded) {
      up.sendData(EMPTY, true);
    }
  }

  /** PendingCall: no backend will take the call. */
  fail(reason: string): void {
    this.stats.proxyErrors++;
    this.respondError(Status.UNAVAILABLE, reason);
  }

  // --- StreamHandler, for both streams ---

  onHeaders(stream: H2Stream, fields: string[], endStream: boolean): void {
    if (stream === this.down) {
      // Request trailers (gRPC sends none, HTTP/2 allows them): pass them on, or just end.
      this.downstreamEnded = true;
      const up = this.up;
      if (up !== null) up.sendTrailers(fields);
      return;
    }
    if (stream !== this.up || this.finished) return;
    const down = this.down;
    if (!this.responded) {
      this.responded = true;
      this.respUp = stream;
      this.replay = null;
      // Trailers-Only when END_STREAM: the status is in these headers.
      down.sendHeaders(fields, endStream);
      if (endStream) this.completed(Number(fieldValue(fields, 'grpc-status')));
      return;
    }
    down.sendTrailers(fields);
    this.completed(Number(fieldValue(fields, 'grpc-status')));
  }

  onData(stream: H2Stream, data: Buffer, endStream: boolean): void {
    if (stream === this.down) {
      if (endStream) this.downstreamEnded = true;
      this.reqReceived += data.length;
      if (this.finished) {
        // The call already ended: drop what the client still sends, keep its connection window open.
        this.creditRequest(this.reqReceived);
        return;
      }
      const replay = this.replay;
      if (replay !== null && data.length > 0) {
        this.replayBytes += data.length;
        if (this.replayBytes > REPLAY_LIMIT_BYTES) this.replay = null;
        else replay.push(data);
      }
      const up = this.up;
      if (up !== null) up.sendData(data, endStream);
      else if (data.length > 0) (this.held ??= []).push(data);
      return;
    }
    if (stream !== this.up || this.finished) {
      stream.consume(data.length);
      return;
    }
    if (!this.responded) {
      stream.consume(data.length);
      // DATA before HEADERS is a malformed response (RFC 9113 §8.1).
      this.upstreamFailed(Status.INTERNAL, `backend ${this.upstream?.address} sent DATA before response headers`, false);
      return;
    }
    this.respReceived += data.length;
    if (data.length > 0) this.down.sendData(data, false);
    if (endStream) {
      this.down.sendTrailers(statusTrailers(Status.INTERNAL, 'backend ended the response without trailers'));
      this.completed(Status.INTERNAL);
    }
  }

  onSent(stream: H2Stream, bytes: number): void {
    if (stream === this.down) {
      // Response bytes reached the client's connection: the backend may send as many more.
      this.creditResponse(this.respCredited + bytes);
      return;
    }
    if (stream !== this.up) return;
    // Request bytes reached the backend's connection; a retry resends bytes granted already.
    this.attemptSent += bytes;
    this.creditRequest(this.attemptSent);
  }

  /** Grants the client its request bytes up to `total` (never more than it sent). */
  private creditRequest(total: number): void {
    const target = Math.min(total, this.reqReceived);
    if (target <= this.reqCredited) return;
    this.down.consume(target - this.reqCredited);
    this.reqCredited = target;
  }

  /** Grants the backend its response bytes up to `total`. */
  private creditResponse(total: number): void {
    const up = this.respUp;
    const target = Math.min(total, this.respReceived);
    if (up === null || target <= this.respCredited) return;
    up.consume(target - this.respCredited);
    this.respCredited = target;
  }

  onReset(stream: H2Stream, code: number, kind: ResetKind): void {
    if (stream === this.down) {
      // The client reset the stream or its connection went away: "CANCEL (0x8): Used by the
      // endpoint to indicate that the stream is no longer needed" - RFC 9113 §7: the backend's
      // work is cancelled too.
      this.cancelled = true;
      clearTimeout(this.timer);
      clearTimeout(this.deadlineTimer);
      this.up?.reset(ErrorCode.CANCEL);
      // Response bytes that will never reach the client: the backend's connection gets them back.
      this.creditResponse(this.respReceived);
      // We cancelled it for the client: no latency signal, not the backend's fault.
      this.release(undefined, undefined);
      this.finish();
      return;
    }
    if (stream !== this.up || this.finished) return;
    const upstream = this.upstream!;
    if (kind === 'connection') {
      // Retried (idempotent methods only) when no request byte had reached the backend's
      // connection yet and no response came: the backend cannot have processed a message it never got.
      const nothingSent = this.attemptSent === 0 && !this.responded;
      this.upstreamFailed(Status.UNAVAILABLE, `connection to backend ${upstream.address} lost: ${stream.connection.lastError || 'closed'}`, nothingSent);
    } else if (kind === 'local') {
      this.upstreamFailed(Status.INTERNAL, `backend ${upstream.address} broke HTTP/2 on the stream (${rstCodeName(code)})`, false);
    } else {
      // "REFUSED_STREAM ... indicates that the stream is closed prior to any processing having
      // occurred" (RFC 9113 §8.7), as are streams above a GOAWAY's last-stream-id: safe to retry.
      this.upstreamFailed(statusForUpstreamReset(code), `backend ${upstream.address} reset the stream with ${rstCodeName(code)}`, code === ErrorCode.REFUSED_STREAM);
    }
  }

  // --- endings ---

  /** The backend ended the call with `status`. */
  private completed(status: number): void {
    this.release(performance.now() - this.started, status);
    // A backend that answered before the request ended needs no more of it.
    const up = this.up;
    if (up !== null && !up.closed && !up.localEnded) up.reset(ErrorCode.CANCEL);
    this.finish();
  }

  /**
   * "grpc-timeout ... If the deadline is exceeded the server ... [ends the call with]
   * DEADLINE_EXCEEDED" (PROTOCOL-HTTP2.md): the proxy does it itself rather than trust every
   * backend to, cancelling the backend's stream.
   */
  private readonly onDeadline = (): void => {
    if (this.finished || this.cancelled) return;
    this.cancelled = true; // a call still waiting for a backend leaves the queue
    clearTimeout(this.timer);
    const up = this.up;
    this.up = null;
    up?.reset(ErrorCode.CANCEL);
    this.release(this.upstream === null ? undefined : performance.now() - this.started, Status.DEADLINE_EXCEEDED);
    this.respondError(Status.DEADLINE_EXCEEDED, 'grpc-ha proxy: deadline exceeded');
  };

  /** The attempt failed without a gRPC status from the backend; retry it elsewhere or end the call. */
  private upstreamFailed(status: number, message: string, notProcessed: boolean): void {
    const upstream = this.upstream!;
    upstream.errors++;
    this.release(performance.now() - this.started, status);
    const up = this.up;
    this.up = null;
    up?.reset(ErrorCode.CANCEL);
    if (notProcessed && !this.responded && this.replay !== null && this.attempts < this.maxAttempts && !this.cancelled) {
      this.stats.retries++;
      this.cluster.acquire(this);
      return;
    }
    this.stats.proxyErrors++;
    this.respondError(status, message);
  }

  /** Ends the attempt on its backend; `status` is the call's final gRPC status (undefined: not the backend's doing). */
  private release(latencyMs: number | undefined, status: number | undefined): void {
    const upstream = this.upstream;
    if (upstream === null) return;
    this.upstream = null;
    this.cluster.release(upstream, latencyMs, status);
  }

  /** Ends the downstream call with `status`: Trailers-Only if nothing was sent yet, else in trailers. */
  private respondError(status: number, message: string): void {
    this.finish();
    const down = this.down;
    if (down.closed) return;
    if (!down.headersSent) down.sendHeaders(trailersOnly(status, message), true);
    else down.sendTrailers(statusTrailers(status, message));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadlineTimer);
    this.held = null;
    this.replay = null;
    this.stats.completed++;
    // Request bytes the backend will not take any more are granted back to the client's connection.
    const up = this.up;
    if (up === null || up.closed) this.creditRequest(this.reqReceived);
  }
}

const EMPTY = Buffer.alloc(0);

function setField(fields: string[], name: string, value: string): void {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === name) {
      fields[i + 1] = value;
      return;
    }
  }
}

/** "Timeout → TimeoutValue TimeoutUnit", at most 8 digits, units H M S m u n - PROTOCOL-HTTP2.md; null when malformed. */
export function grpcTimeoutMs(value: string): number | null {
  if (value.length < 2 || value.length > 9) return null;
  const n = Number(value.slice(0, -1));
  if (!Number.isInteger(n) || n < 0) return null;
  switch (value[value.length - 1]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return n / 1000;
    case 'n':
      return n / 1_000_000;
    default:
      return null;
  }
}
