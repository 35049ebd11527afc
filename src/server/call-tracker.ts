/**
 * The calls a grpc-ha server has open, so that it can ask them to end and, if they do not, end
 * them with a status clients act on. grpc-js's forceShutdown() destroys the connections with
 * RST_STREAM(CANCEL), which a client reads as `1 CANCELLED` — its own doing — and does not
 * retry or reconnect elsewhere; a call ended here gets `14 UNAVAILABLE` ("the service is
 * currently unavailable ... most likely a transient condition, which can be corrected by
 * retrying", gRPC status codes doc) with details saying the server is shutting down.
 *
 * Each call has an AbortSignal ({@link drainSignal}) that aborts when the server begins to drain
 * or, for a streaming call, when it reaches the maximum stream age: its handler can end the call
 * itself (flush, say goodbye). The age is jittered ±10 % per stream, as grpc-go jitters
 * MaxConnectionAge, so streams opened together are not ended together — the per-stream twin of
 * gRFC A9's MAX_CONNECTION_AGE, which moves connections but never a stream that outlives them.
 */
import { status, type deserialize as deserializeFn, type serialize as serializeFn, type Server, type ServerErrorResponse, type UntypedHandleCall } from '@grpc/grpc-js';

/** Why the server asks a call to end; also the status it ends with if its handler does not end it first. */
export interface CallEndReason extends ServerErrorResponse {
  readonly code: status.UNAVAILABLE;
  readonly details: string;
  /** "drain" (the server is shutting down) or "max-age" (the stream reached maxStreamAgeMs). */
  readonly why: 'drain' | 'max-age';
}

/** Builds the reason, an Error grpc-js turns into the status (`call.emit('error', reason)` sends it). */
export function callEndReason(why: CallEndReason['why'], details: string): CallEndReason {
  return Object.assign(new Error(details), { code: status.UNAVAILABLE as const, details, why });
}

const signals = new WeakMap<object, AbortSignal>();
/** The signal of a call grpc-ha does not serve: nothing will ask it to end. */
const NEVER = new AbortController().signal;

/**
 * The AbortSignal asking this call to end: aborted when the server begins to drain (SIGTERM,
 * `shutdown()`) or when a streaming call reaches `maxStreamAgeMs`. `signal.reason` is a
 * {@link CallEndReason}; `call.emit('error', signal.reason)` ends a stream with it at once.
 * Calls still open when the grace ends are ended with that status by the server. For a call not
 * served by `serve()`, a signal that never aborts.
 */
export function drainSignal(call: object): AbortSignal {
  return signals.get(call) ?? NEVER;
}

type AnyHandler = (call: CallLike, callback?: (...args: unknown[]) => void) => void;
interface CallLike {
  once(event: string, listener: () => void): unknown;
  emit(event: string, ...args: unknown[]): boolean;
}

/** Timing of {@link CallTracker}. */
export interface CallTrackerOptions {
  /** Maximum age of a streaming call before it is asked to end, ms; Infinity for none. */
  readonly maxStreamAgeMs: number;
  /** How long an aged stream has to end itself before it is ended with UNAVAILABLE, ms. */
  readonly maxStreamAgeGraceMs: number;
  /** Uniform [0, 1) numbers for the age jitter. */
  readonly random?: () => number;
}

/** Relative jitter of the maximum stream age, as grpc-go's MaxConnectionAge (±10 %). */
const AGE_JITTER = 0.1;

interface Tracked {
  /** "/pkg.Service/Method". */
  readonly path: string;
  readonly controller: AbortController;
  /** Ends the call with `reason` as its status, unless it has ended. */
  readonly end: (reason: CallEndReason) => void;
  readonly timers: NodeJS.Timeout[];
}

/** The open calls of one server: wraps its handlers, signals them, ends them. */
export class CallTracker {
  private readonly open = new Set<Tracked>();
  private draining: CallEndReason | undefined;

  constructor(private readonly options: CallTrackerOptions) {}

  /** Calls open now. */
  get size(): number {
    return this.open.size;
  }

