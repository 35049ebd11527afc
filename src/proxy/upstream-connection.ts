/**
 * One HTTP/2 connection of a backend's pool, and what the proxy must not exceed on it: the
 * backend's SETTINGS_MAX_CONCURRENT_STREAMS, the stream ids left (RFC 9113 §5.1.1), and the rate
 * of RST_STREAM frames the backend tolerates before it takes the connection for an attack.
 *
 * Every client's cancellations, deadlines and disconnects become RST_STREAM frames on the shared
 * backend connections, so a proxy in front of many clients looks to a backend like one client
 * doing a rapid reset (CVE-2023-44487), however honest each client is. nghttp2 — the HTTP/2 of
 * Node, so of every grpc-js server — keeps a token bucket per connection: "An incoming RST_STREAM
 * consumes one token. If there is no token available, GOAWAY is sent to tear down the connection"
 * (nghttp2_option_set_stream_reset_rate_limit; NGHTTP2_DEFAULT_STREAM_RESET_BURST 1000,
 * NGHTTP2_DEFAULT_STREAM_RESET_RATE 33 per second, lib/nghttp2_session.h; the GOAWAY is
 * INTERNAL_ERROR). grpc-go has no such limit (its CVE-2023-44487 answer is a handler quota of
 * MaxConcurrentStreams and a throttle on queued control frames), so the strictest known one is
 * modelled here: each connection spends from the same bucket, takes a new stream only while it
 * can still reset every stream it carries, and is retired — replaced by a fresh connection —
 * once half its budget is spent. docs/proxy.md has the arithmetic.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { TokenBucket } from '../core/token-bucket.js';
import { H2Connection } from './h2/connection.js';
import { MAX_WINDOW } from './h2/frame.js';
import type { BackendTls } from './proxy-config.js';
import { tlsModule } from './tls-module.js';

/** nghttp2's default RST_STREAM tolerance per connection: 1000 at once, 33 more per second. */
export const BACKEND_RESET_TOLERANCE = { burst: 1000, perSecond: 33 } as const;

/**
 * Tokens never counted on. nghttp2 refills in whole-second steps (up to 33 tokens behind our
 * continuous refill) and its clock is not ours: 100 tokens cover both with room.
 */
const RESET_RESERVE = 100;

/** Below this many tokens the connection is retired and a fresh one (a full bucket) takes its place. */
const RETIRE_BELOW = BACKEND_RESET_TOLERANCE.burst / 2;

/** Stream ids kept unused: a connection this close to the 2^31 limit is replaced before it runs out. */
const STREAM_IDS_RESERVE = 1 << 16;

/** SETTINGS_MAX_HEADER_LIST_SIZE toward backends: responses and trailers carry metadata like requests do (grpc-go/C core: 16 KiB), with room. */
const UPSTREAM_MAX_HEADER_LIST_SIZE = 65_536;

/** Where and how to connect. */
export interface UpstreamConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: BackendTls | null;
  readonly connectTimeoutMs: number;
  /** Stream flow-control window to advertise, bytes. */
  readonly windowBytes: number;
}

/** What the pool hears from one of its connections. */
export interface UpstreamConnectionEvents {
  /** The backend's SETTINGS arrived: the connection is usable. */
  onReady(connection: UpstreamConnection): void;
  /** The backend sent GOAWAY (or the stream ids ran out): no new stream here. */
  onGoaway(connection: UpstreamConnection, code: number): void;
  /** A bug surfaced while handling a frame; the engine closed the connection with INTERNAL_ERROR. */
  onError(connection: UpstreamConnection, error: unknown): void;
  /** The socket closed; `reason` says why when it was an error. */
  onClose(connection: UpstreamConnection, reason: string): void;
}

/** One pooled connection to a backend. */
export class UpstreamConnection {
  /** What the backend still tolerates of our RST_STREAM frames. */
  readonly resets = new TokenBucket(BACKEND_RESET_TOLERANCE.burst, BACKEND_RESET_TOLERANCE.perSecond);
  readonly h2: H2Connection;
  /** The backend's SETTINGS arrived. */
  ready = false;
  /** Taken out of the pool: it finishes its streams and closes. */
  retired = false;

  constructor(options: UpstreamConnectionOptions, events: UpstreamConnectionEvents) {
    const tls = options.tls;
    const socket: Socket = tls
      ? tlsModule().connect({
          host: options.host,
          port: options.port,
          ...(tls.ca && { ca: tls.ca }),
          ...(tls.cert && { cert: tls.cert, key: tls.key }),
          servername: tls.serverName ?? options.host,
          ALPNProtocols: ['h2'],
        })
      : netConnect({ host: options.host, port: options.port });
    const timer = setTimeout(() => {
      this.h2.lastError = `connect timeout after ${options.connectTimeoutMs} ms`;
      this.h2.destroy();
    }, options.connectTimeoutMs);
    this.h2 = new H2Connection(socket, {
      role: 'client',
      streamWindow: options.windowBytes,
      // The connection window only has to cover the stream windows in flight; a larger one keeps
      // many concurrent big streams fast. It is granted back only as data leaves the proxy.
      connectionWindow: Math.min(Math.max(options.windowBytes * 16, 65_535), MAX_WINDOW),
      maxHeaderListSize: UPSTREAM_MAX_HEADER_LIST_SIZE,
      onReady: () => {
        clearTimeout(timer);
        this.ready = true;
        events.onReady(this);
      },
      // "the sender will ignore frames sent on streams initiated by the receiver [above
      // last-stream-id]" - RFC 9113 §6.8: the engine refuses those streams; the pool replaces the connection.
      onGoaway: (code) => events.onGoaway(this, code),
      onError: (error) => events.onError(this, error),
      onClose: (reason) => {
        clearTimeout(timer);
        events.onClose(this, reason);
      },
      onResetSent: () => this.resets.take(),
    });
  }

  /** Streams on it, open or waiting for the backend's stream limit. */
  get load(): number {
    return this.h2.load;
  }

  /** Whether it can take no new stream at all: retired, draining after a GOAWAY, or closed. */
  get closing(): boolean {
    return this.retired || this.h2.draining;
  }

  /**
   * Whether to retire it: half its reset budget spent (a fresh connection starts with all of it;
   * this one keeps enough to reset every stream it still carries), or its stream ids nearly gone.
   */
  get spent(): boolean {
    return this.resets.available() < RETIRE_BELOW || this.h2.streamIdsLeft < STREAM_IDS_RESERVE;
  }

  /**
   * Whether one more stream fits: below the backend's SETTINGS_MAX_CONCURRENT_STREAMS (unless
   * `overCommit`: the pool is at its size and streams wait in the engine for a slot), and every
   * stream it carries could still be reset without exhausting the backend's tolerance.
   */
  takes(overCommit: boolean): boolean {
    if (this.closing) return false;
    const load = this.h2.load;
    if (!overCommit && load >= this.h2.peerMaxConcurrentStreams) return false;
    return this.resets.available() - RESET_RESERVE >= load + 1;
  }

  /** Whether it nears a limit (3/4 of the backend's stream limit, or of the way to retirement): time to open the connection that takes over. */
  get nearLimit(): boolean {
    return this.h2.load >= 0.75 * this.h2.peerMaxConcurrentStreams || this.resets.available() < 1.5 * RETIRE_BELOW;
  }

  /** Takes it out of the pool: GOAWAY NO_ERROR to the backend, the socket closes when its last stream ends. */
  retire(): void {
    this.retired = true;
    this.h2.close();
  }
}
