/**
 * Active health checking of one backend over the backend's own connection (so a check proves the
 * very connection calls use), in one of two modes:
 * - `watch` (the default, as grpc-js and gRFC A17 do): one long-lived grpc.health.v1.Health/Watch
 *   stream; every message the backend sends is its current status, applied at once. When the
 *   stream ends it is opened again after `intervalMs`.
 * - `check`: grpc.health.v1.Health/Check every `intervalMs`, with a deadline of `timeoutMs`;
 *   `unhealthyThreshold`/`healthyThreshold` consecutive results flip the state (Envoy's model).
 * The two messages are tiny, so they are encoded by hand rather than through a proto loader.
 */

import { Status, statusName } from '../core/status.js';
import { decodeGrpcMessage } from './grpc-status.js';
import { ErrorCode, errorCodeName } from './h2/frame.js';
import type { H2Connection } from './h2/connection.js';
import type { H2Stream, ResetKind, StreamHandler } from './h2/stream.js';
import { fieldValue } from './header-fields.js';
import type { ActiveHealthCheckConfig } from './proxy-config.js';
import type { Upstream } from './upstream.js';

const CHECK_PATH = '/grpc.health.v1.Health/Check';
const WATCH_PATH = '/grpc.health.v1.Health/Watch';
/** `HealthCheckResponse.ServingStatus.SERVING` (grpc/health/v1/health.proto). */
const SERVING = 1;

/** Runs checks for one upstream and reports flips. */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: H2Stream | undefined;
  private passes = 0;
  private failures = 0;
  private running = false;
  /** Bumped on every start/stop so events of an old stream are ignored. */
  private generation = 0;

  constructor(
    private readonly upstream: Upstream,
    private readonly config: ActiveHealthCheckConfig,
    private readonly report: (serving: boolean, reason: string) => void,
  ) {}

  /** Checks now (or opens the Watch stream), until `stop()`. */
  start(): void {
    this.stop();
    this.running = true;
    // A fresh connection starts from "unknown": one passing check makes it usable.
    this.passes = this.config.healthyThreshold - 1;
    this.failures = 0;
    this.run();
  }

  /** Stops checking (the connection went away or the backend was removed). */
  stop(): void {
    this.running = false;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight?.reset(ErrorCode.CANCEL);
    this.inFlight = undefined;
  }

  /** The connection the check's stream is on, if one is (its upstream moves the check when it retires that connection). */
  get connection(): H2Connection | undefined {
    return this.inFlight?.connection;
  }

  private run(): void {
    if (!this.running) return;
    const watch = this.config.mode === 'watch';
    const generation = this.generation;
    const chunks: Buffer[] = [];
    let buffered = 0;
    let done = false;
    const timing: { deadline?: NodeJS.Timeout } = {};
    const current = (): boolean => generation === this.generation && this.running;
    /** The stream ended; schedule the next check or the next Watch. */
    const end = (serving: boolean | null, reason: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timing.deadline);
      if (!current()) return;
      this.inFlight = undefined;
      if (serving !== null) this.record(serving, reason, !watch);
      this.timer = setTimeout(() => this.run(), this.config.intervalMs);
      this.timer.unref();
    };
    const onStatus = (fields: readonly string[]): void => {
      const raw = fieldValue(fields, 'grpc-status');
      const status = Number(raw);
      if (status === Status.OK) {
        // Check: the answer; Watch: the server ended the stream, which says nothing about health.
        if (watch) end(null, '');
        else {
          const value = servingStatus(Buffer.concat(chunks));
          end(value === SERVING, `health check says ${servingStatusName(value)}`);
        }
      } else if (status === Status.UNIMPLEMENTED) {
        // "If the server does not support the health-checking service ... the client should
        // consider the backend healthy" (gRFC A17, with a log). Same here.
        end(true, 'health service not implemented');
      } else {
        end(false, `health check failed with ${raw === undefined ? 'no grpc-status' : statusName(status)}: ${decodeGrpcMessage(fieldValue(fields, 'grpc-message') ?? '')}`);
      }
    };
    const handler: StreamHandler = {
      onHeaders: (_stream, fields, endStream) => {
        if (endStream) onStatus(fields);
      },
      onData: (stream, data) => {
        stream.consume(data.length);
        if (!current()) return;
        chunks.push(data);
        buffered += data.length;
        if (!watch) return;
        // Watch: each complete length-prefixed message is a status update.
        let all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered);
        while (all.length >= 5 && all.length >= 5 + all.readUInt32BE(1)) {
          const size = 5 + all.readUInt32BE(1);
          const value = servingStatus(all.subarray(0, size));
          clearTimeout(timing.deadline);
          this.record(value === SERVING, `health watch says ${servingStatusName(value)}`, false);
          all = all.subarray(size);
        }
        chunks.length = 0;
        buffered = all.length;
        if (buffered > 0) chunks.push(all);
      },
      onReset: (_stream, code: number, kind: ResetKind) => {
        // A connection lost says nothing of health: the upstream either moves the check to
        // another connection or, with none left, takes the backend out itself.
        if (kind === 'connection') end(null, '');
        else end(false, `health check stream reset with ${errorCodeName(code)}`);
      },
      onSent: () => {},
    };
    const fields = [
      ':method', 'POST',
      ':scheme', this.upstream.scheme,
      ':path', watch ? WATCH_PATH : CHECK_PATH,
      ':authority', this.upstream.address,
      'content-type', 'application/grpc',
      'te', 'trailers',
    ];
    if (!watch) fields.push('grpc-timeout', `${this.config.timeoutMs}m`);
    const stream = this.upstream.request(fields, handler);
    if (stream === null) {
      end(false, 'health check could not start: the backend is not connected');
      return;
    }
    this.inFlight = stream;
    // Check: the deadline of the call; Watch: the first status must come within it too.
    timing.deadline = setTimeout(() => {
      stream.reset(ErrorCode.CANCEL);
      end(false, `health check timed out after ${this.config.timeoutMs} ms`);
    }, this.config.timeoutMs);
    stream.sendData(encodeRequest(this.config.service), true);
  }

  private record(serving: boolean, reason: string, thresholds: boolean): void {
    if (!thresholds) {
      this.report(serving, reason);
      return;
    }
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
function encodeRequest(service: string): Buffer {
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

/** The name of a `HealthCheckResponse.ServingStatus`. */
function servingStatusName(value: number): string {
  return ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][value] ?? `status ${value}`;
}
