/**
 * A controllable Echo backend for tests, the demo and benchmarks: injectable latency, failures
 * and health status, plus per-method call counts, all changeable while it runs.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { drainSignal, type CallEndReason } from '../server/call-tracker.js';
import { addHealthService } from '../server/health-service.js';
import {
  ECHO_SERVICE_NAME,
  echoServiceDefinition,
  type EchoHandlers,
  type EchoMethodName,
  type EchoReply,
} from './echo-service.js';

/** An injected failure: each call fails with probability `rate`, ending with status `code`. */
export interface FailureSpec {
  /** gRPC status code (1..16) the failing call ends with. */
  code: grpc.status;
  /** Probability in [0, 1] that a call fails; 1 fails every call. */
  rate: number;
  /** Status details; defaults to one naming the code and the server id. */
  message?: string;
}

/** Options of {@link startExampleServer}; every field is optional. */
export interface ExampleServerOptions {
  /** server_id put in every reply; defaults to the bound address `127.0.0.1:PORT`. */
  id?: string;
  /** Interface to bind; default '127.0.0.1'. */
  host?: string;
  /** Port to bind; default 0 (an ephemeral port, read it from the handle). */
  port?: number;
  /** Delay before each unary reply and each streamed reply; default 0. */
  latencyMs?: number;
  /** Extra delay per reply drawn uniformly from [0, latencyJitterMs) (a slow backend's spread); default 0. */
  latencyJitterMs?: number;
  /** Injected failure, decided once per call; default none. */
  failure?: FailureSpec | null;
  /** Initial health status (SERVING or NOT_SERVING); default true. */
  serving?: boolean;
  /** Source of uniform [0, 1) numbers for the failure draw, so tests can be deterministic. */
  random?: () => number;
  /** Whether to serve grpc.health.v1.Health; default true. */
  health?: boolean;
  /** Passed to the grpc-js Server, e.g. to raise message size limits for big payloads. */
  serverOptions?: grpc.ServerOptions;
  /**
   * Streams ignore drainSignal, as handlers written without it do: under serve() they then end
   * only when the drain's grace (or the stream-age grace) is over. Default false: a stream told to
   * end sends one last reply, "<message>:end:<drain|max-age>", and ends with the UNAVAILABLE status.
   */
  ignoreDrain?: boolean;
}

/** Live counters of Echo calls received (health checks are not counted). */
export interface ExampleServerStats {
  /** Echo calls started, failed or not. */
  calls: number;
  /** Calls that ended with the injected failure. */
  failures: number;
  /** Calls started, per method. */
  byMethod: Record<EchoMethodName, number>;
}

/** A running example server and its controls. */
export interface ExampleServer {
  /** The bound port. */
  readonly port: number;
  /** `host:port` to dial, e.g. '127.0.0.1:40123'. */
  readonly address: string;
  /** The server_id this server puts in replies. */
  readonly id: string;
  /** The underlying grpc-js server, for adding services. */
  readonly server: grpc.Server;
  /** Live call counters (mutated in place). */
  readonly stats: ExampleServerStats;
  /** Changes the per-reply latency for calls and replies from now on. */
  setLatency(ms: number): void;
  /** Changes (or with null, removes) the injected failure for calls started from now on. */
  setFailure(failure: FailureSpec | null): void;
  /** Sets the health status of '' and of the Echo service to SERVING or NOT_SERVING. */
  setServing(serving: boolean): void;
  /** Shuts down gracefully, forcing after `graceMs` (default 1000); safe to call repeatedly. */
  stop(graceMs?: number): Promise<void>;
}

const DEFAULT_GRACE_MS = 1000;
const SERVER_ID_TRAILER = 'x-server-id';
const EMPTY = Buffer.alloc(0);

/** Starts an Echo server (plus grpc.health.v1 unless disabled) and resolves once it is bound. */
export async function startExampleServer(options: ExampleServerOptions = {}): Promise<ExampleServer> {
  const host = options.host ?? '127.0.0.1';
  checkPort(options.port ?? 0);
  const echo = createEchoService(options);
  const server = new grpc.Server(options.serverOptions);
  server.addService(echoServiceDefinition, echo.implementation);
  const health = options.health === false ? undefined : addHealthService(server, { services: [ECHO_SERVICE_NAME], serving: options.serving ?? true });

  const port = await bind(server, host, options.port ?? 0);
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (options.id === undefined) echo.setId(address);

  let stopping: Promise<void> | undefined;
  return {
    port,
    address,
    id: echo.id(),
    server,
    stats: echo.stats,
    setLatency: echo.setLatency,
    setFailure: echo.setFailure,
    setServing: (serving) => (serving ? health?.setServing() : health?.setNotServing()),
    stop: (graceMs = DEFAULT_GRACE_MS) => {
      stopping ??= shutdown(server, graceMs);
      return stopping;
    },
  };
}

