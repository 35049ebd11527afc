/**
 * The client-facing side: a TCP server (h2c) or TLS server (ALPN h2, optional mTLS) whose
 * connections run the proxy's own HTTP/2 engine ({@link H2Connection}), and whose every stream
 * becomes a {@link ProxiedCall}. On top of what the engine enforces (RFC 9113 framing, flow
 * control, floods) the listener bounds what a client may hold: streams per connection, header
 * size, and time without a stream (slowloris) or idle.
 */
import { Status } from '../core/status.js';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tlsModule } from './tls-module.js';
import { trailersOnly } from './grpc-status.js';
import { H2Connection } from './h2/connection.js';
import { ErrorCode, MAX_WINDOW, rstStreamFrame } from './h2/frame.js';
import type { H2Stream } from './h2/stream.js';
import type { ListenerLimits, ListenerTls } from './proxy-config.js';
import { fieldValue } from './header-fields.js';
import { ProxiedCall, type CallCounters } from './proxied-call.js';
import { serviceOf, type Router } from './router.js';

/** Per-connection bookkeeping for the idle and first-stream timeouts. */
interface ConnectionState {
  open: number;
  /** performance.now() when the connection last had no stream open. */
  idleSince: number;
  /** Whether any stream was ever opened (else the first-stream timeout applies). */
  used: boolean;
}

/** What the listener needs from the proxy. */
export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: ListenerTls | null;
  readonly limits: ListenerLimits;
  /** The current route table (a reload swaps it; calls in flight keep theirs). */
  readonly router: () => Router;
  readonly log: (message: string) => void;
}

const UNSUPPORTED_MEDIA_TYPE = [':status', '415', 'content-type', 'text/plain'];

/**
 * The listening server and the connections it holds. It binds its own address (`listen()`), or,
 * on a worker of a proxy on workers, takes connections the primary accepted (`adopt()`).
 */
export class ProxyListener {
  /** Call counters for the admin view. */
  readonly counters: CallCounters = { started: 0, completed: 0, proxyErrors: 0, retries: 0 };
  private readonly server: TcpServer;
  private readonly connectionStates = new Map<H2Connection, ConnectionState>();
  private readonly sweepTimer: NodeJS.Timeout;
  /** TLS sockets accepted and still in their handshake, by remote address and port: when, and the timer that drops them. */
  private readonly handshakes = new Map<string, { readonly acceptedAt: number; readonly timer: NodeJS.Timeout }>();
  private closing = false;
  /** Resolves the graceful close once the last connection is gone. */
  private onEmpty: (() => void) | undefined;

