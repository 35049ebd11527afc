/**
 * One backend of a cluster: a single multiplexed HTTP/2 connection to it (reconnected with
 * backoff), its live load for the picker, and its health. Calls from every client connection
 * share the one upstream connection, as nginx's `keepalive` upstreams and Envoy do.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Backoff } from '../core/backoff.js';
import { EndpointLoad } from '../core/pickers/endpoint-load.js';
import type { RandomSource } from '../core/pickers/picker.js';
import { splitAddress } from '../core/address.js';
import type { ProxyBackendConnectivity, ProxyBackendHealth, ProxyBackendState } from '../observe/proxy-state.js';
import { H2Connection } from './h2/connection.js';
import { MAX_WINDOW } from './h2/frame.js';
import type { H2Stream, StreamHandler } from './h2/stream.js';
import type { ActiveHealthCheckConfig, BackendTls } from './proxy-config.js';
import { HealthChecker } from './health-checker.js';
import { tlsModule } from './tls-module.js';

/** Connection backoff (gRPC connection-backoff.md: INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2; MAX lowered from 120 s to 30 s for a proxy). */
const BACKOFF = { initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 30_000 } as const;

/** SETTINGS_MAX_HEADER_LIST_SIZE toward backends: responses and trailers carry metadata like requests do (grpc-go/C core: 16 KiB), with room. */
const UPSTREAM_MAX_HEADER_LIST_SIZE = 65_536;

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
  readonly healthCheck: ActiveHealthCheckConfig | null;
  /** Randomness of the reconnect backoff's jitter; injectable for tests. Defaults to Math.random. */
  readonly random?: RandomSource;
  /** Called whenever `available` may have changed. */
  readonly onChange: (upstream: Upstream) => void;
}

/** One backend and its connection. */
export class Upstream {
  /** Live load read by the cluster's picker (the same EndpointLoad the grpc-js policies use). */
  readonly load = new EndpointLoad();
  /** The connection, when one is established or being established. */
  connection: H2Connection | undefined;
  state: UpstreamState = 'idle';
  health: UpstreamHealth;
  /** Why the last connection attempt or health check failed, for UNAVAILABLE messages and the admin view. */
  lastError = '';
  /** Attempts that failed without a gRPC status from this backend (connection unusable or lost, stream reset, malformed response). */
  errors = 0;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly checker: HealthChecker | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(
    /** `host:port`, the endpoint key. */
    readonly address: string,
    /** Static weight for the weighted policies. */
    public weight: number,
    private readonly options: UpstreamOptions,
  ) {
    const hp = splitAddress(address);
    this.host = hp?.host ?? address;
    this.port = hp?.port ?? 0;
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

  /** Starts connecting unless connected or already trying. */
  connect(): void {
    if (this.state === 'closed' || this.state === 'connecting' || this.state === 'ready') return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState('connecting');
    const tls = this.options.tls;
    const socket: Socket = tls
      ? tlsModule().connect({
          host: this.host,
          port: this.port,
          ...(tls.ca && { ca: tls.ca }),
          ...(tls.cert && { cert: tls.cert, key: tls.key }),
          servername: tls.serverName ?? this.host,
          ALPNProtocols: ['h2'],
        })
      : netConnect({ host: this.host, port: this.port });
    const windowBytes = this.options.windowBytes;
    const connection: H2Connection = new H2Connection(socket, {
      role: 'client',
      streamWindow: windowBytes,
      // The connection window only has to cover the stream windows in flight; a larger one keeps
      // many concurrent big streams fast. It is granted back only as data leaves the proxy.
      connectionWindow: Math.min(Math.max(windowBytes * 16, 65_535), MAX_WINDOW),
      maxHeaderListSize: UPSTREAM_MAX_HEADER_LIST_SIZE,
      onReady: () => {
        clearTimeout(timer);
        if (this.connection !== connection) return;
        this.backoff.reset();
        this.lastError = '';
        this.setState('ready');
        this.checker?.start();
      },
      // "the sender will ignore frames sent on streams initiated by the receiver [above
      // last-stream-id]" - RFC 9113 §6.8: take no new streams here, reconnect for later calls.
      onGoaway: () => {
        if (this.connection === connection) this.lost(connection, connection.lastError || 'backend sent GOAWAY');
      },
      onError: (error) => {
        this.lastError = `internal error: ${(error as Error).message}`;
      },
      onClose: (reason) => {
        clearTimeout(timer);
        if (this.connection === connection) this.lost(connection, reason || 'connection closed');
      },
    });
    this.connection = connection;
    const timer = setTimeout(() => {
      connection.lastError = `connect timeout after ${this.options.connectTimeoutMs} ms`;
      connection.destroy();
    }, this.options.connectTimeoutMs);
  }

  /** Opens a stream for a call; null when the connection cannot take one now. */
  request(fields: readonly string[], handler: StreamHandler): H2Stream | null {
    const connection = this.connection;
    if (connection === undefined || this.state !== 'ready') return null;
    return connection.request(fields, false, handler);
  }

  /** Stops using the backend: no new calls; calls in flight finish on the open connection. */
  close(): void {
    this.setState('closed');
    clearTimeout(this.retryTimer);
    this.checker?.stop();
    const connection = this.connection;
    this.connection = undefined;
    connection?.close();
  }

  /** Closes the connection at once, failing calls in flight (shutdown after the grace period). */
  destroy(): void {
    const connection = this.connection;
    this.close();
    connection?.destroy();
  }

  private lost(connection: H2Connection, reason: string): void {
    this.connection = undefined;
    this.checker?.stop();
    connection.close();
    if (this.state === 'closed') return;
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
      latencyEwmaMs: Number.isNaN(this.load.rttMs) ? null : Math.round(this.load.rttMs * 1000) / 1000,
      ...(this.lastError && { lastError: this.lastError }),
    };
  }
}
