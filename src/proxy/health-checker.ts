/**
 * Active health checking of one backend with grpc.health.v1.Health/Check, sent every
 * `intervalMs` over the backend's own connection (so a check proves the very connection calls
 * use). The two messages are tiny, so they are encoded by hand rather than through a proto loader.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { GrpcStatus } from './grpc-status.js';
import type { HealthCheckConfig } from './proxy-config.js';
import type { Upstream } from './upstream.js';

const CHECK_PATH = '/grpc.health.v1.Health/Check';
/** `HealthCheckResponse.ServingStatus.SERVING` (grpc/health/v1/health.proto). */
const SERVING = 1;

/** Runs periodic checks for one upstream and reports flips past the configured thresholds. */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: ClientHttp2Stream | undefined;
  private passes = 0;
  private failures = 0;
  private running = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly config: HealthCheckConfig,
    private readonly report: (serving: boolean, reason: string) => void,
  ) {}

  /** Checks now, then every interval, until `stop()`. */
  start(): void {
    this.stop();
    this.running = true;
    // A fresh connection starts from "unknown": one passing check makes it usable.
    this.passes = this.config.healthyThreshold - 1;
    this.failures = 0;
    this.check();
  }

  /** Stops checking (the connection went away or the backend was removed). */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight?.close();
    this.inFlight = undefined;
  }

  private check(): void {
    const session = this.upstream.session;
    if (!this.running || !session || session.closed || session.destroyed) return;
    let done = false;
    const finish = (serving: boolean, reason: string): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      this.inFlight = undefined;
      this.record(serving, reason);
      if (this.running) {
        this.timer = setTimeout(() => this.check(), this.config.intervalMs);
        this.timer.unref();
      }
    };
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': CHECK_PATH,
        ':scheme': this.upstream.scheme,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${this.config.timeoutMs}m`,
      });
    } catch (error) {
      finish(false, `health check could not start: ${(error as Error).message}`);
      return;
    }
    this.inFlight = stream;
    const deadline = setTimeout(() => {
      stream.close();
      finish(false, `health check timed out after ${this.config.timeoutMs} ms`);
    }, this.config.timeoutMs);
    const chunks: Buffer[] = [];
    const onStatus = (headers: IncomingHttpHeaders): void => {
      const status = Number(headers['grpc-status']);
      if (status === GrpcStatus.OK) {
        const value = servingStatus(Buffer.concat(chunks));
        finish(value === SERVING, `health check says ${statusName(value)}`);
      } else if (status === GrpcStatus.UNIMPLEMENTED) {
        // "If the server does not support the health-checking service ... the client should
        // consider the backend healthy" (gRFC A17, with a log). Same here.
        finish(true, 'health service not implemented');
      } else {
        finish(false, `health check failed with grpc-status ${headers['grpc-status']}: ${decodeURIComponent(String(headers['grpc-message'] ?? ''))}`);
      }
    };
    stream.on('response', (headers, flags) => {
      if (flags & 1 /* END_STREAM: Trailers-Only */) onStatus(headers);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('trailers', onStatus);
    stream.on('error', () => {});
    stream.on('close', () => finish(false, `health check stream closed (${stream.rstCode ?? 'no code'})`));
    stream.end(encodeCheckRequest(this.config.service));
  }

  private record(serving: boolean, reason: string): void {
    if (serving) {
      this.failures = 0;
      if (++this.passes >= this.config.healthyThreshold) this.report(true, reason);
    } else {
      this.passes = 0;
      if (++this.failures >= this.config.unhealthyThreshold) this.report(false, reason);
    }
  }
}

/** A length-prefixed `HealthCheckRequest { string service = 1; }`. */
function encodeCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** Reads `status` (field 1, varint) from a length-prefixed HealthCheckResponse; 0 (UNKNOWN) when absent. */
function servingStatus(frame: Buffer): number {
  let i = 5;
  while (i < frame.length) {
    const tag = frame[i++]!;
    if (tag === 0x08) {
      let value = 0;
      let shift = 0;
      while (i < frame.length) {
        const b = frame[i++]!;
        value |= (b & 0x7f) << shift;
        if (b < 0x80) return value;
        shift += 7;
      }
      return 0;
    }
    return 0; // HealthCheckResponse has one field; anything else is not a status.
  }
  return 0;
}

function statusName(value: number): string {
  return ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][value] ?? `status ${value}`;
}
