/**
 * The client-facing side: an HTTP/2 server (h2c, or TLS with ALPN h2 and optional mTLS) whose
 * every stream becomes a {@link ProxiedCall}. HTTP/2 framing, HPACK and flow control are Node's
 * (nghttp2), which also rejects what RFC 9113 calls malformed; on top the listener bounds what a
 * client may hold: streams per connection, header size, session memory, and time without a
 * stream (slowloris).
 */
import http2, {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type SecureServerOptions,
  type ServerHttp2Stream,
  type ServerOptions,
} from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { exactHeaders, trailersOnly, GrpcStatus } from './grpc-status.js';
import type { ListenerLimits, ListenerTls } from './proxy-config.js';
import { ProxiedCall, type CallStats } from './proxied-call.js';
import { serviceOf, type Router } from './router.js';

/** Per-connection bookkeeping for the idle and first-stream timeouts. */
interface SessionState {
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

/** The listening HTTP/2 server and the connections it holds. */
export class ProxyListener {
  /** Call counters for the admin view. */
  readonly stats: CallStats = { started: 0, completed: 0, proxyErrors: 0, retries: 0 };
  private readonly server: Http2Server | Http2SecureServer;
  /** For h2c: the TCP server that checks the connection preface before HTTP/2 sees the socket. */
  private readonly tcp: TcpServer | null = null;
  private readonly sessions = new Map<Http2Session, SessionState>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly options: ListenerOptions) {
    const limits = options.limits;
    const common: ServerOptions = {
      settings: {
        enablePush: false,
        maxConcurrentStreams: limits.maxConcurrentStreams,
        initialWindowSize: limits.streamWindowBytes,
        maxHeaderListSize: limits.maxHeaderListSize,
      },
      maxSessionMemory: limits.maxSessionMemoryMb,
      // Streams the peer made us reset (e.g. past maxConcurrentStreams) before the connection is
      // torn down with ENHANCE_YOUR_CALM; Node's default is 100.
      maxSessionRejectedStreams: 100,
      unknownProtocolTimeout: limits.firstStreamTimeoutMs,
    };
    const tls = options.tls;
    if (tls) {
      const secure: SecureServerOptions = {
        ...common,
        cert: tls.cert,
        key: tls.key,
        ALPNProtocols: ['h2'],
        allowHTTP1: false,
        ...(tls.clientCa && { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
      };
      this.server = http2.createSecureServer(secure);
    } else {
      this.server = http2.createServer(common);
      this.tcp = createTcpServer({ noDelay: true }, (socket) => this.checkPreface(socket));
    }
    this.server.on('session', (session) => this.onSession(session));
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
      if (headerListSize(raw) > limits.maxHeaderListSize) this.refuseHeaders(stream, headerListSize(raw));
      else this.onStream(stream, exactHeaders(headers, raw));
    });
    // Errors of one connection (a reset, a protocol violation) must never reach the process.
    this.server.on('sessionError', noop);
    this.server.on('tlsClientError', noop);
  }