  /** Wraps the handler of method `path` ("/pkg.Service/Method") so that its calls are tracked, signalled and endable. */
  wrap<H>(path: string, type: string, handler: H): H {
    if (typeof handler !== 'function') return handler;
    // A17 health Watch streams live as long as their connection, and A9's connection age moves
    // them; ending them by age would make clients see their backend as unhealthy for a moment.
    const ages = type !== 'unary' && !isHealthMethod(path);
    const wrapped: AnyHandler = (call, callback) => this.track(path, ages, call, callback, (cb) => (handler as AnyHandler)(call, cb));
    return wrapped as H;
  }

  /** Aborts the signal of every open call, and of each call that starts from now on. Returns how many were open. */
  beginDrain(details: string): number {
    this.draining ??= callEndReason('drain', details);
    for (const t of this.open) if (!t.controller.signal.aborted) t.controller.abort(this.draining);
    return this.open.size;
  }

  /** Ends every open call (of the methods `only` accepts) with UNAVAILABLE and the drain's details. Returns how many. */
  endAll(only: (path: string) => boolean = () => true): number {
    const reason = this.draining ?? callEndReason('drain', 'server shutting down');
    const open = [...this.open].filter((t) => only(t.path));
    for (const t of open) t.end(reason);
    return open.length;
  }

  private track(path: string, ages: boolean, call: CallLike, callback: ((...args: unknown[]) => void) | undefined, run: (cb?: (...args: unknown[]) => void) => void): void {
    const controller = new AbortController();
    signals.set(call, controller.signal);
    let finished = false;
    let ended = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (finished) return;
      finished = true;
      this.open.delete(tracked);
      for (const timer of timers) clearTimeout(timer);
    };
    // Unary and client-streaming calls end when the handler calls back: the first call wins,
    // the server's own end included, and a late one from the handler is dropped (grpc-js would
    // drop it too, after the status).
    const cb = callback && ((...args: unknown[]) => {
      if (finished) return;
      finish();
      callback(...args);
    });
    const tracked: Tracked = {
      path,
      controller,
      timers,
      end: (reason) => {
        if (finished || ended) return;
        ended = true;
        if (cb) cb(reason);
        // grpc-js turns an 'error' on a server stream into its status and ends the stream.
        else call.emit('error', reason);
      },
    };
    call.once('cancelled', finish);
    if (!cb) {
      // A stream is over once its status is written ('finish') or it is torn down ('close').
      call.once('finish', finish);
      call.once('close', finish);
    }
    this.open.add(tracked);
    if (ages) this.startAge(tracked);
    run(cb);
    // Started while draining: abort after the handler ran, so listeners it added hear it.
    if (this.draining) {
      const reason = this.draining;
      setImmediate(() => !finished && !controller.signal.aborted && controller.abort(reason));
    }
  }

  private startAge(tracked: Tracked): void {
    const { maxStreamAgeMs, maxStreamAgeGraceMs } = this.options;
    if (!Number.isFinite(maxStreamAgeMs)) return;
    const random = this.options.random ?? Math.random;
    const age = maxStreamAgeMs * (1 + AGE_JITTER * (2 * random() - 1));
    const reason = callEndReason('max-age', `stream reached the server's maximum stream age (${Math.round(age)} ms); open it again to be balanced onto any instance`);
    const aged = setTimeout(() => {
      if (!tracked.controller.signal.aborted) tracked.controller.abort(reason);
      const grace = setTimeout(() => tracked.end(reason), maxStreamAgeGraceMs);
      grace.unref();
      tracked.timers.push(grace);
    }, age);
    aged.unref();
    tracked.timers.push(aged);
  }
}

/** Whether `path` is a method of grpc.health.v1.Health (its Watch streams live as long as their connection). */
export function isHealthMethod(path: string): boolean {
  return path.startsWith('/grpc.health.v1.Health/');
}

/**
 * A grpc-js Server whose every handler — the application's, the health service's, any added
 * later — is tracked by `calls`: `addService` registers each method through `register`.
 */
export function trackedServer(ServerClass: typeof Server, options: ConstructorParameters<typeof Server>[0], calls: CallTracker): Server {
  class TrackedServer extends ServerClass {
    override register<RequestType, ResponseType>(
      name: string,
      handler: UntypedHandleCall,
      serialize: serializeFn<ResponseType>,
      deserialize: deserializeFn<RequestType>,
      type: string,
    ): boolean {
      return super.register(name, calls.wrap(name, type, handler), serialize, deserialize, type);
    }
  }
  return new TrackedServer(options);
}
