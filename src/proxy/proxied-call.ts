/**
 * One call through the proxy: the client's stream (downstream) joined to a stream on a backend's
 * connection (upstream). Headers, messages and trailers pass through unchanged; DATA is forwarded
 * chunk by chunk as it arrives, and each side is paused while the other cannot take more, so
 * HTTP/2 flow control holds end to end and no message is ever buffered whole.
 */
import {
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
  type ServerStreamResponseOptions,
} from 'node:http2';
import type { Cluster, PendingCall } from './cluster.js';
import {
  BACKEND_FAILURE_STATUSES,
  exactHeaders,
  GrpcStatus,
  rstCodeName,
  statusForUpstreamReset,
  statusTrailers,
  trailersOnly,
} from './grpc-status.js';
import type { Upstream } from './upstream.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = constants;

/**
 * Request bytes kept for a retry while no response has arrived (Envoy's per-request buffer limit
 * is of this order); a bigger request is simply not retried.
 */
const REPLAY_LIMIT_BYTES = 64 * 1024;

/**
 * `respond` options. `sendDate: false` (honoured by Node, missing from its types) passes the
 * backend's headers as they are instead of adding a `date` header to every response.
 */
const NO_DATE_END = { endStream: true, sendDate: false } as ServerStreamResponseOptions;
const NO_DATE_TRAILERS = { waitForTrailers: true, sendDate: false } as ServerStreamResponseOptions;

/** Counters the listener keeps across calls, for the admin view. */
export interface CallStats {
  started: number;
  completed: number;
  /** Calls the proxy itself ended with an error status (no route, no backend, backend lost). */
  proxyErrors: number;
  retries: number;
}