  /** Binds and resolves with the bound port. */
  listen(): Promise<number> {
    const server = this.tcp ?? this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host || undefined, () => {
        server.off('error', reject);
        server.on('error', (error) => this.options.log(`listener error: ${error.message}`));
        resolve((server.address() as AddressInfo).port);
      });
      const period = Math.max(50, Math.min(this.options.limits.idleTimeoutMs, this.options.limits.firstStreamTimeoutMs) / 4);
      this.sweepTimer = setInterval(() => this.sweep(), period);
      this.sweepTimer.unref();
    });
  }

  /** Connections open now. */
  get connections(): number {
    return this.sessions.size;
  }

  /**
   * Stops accepting; tells every client GOAWAY so it sends new calls elsewhere, lets calls in
   * flight finish for up to `graceMs`, then closes whatever is left.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    const closed = new Promise<void>((resolve) => (this.tcp ?? this.server).close(() => resolve()));
    for (const session of this.sessions.keys()) session.close();
    const timer = setTimeout(() => {
      for (const session of this.sessions.keys()) session.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }

  /**
   * "The client connection preface starts with a sequence of 24 octets ... PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n
   * ... Clients and servers MUST treat an invalid connection preface as a connection error of type
   * PROTOCOL_ERROR" - RFC 9113 §3.4. nghttp2 would answer INTERNAL_ERROR; checking the 24 bytes
   * here (once per connection) gives HTTP/1.1 clients and garbage the right code, with a reason.
   */
  private checkPreface(socket: Socket): void {
    socket.on('error', noop);
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.options.limits.firstStreamTimeoutMs);
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const n = Math.min(received.length, PREFACE.length);
      if (received.compare(PREFACE, 0, n, 0, n) !== 0) {
        clearTimeout(timer);
        socket.off('data', onData);
        const http1 = /^[A-Z]+ \S+ HTTP\/1\.[01]\r?\n/.test(received.toString('latin1', 0, Math.min(received.length, 256)));
        const reason = http1 ? 'HTTP/1.x request: this is a gRPC (HTTP/2) proxy' : 'invalid HTTP/2 connection preface';
        socket.end(goawayFrame(constants.NGHTTP2_PROTOCOL_ERROR, reason));
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      if (received.length < PREFACE.length) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(received);
      if (this.closing) socket.destroy();
      else this.server.emit('connection', socket);
    };
    socket.on('data', onData);
  }

  private onSession(session: Http2Session): void {
    if (this.closing) {
      session.destroy();
      return;
    }
    const state: SessionState = { open: 0, idleSince: performance.now(), used: false };
    this.sessions.set(session, state);
    session.on('error', noop);
    session.on('close', () => this.sessions.delete(session));
    session.on('stream', (stream: ServerHttp2Stream) => {
      state.open++;
      state.used = true;
      stream.once('close', () => {
        if (--state.open === 0) state.idleSince = performance.now();
      });
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    try {
      const path = headers[':path'];
      const contentType = headers['content-type'];
      if (headers[':method'] !== 'POST' || typeof path !== 'string' || typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
        // "If Content-Type does not begin with "application/grpc", gRPC servers SHOULD respond
        // with HTTP status of 415 (Unsupported Media Type)" - PROTOCOL-HTTP2.md.
        stream.on('error', noop);
        stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: true });
        return;
      }
      const cluster = this.options.router().route(path);
      if (cluster === null) {
        stream.on('error', noop);
        stream.respond(trailersOnly(GrpcStatus.UNIMPLEMENTED, `grpc-ha proxy: no route for service ${serviceOf(path)}`), { endStream: true });
        this.stats.proxyErrors++;
        return;
      }
      new ProxiedCall(stream, headers, cluster, this.stats).start();
    } catch (error) {
      this.options.log(`call failed in the proxy: ${(error as Error).stack ?? String(error)}`);
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  /**
   * Node advertises SETTINGS_MAX_HEADER_LIST_SIZE but does not enforce it, so the listener does:
   * "A server that receives a larger header section than it is willing to handle can send an
   * HTTP 431 (Request Header Fields Too Large) status code" - RFC 9113 §10.5.1. A gRPC client
   * understands a status better than an HTTP code: RESOURCE_EXHAUSTED in a Trailers-Only response.
   */
  private refuseHeaders(stream: ServerHttp2Stream, size: number): void {
    this.stats.proxyErrors++;
    stream.on('error', noop);
    stream.respond(
      trailersOnly(GrpcStatus.RESOURCE_EXHAUSTED, `grpc-ha proxy: request headers of ${size} bytes exceed maxHeaderListSize ${this.options.limits.maxHeaderListSize}`),
      { endStream: true },
    );
    // Do not read a body we will not forward.
    stream.close(constants.NGHTTP2_NO_ERROR);
  }

  /** Closes connections that opened no stream in time (slowloris) or sat idle too long. */
  private sweep(): void {
    const now = performance.now();
    const { idleTimeoutMs, firstStreamTimeoutMs } = this.options.limits;
    for (const [session, state] of this.sessions) {
      if (state.open > 0) continue;
      const idle = now - state.idleSince;
      if (!state.used && idle >= firstStreamTimeoutMs) {
        // No complete request in time: drop it outright, it holds a socket and nothing else.
        session.destroy();
      } else if (idle >= idleTimeoutMs) {
        // "GOAWAY ... NO_ERROR ... graceful shutdown of a connection" - RFC 9113 §6.8.
        session.close();
        const s = session;
        setTimeout(() => s.destroy(), 1000).unref();
      }
    }
  }
}

function noop(): void {}

/** "The size of a field list is calculated based on the uncompressed size of fields, including the length of the name and value in octets plus an overhead of 32 octets for each field" - RFC 9113 §6.5.2. */
function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += raw[i]!.length;
  return size + 16 * raw.length;
}

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A GOAWAY frame (RFC 9113 §6.8) with last-stream-id 0, `code`, and `reason` as debug data. */
function goawayFrame(code: number, reason: string): Buffer {
  const debug = Buffer.from(reason, 'utf8');
  const frame = Buffer.alloc(9 + 8 + debug.length);
  frame.writeUIntBE(8 + debug.length, 0, 3);
  frame[3] = 0x7; // GOAWAY
  frame.writeUInt32BE(0, 9);
  frame.writeUInt32BE(code, 13);
  debug.copy(frame, 17);
  return frame;
}
