/**
 * A server stream that survives its server: `reopenStream(() => client.watch(req))` yields the
 * stream's messages and, when the stream ends with UNAVAILABLE — a draining server, a maximum
 * stream age (serve()'s maxStreamAgeMs), a backend that died — opens it again through the same
 * client, whose balancer picks any instance that is up. UNAVAILABLE is the one status the gRPC
 * status-code guide calls transient and safe to retry; any other error, or an OK end, ends the
 * iteration as the stream would.
 *
 * Reopens are bounded: after `maxReopens` in a row without the server accepting one, the last
 * error is thrown. Reopens back off exponentially with jitter — gRPC's connection backoff
 * (doc/connection-backoff.md) — which starts over after a stream the server had accepted
 * (headers or a message came back), as connection backoff does after a connection that worked.
 * Even then the first reopen waits the initial backoff (100 ms): a server that ends every stream
 * at once (draining, but not yet seen as such by the balancer) must not be called in a tight loop.
 * `open` is called for every attempt, so it can ask to resume where the last stream stopped.
 */
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { z } from 'zod';
import { Backoff } from '../core/backoff.js';
import { integer, number, parseConfig } from '../core/parse-config.js';

/** Options of {@link reopenStream}. */
export interface ReopenStreamOptions {
  /** Reopens in a row that the server does not accept before the last error is thrown. Defaults to 5. */
  readonly maxReopens?: number;
  /** Backoff between failed reopens, ms: first delay, cap, growth (±20 % jitter). Defaults to 100, 5000, 2. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly multiplier?: number };
  /** Aborting it cancels the current stream and ends the iteration. */
  readonly signal?: AbortSignal;
  /** Called before each reopen with the error that ended the stream and the reopen's number in the current run (1, 2, ...). */
  readonly onReopen?: (error: ServiceError, attempt: number) => void;
}

/** Defaults of {@link ReopenStreamOptions}: the registries' retry timing, a handful of tries. */
export const REOPEN_STREAM_DEFAULTS = { maxReopens: 5, backoff: { initialMs: 100, maxMs: 5000, multiplier: 2 } } as const;

const optionsSchema = z
  .object({
    maxReopens: integer(0).optional(),
    backoff: z.object({ initialMs: number(0).optional(), maxMs: number(0).optional(), multiplier: number(1).optional() }).strict().optional(),
    signal: z.instanceof(AbortSignal, { error: 'must be an AbortSignal' }).optional(),
    onReopen: z.custom<(...args: unknown[]) => void>((v) => typeof v === 'function', { error: 'must be a function' }).optional(),
  })
  .strict();

/**
 * Yields the messages of the server stream `open()` returns, reopening it after an UNAVAILABLE
 * end (see the module doc). Breaking out of the loop cancels the stream. Throws
 * GrpcHaError(INVALID_CONFIG) on bad options, when iteration starts.
 */
export async function* reopenStream<T>(open: () => ClientReadableStream<T>, options: ReopenStreamOptions = {}): AsyncGenerator<T, void, undefined> {
  const o = parseConfig('reopenStream', optionsSchema, options);
  const maxReopens = o.maxReopens ?? REOPEN_STREAM_DEFAULTS.maxReopens;
  const backoff = new Backoff({ ...REOPEN_STREAM_DEFAULTS.backoff, ...o.backoff, jitter: 0.2 });
  const { signal, onReopen } = options;
  let failures = 0;
  while (!signal?.aborted) {
    const call = open();
    let accepted = false;
    call.once('metadata', () => (accepted = true));
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const message of call as AsyncIterable<T>) {
        accepted = true;
        yield message;
      }
      return;
    } catch (error) {
      if (signal?.aborted) return;
      if ((error as Partial<ServiceError>).code !== status.UNAVAILABLE) throw error;
      if (accepted) {
        failures = 0;
        backoff.reset();
      }
      if (failures >= maxReopens) throw error;
      failures++;
      onReopen?.(error as ServiceError, failures);
      await sleep(backoff.next(), signal);
    } finally {
      signal?.removeEventListener('abort', cancel);
      // A no-op once the call has ended; stops the server's stream when the consumer broke out.
      call.cancel();
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
