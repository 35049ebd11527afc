/**
 * One call through the proxy: the client's stream (downstream) and, per backend it is tried on,
 * one {@link UpstreamAttempt} that handles the stream on that backend's connection. Headers,
 * messages and trailers pass through unchanged; DATA is forwarded frame by frame as it arrives,
 * and each side's window is granted back only as the other side writes the bytes out, so HTTP/2
 * flow control holds end to end and no message is ever buffered whole. The call keeps what
 * outlives an attempt: the deadline (`grpc-timeout`, enforced by the proxy), the request bytes a
 * retry resends, the attempts made, the final status and the request credit to the client.
 */
import { Status } from '../core/status.js';
import type { ProxyCallCounts } from '../observe/proxy-state.js';
import type { Cluster, PendingCall } from './cluster.js';
import { statusTrailers, trailersOnly } from './grpc-status.js';
import type { H2Stream, ResetKind, StreamHandler } from './h2/stream.js';
import { fieldValue, setField } from './header-fields.js';
import { formatGrpcTimeout, MAX_TIMER_MS, parseGrpcTimeout } from './grpc-timeout.js';
import { UpstreamAttempt, type AttemptOwner, type Resend } from './upstream-attempt.js';
import type { Upstream } from './upstream.js';

/**
 * Request bytes kept for a retry while no response has arrived (Envoy's per-request buffer limit
 * is of this order); a bigger request is simply not retried.
 */
const REPLAY_LIMIT_BYTES = 64 * 1024;

/**
 * Sends of a call no backend processed (REFUSED_STREAM, above a GOAWAY's last-stream-id), the
 * first included, whatever its method and unless `retry.attempts` allows more: gRFC A6's
 * transparent retries, bounded so that a backend refusing every stream cannot keep a call looping.
 */
const TRANSPARENT_ATTEMPTS = 4;

/** The listener's call counters, which its calls write; /state shows them as {@link ProxyCallCounts}. */
export type CallCounters = { -readonly [K in keyof ProxyCallCounts]: number };

/**
 * Where a call is. One transition function (`setState`), as grpc-js's subchannel and connect-es
 * keep their state machines:
 *
 *   waiting ──dispatch──▶ attempting ──response headers──▶ responding ──trailers──▶ done
 *      ▲                      │ failed, unprocessed, retries left
 *      └──────────────────────┘            (any state ──client reset, deadline, failure──▶ done)
 */
type CallState =
  /** For a backend with room: the first one, or the next after an attempt it never reached. */
  | { readonly t: 'waiting' }
  /** The request goes to `attempt`'s backend; no response yet, so a retry is still possible. */
  | { readonly t: 'attempting'; readonly attempt: UpstreamAttempt }
  /** Response headers were forwarded: the call is committed to `attempt`'s backend. */
  | { readonly t: 'responding'; readonly attempt: UpstreamAttempt }
  /** Ended. `attempt`, the last one, still settles the flow-control credit of bytes in flight. */
  | { readonly t: 'done'; readonly attempt: UpstreamAttempt | null };

const WAITING: CallState = { t: 'waiting' };

/** Forwards one call; it is the handler of the client's stream. */
export class ProxiedCall implements PendingCall, StreamHandler, AttemptOwner {
  readonly hashKey: string | undefined;
  /** PendingCall and AttemptOwner: the client's connection, whose fair share of the cluster the call counts in. */
  readonly client: object;
  timer?: NodeJS.Timeout;
  private state: CallState = WAITING;
  private attempts = 0;
  private readonly maxAttempts: number;
  /** PendingCall: the backend of the attempt that just failed, while the call waits to be sent again. */
  avoid: Upstream | undefined;
  /** Request chunks that arrived before the first backend was chosen (the client's window bounds them). */
  private held: Buffer[] | null = null;
  /** Request chunks kept for a retry; null once a retry is no longer possible. */
  private replay: Buffer[] | null;
  private replayBytes = 0;
  /**
   * Request bytes received from the client and granted back to it. Whatever is left when the
   * call ends is granted back then, so the client's connection window never shrinks.
   */
  private reqReceived = 0;
  private reqCredited = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the call's deadline, when it has a grpc-timeout. */
  private deadlineAt: number | undefined;
  private readonly receivedAt = performance.now();
  /** The request's grpc-timeout when it does not follow the grammar: the call is refused. */
  private malformedTimeout: string | undefined;