/** The Echo service with its fault controls, for mounting on any server (e.g. grpc-ha's `serve`). */
export interface EchoService {
  /** Handlers, for `server.addService(echoServiceDefinition, implementation)`. */
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Live call counters. */
  readonly stats: ExampleServerStats;
  /** The server_id replies carry. */
  id(): string;
  /** Changes the server_id replies carry. */
  setId(id: string): void;
  /** Changes the per-reply latency. */
  setLatency(ms: number): void;
  /** Changes (or with null, removes) the injected failure. */
  setFailure(failure: FailureSpec | null): void;
}

/** Builds the Echo handlers and their controls (latency, failure, id) without a server. */
export function createEchoService(options: Pick<ExampleServerOptions, 'id' | 'latencyMs' | 'latencyJitterMs' | 'failure' | 'random' | 'ignoreDrain'> = {}): EchoService {
  const jitterMs = checkLatency(options.latencyJitterMs ?? 0, 'latencyJitterMs');
  const state = {
    latencyMs: checkLatency(options.latencyMs ?? 0),
    failure: checkFailure(options.failure ?? null),
    id: options.id ?? '',
  };
  const random = options.random ?? Math.random;
  const stats: ExampleServerStats = {
    calls: 0,
    failures: 0,
    byMethod: { unary: 0, serverStream: 0, clientStream: 0, bidiStream: 0 },
  };
  const implementation = createHandlers({
    ignoreDrain: options.ignoreDrain ?? false,
    id: () => state.id,
    // The jitter draws from Math.random, not `random`: that one maps 1:1 to failure draws.
    latencyMs: () => (jitterMs > 0 ? state.latencyMs + Math.random() * jitterMs : state.latencyMs),
    begin: (method) => {
      stats.calls++;
      stats.byMethod[method]++;
      const failure = state.failure;
      // Only draw for fractional rates so an injected random sequence maps 1:1 to those calls.
      if (failure === null || failure.rate <= 0 || (failure.rate < 1 && random() >= failure.rate)) return null;
      stats.failures++;
      return failure;
    },
  }) as unknown as grpc.UntypedServiceImplementation;
  return {
    implementation,
    stats,
    id: () => state.id,
    setId: (id) => {
      state.id = id;
    },
    setLatency: (ms) => {
      state.latencyMs = checkLatency(ms);
    },
    setFailure: (failure) => {
      state.failure = checkFailure(failure);
    },
  };
}

interface HandlerContext {
  readonly ignoreDrain: boolean;
  id(): string;
  latencyMs(): number;
  /** Counts a call and decides whether it fails. */
  begin(method: EchoMethodName): FailureSpec | null;
}