  constructor(private readonly options: ListenerOptions) {
    const tls = options.tls;
    if (tls) {
      const server = tlsModule().createServer(
        {
          cert: tls.cert,
          key: tls.key,
          ALPNProtocols: ['h2'],
          // Node's own handshake timeout restarts with every byte received: the absolute one is ours (below).
          handshakeTimeout: 0,
          ...(tls.clientCa && { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
        },
        (socket: TLSSocket) => {
          const key = `${socket.remoteAddress}|${socket.remotePort}`;
          const handshake = this.handshakes.get(key);
          clearTimeout(handshake?.timer);
          this.handshakes.delete(key);
          // "Implementations of HTTP/2 MUST use TLS version 1.2 or higher ... [and] the "h2" protocol identifier" - RFC 9113 §3.2/§9.2.
          if (socket.alpnProtocol !== 'h2') socket.destroy();
          else this.onConnection(socket, handshake?.acceptedAt ?? performance.now());
        },
      );
      // The raw socket, before its handshake: dropped unless the handshake ends in time, whatever
      // trickles in meanwhile (a TLS slowloris holds a descriptor and handshake state each).
      server.on('connection', (raw: Socket) => {
        const key = `${raw.remoteAddress}|${raw.remotePort}`;
        const timeout = Math.min(options.limits.handshakeTimeoutMs, options.limits.firstStreamTimeoutMs);
        const timer = setTimeout(() => {
          this.handshakes.delete(key);
          raw.destroy();
        }, timeout);
        this.handshakes.set(key, { acceptedAt: performance.now(), timer });
        raw.once('close', () => {
          const handshake = this.handshakes.get(key);
          if (handshake?.timer === timer) {
            clearTimeout(timer);
            this.handshakes.delete(key);
          }
        });
      });
      server.on('tlsClientError', noop);
      this.server = server;
    } else {
      this.server = createTcpServer({ noDelay: true }, (socket) => this.onConnection(socket, performance.now()));
    }
    const limits = options.limits;
    const period = Math.max(50, Math.min(limits.idleTimeoutMs, limits.firstStreamTimeoutMs) / 4);
    this.sweepTimer = setInterval(() => this.sweep(), period);
    this.sweepTimer.unref();
  }

  /** Binds and resolves with the bound port. */
  listen(): Promise<number> {
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host || undefined, () => {
        server.off('error', reject);
        server.on('error', (error) => this.options.log(`listener error: ${error.message}`));
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /** Serves a connection accepted elsewhere (the primary of a proxy on workers hands it over). */
  adopt(socket: Socket): void {
    socket.setNoDelay(true);
    // A TLS server wraps it in its handshake, a plain one hands it to onConnection, as for a socket it accepted.
    this.server.emit('connection', socket);
  }

  /** Connections open now. */
  get connections(): number {
    return this.connectionStates.size;
  }

  /**
   * Stops accepting; tells every client GOAWAY so it sends new calls elsewhere, lets calls in
   * flight finish for up to `graceMs`, then closes whatever is left.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    // Adopted connections are not the server's to count: wait for our own table to empty.
    const drained = new Promise<void>((resolve) => {
      if (this.connectionStates.size === 0) resolve();
      else this.onEmpty = resolve;
    });
    const stopped = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const connection of this.connectionStates.keys()) connection.close();
    const timer = setTimeout(() => {
      for (const connection of this.connectionStates.keys()) connection.destroy();
    }, graceMs);
    await Promise.all([stopped, drained]);
    clearTimeout(timer);
  }

  /** A connection ready for HTTP/2 (TLS: its handshake done), accepted at `acceptedAt` (performance.now()). */
  private onConnection(socket: Socket, acceptedAt: number): void {
    socket.on('error', noop);
    if (this.closing) {
      socket.destroy();
      return;
    }
    const limits = this.options.limits;
    // The first-stream timeout runs from the accept, so a slow handshake does not extend it.
    const state: ConnectionState = { open: 0, idleSince: acceptedAt, used: false };
    const connection: H2Connection = new H2Connection(socket, {
      role: 'server',
      streamWindow: limits.streamWindowBytes,
      // Client data is granted back only as it reaches a backend, so this only has to let a few
      // streams' windows be in flight at once; nghttp2 would use the stream window.
      connectionWindow: Math.min(Math.max(limits.streamWindowBytes * 4, 65_535), MAX_WINDOW),
      maxHeaderListSize: limits.maxHeaderListSize,
      maxConcurrentStreams: limits.maxConcurrentStreams,
      // What nghttp2's session memory cap bounded: the bytes a client that does not read can make us hold.
      maxWriteBufferBytes: limits.maxSessionMemoryMb * 1024 * 1024,
      onStream: (stream, fields, _endStream, size) => {
        state.used = true;
        this.onStream(stream, fields, size);
      },
      onStreamCount: (open) => {
        state.open = open;
        if (open === 0) state.idleSince = performance.now();
      },
      onClose: () => {
        this.connectionStates.delete(connection);
        if (this.connectionStates.size === 0) this.onEmpty?.();
      },
      onError: (error) => this.options.log(`client connection closed on an internal error: ${(error as Error).stack ?? String(error)}`),
    });
    this.connectionStates.set(connection, state);
  }

  private onStream(stream: H2Stream, fields: readonly string[], size: number): void {
    try {
      if (size > this.options.limits.maxHeaderListSize) {
        this.refuseHeaders(stream);
        return;
      }
      const path = fieldValue(fields, ':path');
      const contentType = fieldValue(fields, 'content-type');
      if (fieldValue(fields, ':method') !== 'POST' || path === undefined || contentType === undefined || !contentType.startsWith('application/grpc')) {
        // "If Content-Type does not begin with "application/grpc", gRPC servers SHOULD respond
        // with HTTP status of 415 (Unsupported Media Type)" - PROTOCOL-HTTP2.md.
        stream.sendHeaders(UNSUPPORTED_MEDIA_TYPE, true);
        return;
      }
      const cluster = this.options.router().route(path);
      if (cluster === null) {
        stream.sendHeaders(trailersOnly(Status.UNIMPLEMENTED, `grpc-ha proxy: no route for service ${serviceOf(path)}`), true);
        this.counters.proxyErrors++;
        return;
      }
      new ProxiedCall(stream, fields, cluster, this.counters).start();
    } catch (error) {
      this.options.log(`call failed in the proxy: ${(error as Error).stack ?? String(error)}`);
      stream.reset(ErrorCode.INTERNAL_ERROR);
    }
  }

  /**
   * "A server that receives a larger header section than it is willing to handle can send an
   * HTTP 431 (Request Header Fields Too Large) status code" - RFC 9113 §10.5.1. A gRPC client
   * understands a status better than an HTTP code: RESOURCE_EXHAUSTED in a Trailers-Only response.
   */
  private refuseHeaders(stream: H2Stream): void {
    this.counters.proxyErrors++;
    const { id, connection } = stream;
    stream.sendHeaders(
      trailersOnly(Status.RESOURCE_EXHAUSTED, `grpc-ha proxy: request headers exceed maxHeaderListSize ${this.options.limits.maxHeaderListSize} bytes`),
      true,
    );
    // Do not read a body we will not forward: "the server MAY request that the client abort
    // transmission of a request without error by sending a RST_STREAM with an error code of NO_ERROR" - RFC 9113 §8.1.
    if (stream.closed) connection.write(rstStreamFrame(id, ErrorCode.NO_ERROR));
    else stream.reset(ErrorCode.NO_ERROR);
  }

  /** Closes connections that opened no stream in time (slowloris) or sat idle too long. */
  private sweep(): void {
    const now = performance.now();
    const { idleTimeoutMs, firstStreamTimeoutMs } = this.options.limits;
    for (const [connection, state] of this.connectionStates) {
      if (state.open > 0) continue;
      const idle = now - state.idleSince;
      if (!state.used && idle >= firstStreamTimeoutMs) {
        // No complete request in time: drop it outright, it holds a socket and nothing else.
        connection.destroy();
      } else if (idle >= idleTimeoutMs) {
        // "GOAWAY ... NO_ERROR ... graceful shutdown of a connection" - RFC 9113 §6.8.
        connection.close();
      }
    }
  }
}

function noop(): void {}