  /** The request's header fields, the call's own copy: `:scheme` and `grpc-timeout` are rewritten per attempt. */
  private readonly fields: string[];

  constructor(
    private readonly down: H2Stream,
    /** The request's header fields as received (shared with the decoder's remembered block: not edited). */
    fields: readonly string[],
    private readonly cluster: Cluster,
    private readonly counters: CallCounters,
  ) {
    this.fields = fields.slice();
    const path = fieldValue(fields, ':path') ?? '';
    this.maxAttempts = cluster.retryAttempts(path);
    // Every call keeps its first request bytes: a stream the backend never processed is sent again whatever the method.
    this.replay = [];
    const header = cluster.hashHeader;
    this.hashKey = header === undefined ? undefined : fieldValue(fields, header);
    this.client = down.connection;
    down.handler = this;
    const timeout = fieldValue(fields, 'grpc-timeout');
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(timeout);
      if (ms === null) {
        this.malformedTimeout = timeout;
      } else {
        this.deadlineAt = this.receivedAt + ms;
        // A deadline beyond what a timer can hold is not armed (it would fire at once); it is still passed on.
        if (ms <= MAX_TIMER_MS) {
          this.deadlineTimer = setTimeout(this.onDeadline, ms);
          this.deadlineTimer.unref();
        }
      }
    }
  }

  /** PendingCall: the call ended while it waited in the cluster's queue (client reset, deadline). */
  get cancelled(): boolean {
    return this.state.t === 'done';
  }

  /** Starts the call: finds a backend now or waits for one. */
  start(): void {
    this.counters.started++;
    const malformed = this.malformedTimeout;
    if (malformed !== undefined) {
      // As grpc-go and grpc-js servers answer it: a deadline the proxy cannot read is not forwarded for a backend to read otherwise.
      this.counters.proxyErrors++;
      this.respondError(Status.INTERNAL, `grpc-ha proxy: malformed grpc-timeout ${JSON.stringify(malformed)} (PROTOCOL-HTTP2.md: at most 8 digits, then one of H M S m u n)`, null);
      return;
    }
    this.cluster.acquire(this);
  }

  /** The only place the state changes; `done` is final. */
  private setState(next: CallState): void {
    if (this.state.t === 'done') return;
    this.state = next;
    if (next.t === 'responding') {
      // Committed to this backend: nothing will be sent again.
      this.replay = null;
    } else if (next.t === 'done') {
      clearTimeout(this.deadlineTimer);
      this.held = null;
      this.replay = null;
      this.counters.completed++;
      // Request bytes no backend will take any more are granted back to the client's connection.
      if (next.attempt === null || next.attempt.closed) this.creditRequest(this.reqReceived);
    }
  }

  // --- PendingCall, for the cluster ---

  /** The cluster found a backend with room. */
  dispatch(upstream: Upstream): void {
    if (this.state.t === 'done') return;
    this.attempts++;
    const attempt = new UpstreamAttempt(this, upstream, this.cluster);
    const fields = this.fields;
    setField(fields, ':scheme', upstream.scheme);
    // Time spent waiting for a backend (or on a failed attempt) comes off the backend's deadline.
    const deadlineAt = this.deadlineAt;
    if (deadlineAt !== undefined && attempt.startedAt - this.receivedAt >= 1) {
      setField(fields, 'grpc-timeout', formatGrpcTimeout(deadlineAt - attempt.startedAt));
    }
    const state: CallState = { t: 'attempting', attempt };
    this.setState(state);
    if (!attempt.open(fields)) {
      // Nothing reached the backend.
      this.attemptFailed(attempt, Status.UNAVAILABLE, `backend ${upstream.address} connection unusable: ${upstream.lastError || 'it takes no new stream'}`, 'always');
      return;
    }
    // The engine may refuse the stream as it opens it (stream ids exhausted): the attempt is over already.
    if (this.state !== state) return;
    const ended = this.down.remoteEnded;
    const pending = this.attempts === 1 ? this.held : this.replay;
    this.held = null;
    if (pending !== null && pending.length > 0) {
      for (let i = 0; i < pending.length; i++) attempt.send(pending[i]!, ended && i === pending.length - 1);
    } else if (ended) {
      attempt.send(EMPTY, true);
    }
  }

  /** No backend will take the call: the reason becomes the UNAVAILABLE message. */
  fail(reason: string): void {
    if (this.state.t === 'done') return;
    this.counters.proxyErrors++;
    this.respondError(Status.UNAVAILABLE, reason, null);
  }

  // --- StreamHandler of the client's stream ---

  onHeaders(_stream: H2Stream, fields: readonly string[]): void {
    // Request trailers (gRPC sends none, HTTP/2 allows them): pass them on; the engine marked the request ended.
    const state = this.state;
    if (state.t === 'attempting' || state.t === 'responding') state.attempt.sendTrailers(fields);
  }

  onData(_stream: H2Stream, data: Buffer, endStream: boolean): void {
    this.reqReceived += data.length;
    const state = this.state;
    if (state.t === 'done') {
      // The call already ended: drop what the client still sends, keep its connection window open.
      this.creditRequest(this.reqReceived);
      return;
    }
    const replay = this.replay;
    if (replay !== null && data.length > 0) {
      this.replayBytes += data.length;
      // Past the limit no retry will be made; but a retry already waiting for a backend must
      // resend the whole request (what arrives meanwhile is bounded by the client's window).
      if (this.replayBytes <= REPLAY_LIMIT_BYTES || (state.t === 'waiting' && this.attempts > 0)) replay.push(data);
      else this.replay = null;
    }
    if (state.t !== 'waiting') state.attempt.send(data, endStream);
    else if (this.attempts === 0 && data.length > 0) (this.held ??= []).push(data);
  }

  onSent(_stream: H2Stream, bytes: number): void {
    // Response bytes reached the client's connection: the backend may send as many more.
    const state = this.state;
    if (state.t === 'responding' || state.t === 'done') state.attempt?.responseWritten(bytes);
  }

  onReset(_stream: H2Stream, _code: number, _kind: ResetKind): void {
    // The client reset the stream or its connection went away: "CANCEL (0x8): Used by the
    // endpoint to indicate that the stream is no longer needed" - RFC 9113 §7: the backend's
    // work is cancelled too.
    clearTimeout(this.timer);
    // A call still waiting leaves the queue at once: it no longer counts against its connection's share of maxPending.
    if (this.state.t === 'waiting') this.cluster.withdraw(this);
    const state = this.state;
    const attempt = state.t === 'waiting' ? null : state.attempt;
    if (attempt !== null) {
      attempt.cancel();
      // Response bytes that will never reach the client: the backend's connection gets them back.
      attempt.creditAllResponse();
      // We cancelled it for the client: no latency signal, not the backend's fault.
      if (state.t !== 'done') attempt.release(undefined);
    }
    this.setState({ t: 'done', attempt });
  }

  // --- AttemptOwner: what the current attempt's backend does ---

  responseHeaders(attempt: UpstreamAttempt, fields: readonly string[], endStream: boolean): void {
    const state = this.state;
    if (state.t === 'attempting' && state.attempt === attempt) {
      this.setState({ t: 'responding', attempt });
      // Trailers-Only when END_STREAM: the status is in these headers.
      this.down.sendHeaders(fields, endStream);
      if (endStream) this.completed(attempt, Number(fieldValue(fields, 'grpc-status')));
    } else if (state.t === 'responding' && state.attempt === attempt) {
      this.down.sendTrailers(fields);
      this.completed(attempt, Number(fieldValue(fields, 'grpc-status')));
    }
  }

  responseData(attempt: UpstreamAttempt, data: Buffer, endStream: boolean): void {
    const state = this.state;
    if (state.t === 'responding' && state.attempt === attempt) {
      // Counted before it is sent: the client's stream may write it, and grant it back, at once.
      attempt.responseForwarded(data.length);
      if (data.length > 0) this.down.sendData(data, false);
      if (endStream) {
        this.down.sendTrailers(statusTrailers(Status.INTERNAL, 'backend ended the response without trailers'));
        this.completed(attempt, Status.INTERNAL);
      }
      return;
    }
    attempt.discard(data.length);
    if (state.t === 'attempting' && state.attempt === attempt) {
      // DATA before HEADERS is a malformed response (RFC 9113 §8.1).
      this.attemptFailed(attempt, Status.INTERNAL, `backend ${attempt.upstream.address} sent DATA before response headers`, 'never');
    }
  }

  requestWritten(attempt: UpstreamAttempt): void {
    // Request bytes reached the backend's connection: the client may send as many more; a retry
    // resends bytes granted already.
    const state = this.state;
    if (state.t !== 'waiting' && state.attempt === attempt) this.creditRequest(attempt.sent);
  }

  /** The attempt failed without a gRPC status from the backend: send the call again, or end it. */
  attemptFailed(attempt: UpstreamAttempt, status: number, message: string, resend: Resend): void {
    const state = this.state;
    if ((state.t !== 'attempting' && state.t !== 'responding') || state.attempt !== attempt) return;
    attempt.fail(status);
    if (state.t === 'attempting' && this.replay !== null && this.mayResend(resend)) {
      this.counters.retries++;
      this.avoid = attempt.upstream;
      this.setState(WAITING);
      this.cluster.acquire(this);
      return;
    }
    this.counters.proxyErrors++;
    this.respondError(status, message, attempt);
  }

  /** Whether an attempt that failed with `resend` may be sent again. */
  private mayResend(resend: Resend): boolean {
    // Idempotent methods (retry.idempotentMethods) get retry.attempts in all; any call the backend did not process, at least TRANSPARENT_ATTEMPTS.
    const limit = resend === 'always' ? Math.max(this.maxAttempts, TRANSPARENT_ATTEMPTS) : resend === 'idempotent' ? this.maxAttempts : 1;
    return this.attempts < limit;
  }

  // --- endings ---

  /** The backend ended the call with `status`. */
  private completed(attempt: UpstreamAttempt, status: number): void {
    attempt.release(status);
    attempt.responseEnded();
    this.setState({ t: 'done', attempt });
  }

  /**
   * "grpc-timeout ... If the deadline is exceeded the server ... [ends the call with]
   * DEADLINE_EXCEEDED" (PROTOCOL-HTTP2.md): the proxy does it itself rather than trust every
   * backend to, cancelling the backend's stream.
   */
  private readonly onDeadline = (): void => {
    const state = this.state;
    if (state.t === 'done') return;
    clearTimeout(this.timer);
    if (state.t === 'waiting') this.cluster.withdraw(this); // a call still waiting for a backend leaves the queue
    let attempt: UpstreamAttempt | null = null;
    let reset = false;
    if (state.t !== 'waiting') {
      attempt = state.attempt;
      reset = attempt.cancel();
      attempt.release(Status.DEADLINE_EXCEEDED);
    }
    this.respondError(Status.DEADLINE_EXCEEDED, 'grpc-ha proxy: deadline exceeded', attempt);
    // The backend's stream was reset for this client's deadline: it counts against the client's
    // reset budget, as its own RST_STREAM would (a client sending grpc-timeout: 1n by the
    // thousand must not make the proxy reset backend streams for free).
    if (reset) this.down.connection.chargeReset();
  };

  /** Ends the call with `status`: Trailers-Only if nothing was sent to the client yet, else in trailers. */
  private respondError(status: number, message: string, attempt: UpstreamAttempt | null): void {
    this.setState({ t: 'done', attempt });
    const down = this.down;
    if (down.closed) return;
    if (!down.headersSent) down.sendHeaders(trailersOnly(status, message), true);
    else down.sendTrailers(statusTrailers(status, message));
  }

  /** Grants the client its request bytes up to `total` (never more than it sent). */
  private creditRequest(total: number): void {
    const target = Math.min(total, this.reqReceived);
    if (target <= this.reqCredited) return;
    this.down.consume(target - this.reqCredited);
    this.reqCredited = target;
  }
}

const EMPTY = Buffer.alloc(0);
