/**
 * One backend of a cluster: a pool of multiplexed HTTP/2 connections to it (usually one), its
 * live load for the picker, and its health. Calls from every client connection share the pool,
 * as nginx's `keepalive` upstreams and Envoy's HTTP/2 connection pools do. Streams go to the
 * least loaded connection that can take one; a fresh connection is opened before one reaches the
 * backend's stream limit or its tolerance of resets (upstream-connection.ts), and at once when the
 * backend sends a graceful GOAWAY (grpc-go's MaxConnectionAge, grpcio's max_connection_age_ms, a
 * drain): that never makes the backend unavailable. Only a connection that cannot be established,
 * or is lost with no other to take over, does, with reconnect backoff.
 */
import { Backoff } from '../core/backoff.js';
import { EndpointLoad } from '../core/pickers/endpoint-load.js';
import type { RandomSource } from '../core/pickers/picker.js';
import { splitAddress } from '../core/address.js';
import type { ProxyBackendConnectivity, ProxyBackendHealth, ProxyBackendState } from '../observe/proxy-state.js';
import { ErrorCode, errorCodeName } from './h2/frame.js';
import type { H2Stream, StreamHandler } from './h2/stream.js';
import type { ActiveHealthCheckConfig, BackendTls } from './proxy-config.js';
import { HealthChecker } from './health-checker.js';
import { UpstreamConnection, type UpstreamConnectionEvents, type UpstreamConnectionOptions } from './upstream-connection.js';

/** Connection backoff (gRPC connection-backoff.md: INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2; MAX lowered from 120 s to 30 s for a proxy). */
const BACKOFF = { initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 30_000 } as const;

/** Connection state of an upstream, as grpc-js names subchannel states. */
export type UpstreamState = ProxyBackendConnectivity;

/** Health as seen by active checking; 'unknown' until the first check answers. */
export type UpstreamHealth = ProxyBackendHealth;

/** What an upstream needs from its cluster. */
export interface UpstreamOptions {
  readonly tls: BackendTls | null;
  readonly connectTimeoutMs: number;
  /** Stream flow-control window to advertise, bytes. */
  readonly windowBytes: number;
  /** Connections taking new streams at most; retired ones finishing theirs are not counted. */
  readonly maxConnections: number;
  readonly healthCheck: ActiveHealthCheckConfig | null;
  /** Randomness of the reconnect backoff's jitter; injectable for tests. Defaults to Math.random. */
  readonly random?: RandomSource;
  /** Called whenever `available` may have changed. */
  readonly onChange: (upstream: Upstream) => void;
}

/** One backend and its connections. */
export class Upstream implements UpstreamConnectionEvents {
  /** Live load read by the cluster's picker (the same EndpointLoad the grpc-js policies use). */
  readonly load = new EndpointLoad();
  state: UpstreamState = 'idle';
  health: UpstreamHealth;
  /** Why the last connection attempt or health check failed, for UNAVAILABLE messages and the admin view. */
  lastError = '';
  /** Attempts that failed without a gRPC status from this backend (connection unusable or lost, stream reset, malformed response). */
  errors = 0;
  /** Connections opened since the start, replacements included (the admin view shows it). */
  connectionsOpened = 0;
  /** Connections that take new streams, oldest first. */
  private readonly pool: UpstreamConnection[] = [];
  /** Connections out of the pool (retired, or draining after a GOAWAY) until their last stream ends. */
  private readonly retired = new Set<UpstreamConnection>();
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly checker: HealthChecker | undefined;
  private readonly target: UpstreamConnectionOptions;

  constructor(
    /** `host:port`, the endpoint key. */
    readonly address: string,
    /** Static weight for the weighted policies. */
    public weight: number,
    private readonly options: UpstreamOptions,
  ) {
    const hp = splitAddress(address);
    this.target = {
      host: hp?.host ?? address,
      port: hp?.port ?? 0,
      tls: options.tls,
      connectTimeoutMs: options.connectTimeoutMs,
      windowBytes: options.windowBytes,
    };
    this.backoff = new Backoff(BACKOFF, options.random);
    this.health = options.healthCheck ? 'unknown' : 'serving';
    if (options.healthCheck) {
      this.checker = new HealthChecker(this, options.healthCheck, (serving, reason) => this.setHealth(serving, reason));
    }
  }

  /** Whether the picker may choose this backend: connected and not failing health checks. */
  get available(): boolean {
    return this.state === 'ready' && this.health === 'serving';
  }

  /** `https` or `http`, for the `:scheme` of forwarded requests. */
  get scheme(): string {
    return this.options.tls ? 'https' : 'http';
  }

  /** Connections open now: in the pool and retired ones still finishing their streams. */
  get connections(): number {
    return this.pool.length + this.retired.size;
  }

  /** Starts connecting unless connected or already trying. */
  connect(): void {
    if (this.state === 'closed' || this.state === 'connecting' || this.state === 'ready') return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState('connecting');
    this.open();
  }

  /**
   * Opens a stream for a call (or a health check) on the least loaded connection that can take
   * it, opening one when none can; null when the backend is not connected.
   */
  request(fields: readonly string[], handler: StreamHandler): H2Stream | null {
    if (this.state !== 'ready') return null;
    return this.connectionForStream().h2.request(fields, false, handler);
  }

  /** Stops using the backend: no new calls; calls in flight finish on the open connections. */
  close(): void {
    this.setState('closed');
    clearTimeout(this.retryTimer);
    this.checker?.stop();
    for (const c of this.pool.splice(0)) {
      this.retired.add(c);
      c.retire();
    }
  }

  /** Closes every connection at once, failing calls in flight (shutdown after the grace period). */
  destroy(): void {
    this.close();
    for (const c of this.retired) c.h2.destroy();
  }