/** Forwards one call; lives until both streams are closed. */
export class ProxiedCall implements PendingCall {
  readonly hashKey: string | undefined;
  timer?: NodeJS.Timeout;
  cancelled = false;
  private upstream: Upstream | null = null;
  /** The backend connection of the current attempt (Node detaches it from the stream on close). */
  private session: ClientHttp2Session | undefined;
  private req: ClientHttp2Stream | null = null;
  private attempts = 0;
  private readonly maxAttempts: number;
  private started = 0;
  /** Response headers were forwarded: the call is committed to this backend. */
  private responded = false;
  /** The response ended in a Trailers-Only HEADERS frame. */
  private trailersOnlyStatus: number | undefined;
  /** Trailers to send when the downstream response ends. */
  private trailers: IncomingHttpHeaders | Record<string, string> | null = null;
  private downstreamEnded = false;
  private downstreamClosed = false;
  private finished = false;
  /** Request chunks kept for a retry; null once a retry is no longer possible. */
  private replay: Buffer[] | null;
  private replayBytes = 0;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly cluster: Cluster,
    private readonly stats: CallStats,
  ) {
    this.maxAttempts = cluster.retryAttempts(headers[':path']!);
    this.replay = this.maxAttempts > 1 ? [] : null;
    const header = cluster.hashHeader;
    const key = header === undefined ? undefined : headers[header];
    this.hashKey = typeof key === 'string' ? key : undefined;
    stream.on('close', this.onDownstreamClose);
    stream.on('error', noop);
    stream.on('wantTrailers', this.onWantTrailers);
  }

  /** Starts the call: finds a backend now or waits for one. */
  start(): void {
    this.stats.started++;
    this.cluster.acquire(this);
  }

  /** PendingCall: the cluster found a backend with room. */
  dispatch(upstream: Upstream): void {
    if (this.downstreamClosed) return;
    this.attempts++;
    this.upstream = upstream;
    upstream.load.start();
    this.started = performance.now();
    const headers = this.headers;
    headers[':scheme'] = upstream.scheme;
    let req: ClientHttp2Stream;
    try {
      req = upstream.request(headers);
    } catch (error) {
      // The connection went away between the pick and now: nothing reached the backend.
      this.upstreamFailed(GrpcStatus.UNAVAILABLE, `backend ${upstream.address} connection unusable: ${(error as Error).message}`, true);
      return;
    }
    this.req = req;
    this.session = upstream.session;
    req.on('response', this.onResponse);
    req.on('data', this.onUpstreamData);
    req.on('trailers', this.onTrailers);
    req.on('end', this.onUpstreamEnd);
    req.on('close', this.onUpstreamClose);
    req.on('error', noop);
    if (this.attempts === 1) {
      const stream = this.stream;
      stream.on('data', this.onDownstreamData);
      stream.on('end', this.onDownstreamEnd);
    } else {
      for (const chunk of this.replay ?? []) req.write(chunk);
      if (this.downstreamEnded) req.end();
      else if (req.writableNeedDrain) req.once('drain', this.onUpstreamDrain);
      else this.stream.resume();
    }
  }

  /** PendingCall: no backend will take the call. */
  fail(reason: string): void {
    this.stats.proxyErrors++;
    this.respondError(GrpcStatus.UNAVAILABLE, reason);
  }

  // --- downstream (client) side ---

  private readonly onDownstreamData = (chunk: Buffer): void => {
    if (this.finished) return; // the call already ended with an error: drop what the client still sends
    const replay = this.replay;
    if (replay !== null) {
      this.replayBytes += chunk.length;
      if (this.replayBytes > REPLAY_LIMIT_BYTES) this.replay = null;
      else replay.push(chunk);
    }
    const req = this.req;
    if (req === null || req.destroyed) {
      // Between attempts: hold the client until the next backend is chosen.
      this.stream.pause();
      return;
    }
    if (!req.write(chunk)) {
      // Backpressure: stop reading the client (its window closes) until the backend takes more.
      // Listeners are added only when needed: most calls never fill a window.
      this.stream.pause();
      req.once('drain', this.onUpstreamDrain);
    }
  };

  private readonly onDownstreamEnd = (): void => {
    this.downstreamEnded = true;
    const req = this.req;
    if (req !== null && !req.destroyed) req.end();
  };

  private readonly onDownstreamDrain = (): void => {
    const req = this.req;
    if (req !== null && !req.destroyed) req.resume();
  };

  /** The client's stream closed: finished, reset by the client (RST_STREAM) or its connection lost. */
  private readonly onDownstreamClose = (): void => {
    this.downstreamClosed = true;
    this.cancelled = true;
    clearTimeout(this.timer);
    const req = this.req;
    // "CANCEL (0x8): Used by the endpoint to indicate that the stream is no longer needed" - RFC
    // 9113 §7: a client that went away cancels the backend's work too.
    if (req !== null && !req.closed) req.close(NGHTTP2_CANCEL);
  };

  private readonly onWantTrailers = (): void => {
    const trailers = this.trailers ?? statusTrailers(GrpcStatus.INTERNAL, 'backend ended the response without trailers');
    try {
      this.stream.sendTrailers(trailers);
    } catch {
      // The client reset the stream meanwhile: nothing left to tell it.
    }
  };

  // --- upstream (backend) side ---

  private readonly onResponse = (received: IncomingHttpHeaders, flags: number, raw?: string[]): void => {
    const headers = exactHeaders(received, raw);
    this.responded = true;
    this.replay = null;
    const stream = this.stream;
    if (stream.destroyed) return;
    if (flags & NGHTTP2_FLAG_END_STREAM) {
      // Trailers-Only: the status is in these headers.
      this.trailersOnlyStatus = Number(headers['grpc-status']);
      stream.respond(headers, NO_DATE_END);
    } else {
      stream.respond(headers, NO_DATE_TRAILERS);
    }
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (!this.stream.write(chunk)) {
      this.req!.pause();
      this.stream.once('drain', this.onDownstreamDrain);
    }
  };

  private readonly onUpstreamDrain = (): void => {
    if (!this.stream.destroyed) this.stream.resume();
  };

  private readonly onTrailers = (trailers: IncomingHttpHeaders, _flags: number, raw?: string[]): void => {
    this.trailers = exactHeaders(trailers, raw);
  };

  private readonly onUpstreamEnd = (): void => {
    if (this.trailersOnlyStatus === undefined && this.trailers !== null && !this.stream.destroyed) this.stream.end();
  };

  private readonly onUpstreamClose = (): void => {
    const req = this.req!;
    const upstream = this.upstream!;
    if (this.trailersOnlyStatus !== undefined || this.trailers !== null) {
      const status = this.trailersOnlyStatus ?? Number((this.trailers as IncomingHttpHeaders)['grpc-status']);
      this.release(performance.now() - this.started, BACKEND_FAILURE_STATUSES.has(status));
      this.finish();
      return;
    }
    if (this.downstreamClosed) {
      // We cancelled it for the client: no latency signal, not the backend's fault.
      this.release(undefined, false);
      this.finish();
      return;
    }
    const code = req.rstCode ?? 0;
    const session = this.session;
    const connectionLost = session === undefined || session.destroyed || upstream.session !== session;
    if (connectionLost) {
      this.upstreamFailed(GrpcStatus.UNAVAILABLE, `connection to backend ${upstream.address} lost: ${upstream.lastError || 'closed'}`, false);
    } else {
      // "REFUSED_STREAM ... indicates that the stream is closed prior to any processing having
      // occurred" (RFC 9113 §8.7), as are streams above a GOAWAY's last-stream-id: safe to retry.
      this.upstreamFailed(
        statusForUpstreamReset(code),
        `backend ${upstream.address} reset the stream with ${rstCodeName(code)}`,
        code === NGHTTP2_REFUSED_STREAM,
      );
    }
  };

  /** The attempt failed without a gRPC status from the backend; retry it elsewhere or end the call. */
  private upstreamFailed(status: number, message: string, notProcessed: boolean): void {
    const upstream = this.upstream!;
    upstream.errors++;
    this.release(performance.now() - this.started, true);
    const req = this.req;
    this.req = null;
    if (req !== null && !req.closed) req.close(NGHTTP2_CANCEL);
    if (notProcessed && !this.responded && this.replay !== null && this.attempts < this.maxAttempts && !this.downstreamClosed) {
      this.stats.retries++;
      this.cluster.acquire(this);
      return;
    }
    this.stats.proxyErrors++;
    this.respondError(status, message);
  }

  private release(latencyMs: number | undefined, failed: boolean): void {
    const upstream = this.upstream;
    if (upstream === null) return;
    this.upstream = null;
    this.cluster.release(upstream, latencyMs, failed);
  }

  /** Ends the downstream call with `status`: Trailers-Only if nothing was sent yet, else in trailers. */
  private respondError(status: number, message: string): void {
    this.finish();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    try {
      if (!stream.headersSent) {
        stream.respond(trailersOnly(status, message), NO_DATE_END);
      } else {
        this.trailers = statusTrailers(status, message);
        stream.end();
      }
    } catch {
      stream.close(NGHTTP2_CANCEL);
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stats.completed++;
  }
}

function noop(): void {}