function createHandlers(ctx: HandlerContext): EchoHandlers {
  const reply = (message: string, payload: Buffer): EchoReply => ({ message, serverId: ctx.id(), payload });
  const toError = (failure: FailureSpec): Partial<grpc.StatusObject> => {
    const metadata = new grpc.Metadata();
    metadata.set(SERVER_ID_TRAILER, ctx.id());
    return { code: failure.code, details: failure.message ?? `injected failure (code ${failure.code}) from ${ctx.id()}`, metadata };
  };

  /** The stream's answer to drainSignal (see ExampleServerOptions.ignoreDrain): stop, say why, end with its status. */
  const endOnDrain = (call: { write(reply: EchoReply): boolean; emit(event: string, ...args: unknown[]): boolean }, timers: CallTimers, last: (why: string) => EchoReply) => {
    if (ctx.ignoreDrain) return;
    const signal = drainSignal(call);
    signal.addEventListener('abort', () => {
      if (timers.cancelled) return;
      timers.cancel();
      const reason = signal.reason as CallEndReason;
      call.write(last(reason.why));
      call.emit('error', reason);
    });
  };

  return {
    unary: (call, callback) => {
      const failure = ctx.begin('unary');
      const timers = callTimers(call);
      timers.after(ctx.latencyMs(), () => {
        if (failure) callback(toError(failure));
        else callback(null, reply(call.request.message, call.request.payload));
      });
    },

    serverStream: (call) => {
      const failure = ctx.begin('serverStream');
      const timers = callTimers(call);
      if (failure) {
        timers.after(ctx.latencyMs(), () => call.emit('error', toError(failure)));
        return;
      }
      const { message, count } = call.request;
      let sent = 0;
      endOnDrain(call, timers, (why) => reply(`${message}:end:${why}`, EMPTY));
      // A loop rather than recursion so zero latency with a large count cannot overflow the stack;
      // a full write buffer pauses it until 'drain'.
      const pump = (): void => {
        while (!timers.cancelled) {
          if (sent >= count) {
            call.end();
            return;
          }
          const ms = ctx.latencyMs();
          if (ms > 0) {
            timers.after(ms, () => send() && pump());
            return;
          }
          if (!send()) return;
        }
      };
      const send = (): boolean => {
        const flowing = call.write(reply(`${message}:${sent}`, EMPTY));
        sent++;
        if (!flowing) call.once('drain', pump);
        return flowing;
      };
      pump();
    },

    clientStream: (call, callback) => {
      const failure = ctx.begin('clientStream');
      const timers = callTimers(call);
      if (failure) {
        timers.after(ctx.latencyMs(), () => callback(toError(failure)));
        return;
      }
      const parts: string[] = [];
      call.on('data', (request: { message: string }) => parts.push(request.message));
      call.on('end', () => timers.after(ctx.latencyMs(), () => callback(null, reply(parts.join(''), EMPTY))));
    },

    bidiStream: (call) => {
      const failure = ctx.begin('bidiStream');
      const timers = callTimers(call);
      if (failure) {
        timers.after(ctx.latencyMs(), () => call.emit('error', toError(failure)));
        return;
      }
      // Replies leave in request order, each no earlier than latencyMs after its request arrived;
      // one FIFO and one timer, because separate timers may fire out of order.
      const queue: { due: number; reply: EchoReply }[] = [];
      let halfClosed = false;
      endOnDrain(call, timers, (why) => reply(`end:${why}`, EMPTY));
      const flush = (): void => {
        const now = performance.now();
        while (queue.length > 0 && queue[0]!.due <= now) call.write(queue.shift()!.reply);
        if (queue.length > 0) timers.after(queue[0]!.due - now, flush);
        else if (halfClosed) call.end();
      };
      call.on('data', (request: { message: string; payload: Buffer }) => {
        const ms = ctx.latencyMs();
        queue.push({ due: performance.now() + ms, reply: reply(request.message, request.payload) });
        if (queue.length === 1) timers.after(ms, flush);
      });
      call.on('end', () => {
        halfClosed = true;
        if (queue.length === 0) call.end();
      });
    },
  };
}

/** Per-call timers that are all cleared when the call is cancelled (client gone or forced shutdown) or ended early. */
function callTimers(call: { once(event: 'cancelled', listener: () => void): unknown }) {
  const pending = new Set<NodeJS.Timeout>();
  let cancelled = false;
  const cancel = () => {
    cancelled = true;
    for (const timer of pending) clearTimeout(timer);
    pending.clear();
  };
  call.once('cancelled', cancel);
  const after = (ms: number, fn: () => void): void => {
    if (cancelled) return;
    if (ms <= 0) {
      fn();
      return;
    }
    const dueAt = performance.now() + ms;
    const timer = setTimeout(() => {
      pending.delete(timer);
      // setTimeout measures from the cached loop time and can fire a fraction early; callers
      // rely on "at least ms", so wait out any remainder.
      after(dueAt - performance.now(), fn);
    }, ms);
    pending.add(timer);
  };
  return {
    after,
    cancel,
    get cancelled() {
      return cancelled;
    },
  };
}

type CallTimers = ReturnType<typeof callTimers>;

function bind(server: grpc.Server, host: string, port: number): Promise<number> {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) {
        server.forceShutdown();
        reject(new Error(`example server cannot bind ${target}: ${error.message}`, { cause: error }));
      } else {
        resolve(boundPort);
      }
    });
  });
}

function shutdown(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, Math.max(0, graceMs));
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

function checkLatency(ms: number, field = 'latencyMs'): number {
  if (!Number.isFinite(ms) || ms < 0) invalid(`${field} must be a finite number >= 0, got ${ms}`);
  return ms;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) invalid(`port must be an integer in 0..65535, got ${port}`);
}

function checkFailure(failure: FailureSpec | null): FailureSpec | null {
  if (failure === null) return null;
  if (!Number.isInteger(failure.code) || failure.code < 1 || failure.code > 16) {
    invalid(`failure.code must be a gRPC error status 1..16, got ${failure.code}`);
  }
  if (!(failure.rate >= 0 && failure.rate <= 1)) invalid(`failure.rate must be in [0, 1], got ${failure.rate}`);
  return { ...failure };
}

function invalid(message: string): never {
  throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `example server: ${message}`);
}