  private open(): UpstreamConnection {
    const c = new UpstreamConnection(this.target, this);
    this.connectionsOpened++;
    this.pool.push(c);
    return c;
  }

  /** Takes `c` out of the pool; its streams finish. A health check stream on it moves to another connection. */
  private retire(c: UpstreamConnection): void {
    const i = this.pool.indexOf(c);
    if (i >= 0) this.pool.splice(i, 1);
    this.retired.add(c);
    if (!c.retired) c.retire();
    if (this.checker?.connection === c.h2 && this.state === 'ready') this.checker.start();
  }

  private connectionForStream(): UpstreamConnection {
    const pool = this.pool;
    // The common case: one connection, far from every limit.
    if (pool.length === 1) {
      const only = pool[0]!;
      if (only.ready && !only.nearLimit && only.takes(false)) return only;
    }
    let best: UpstreamConnection | undefined;
    for (let i = 0; i < this.pool.length; ) {
      const c = this.pool[i]!;
      if (c.spent) {
        // A fresh connection starts with the backend's whole reset tolerance; this one keeps
        // enough to reset every stream it still carries (it took none it could not).
        this.retire(c);
        continue;
      }
      i++;
      // Connected ones first, then the least loaded.
      if (c.takes(false) && (best === undefined || (c.ready && !best.ready) || (c.ready === best.ready && c.load < best.load))) best = c;
    }
    if (best === undefined) {
      if (this.pool.length < this.options.maxConnections) return this.open();
      // At the pool's size: the least loaded connection queues the stream until the backend frees a slot.
      for (const c of this.pool) if (c.takes(true) && (best === undefined || c.load < best.load)) best = c;
      return best ?? this.open();
    }
    if (best.nearLimit && this.pool.length < this.options.maxConnections && !this.pool.some((c) => c !== best && !c.nearLimit && !c.closing)) {
      // The connection that takes over is opened before this one reaches its limit.
      this.open();
    }
    return best;
  }

  // --- UpstreamConnectionEvents ---

  onReady(c: UpstreamConnection): void {
    if (c.retired || this.state === 'closed') return;
    if (this.state !== 'ready') {
      this.backoff.reset();
      this.lastError = '';
      this.setState('ready');
      this.checker?.start();
    }
  }

  onGoaway(c: UpstreamConnection, code: number): void {
    const inPool = this.pool.includes(c);
    if (!inPool && c.retired) return;
    if (code !== ErrorCode.NO_ERROR) {
      // An error GOAWAY says something about the backend: the connection is lost, as if closed.
      this.lastError = c.h2.lastError || `backend sent GOAWAY ${errorCodeName(code)}`;
      this.retire(c);
      if (!this.pool.some((p) => p.ready)) this.lost(this.lastError);
      return;
    }
    // "GOAWAY ... NO_ERROR ... graceful shutdown" - RFC 9113 §6.8: the backend asks for a new
    // connection (MaxConnectionAge, a drain). The replacement opens now, the backend stays
    // ready; streams the backend did not process are sent again on it by their calls. A backend
    // that sends GOAWAY before the connection was even ready gets the reconnect backoff instead.
    const wasReady = c.ready;
    this.retire(c);
    if (this.pool.some((p) => !p.closing)) return;
    if (wasReady && this.state === 'ready') this.open();
    else this.lost(c.h2.lastError || 'backend sent GOAWAY before the connection was ready');
  }

  onError(_c: UpstreamConnection, error: unknown): void {
    this.lastError = `internal error: ${(error as Error).message}`;
  }

  onClose(c: UpstreamConnection, reason: string): void {
    this.retired.delete(c);
    const i = this.pool.indexOf(c);
    if (i < 0) return;
    this.pool.splice(i, 1);
    if (this.state === 'closed') return;
    if (reason) this.lastError = reason;
    if (this.checker?.connection === c.h2 && this.state === 'ready') this.checker.start();
    // Another connection carries on; the backend is lost only when none is left.
    if (this.pool.length === 0) this.lost(reason || 'connection closed');
  }

  /** No connection is left: transient failure, and a new one after the backoff. */
  private lost(reason: string): void {
    if (this.state === 'closed') return;
    this.checker?.stop();
    for (const c of this.pool.splice(0)) {
      this.retired.add(c);
      c.retire();
    }
    this.lastError = reason;
    this.setState('transient_failure');
    if (this.options.healthCheck) this.health = 'unknown';
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === 'transient_failure') {
        this.state = 'idle';
        this.connect();
      }
    }, this.backoff.next());
    this.retryTimer.unref();
  }

  private setHealth(serving: boolean, reason: string): void {
    const health: UpstreamHealth = serving ? 'serving' : 'not_serving';
    if (!serving) this.lastError = reason;
    if (health === this.health) return;
    this.health = health;
    this.options.onChange(this);
  }

  private setState(state: UpstreamState): void {
    if (state === this.state) return;
    this.state = state;
    this.options.onChange(this);
  }

  /** Its state for the admin endpoint (outlier ejection is the cluster's to add). */
  toJSON(): Omit<ProxyBackendState, 'ejected' | 'condition'> {
    return {
      address: this.address,
      weight: this.weight,
      state: this.state,
      health: this.health,
      available: this.available,
      inFlight: this.load.inFlight,
      completed: this.load.completed,
      failed: this.load.failed,
      errors: this.errors,
      connections: this.connections,
      connectionsOpened: this.connectionsOpened,
      latencyEwmaMs: Number.isNaN(this.load.rttMs) ? null : Math.round(this.load.rttMs * 1000) / 1000,
      ...(this.lastError && { lastError: this.lastError }),
    };
  }
}
