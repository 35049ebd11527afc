/**
 * Retries and hedges as a client sees them. grpc-js runs retries and hedging inside the call
 * (gRFC A6), out of an interceptor's sight, but marks the answer: "grpc-previous-rpc-attempts"
 * on the response headers (or trailers) says how many attempts went before the one that
 * answered. That is what is counted here — honestly, no more:
 * - retries/hedges = attempts before the answering one, summed over calls;
 * - withheld = calls that ended with a retryable status before using all their attempts: grpc-js
 *   stopped retrying because the retry budget (A6 throttling) was exhausted, or the deadline or
 *   server pushback left no room. The three causes are not told apart in what grpc-js exposes.
 * Attempts still in flight when a hedged call commits are not reported by grpc-js and not counted.
 */
import { InterceptingCall, status as Status, type Interceptor, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { idempotentMatcher } from '../core/idempotent-methods.js';
import { clientAttemptStatsOf } from '../observe/client-attempt-stats.js';

/** What the interceptor needs of the client's resilience options. */
export interface AttemptPolicy {
  /** "package.Service" or "package.Service/Method" names the policy applies to. */
  readonly idempotent: readonly string[];
  /** Max attempts and retryable codes, or null when retries are off. */
  readonly retry: { readonly maxAttempts: number; readonly retryableStatusCodes: readonly string[] } | null;
  readonly hedging: { readonly maxAttempts: number; readonly nonFatalStatusCodes: readonly string[] } | null;
}

const KEY = 'grpc-previous-rpc-attempts';

function previousAttempts(metadata: Metadata | undefined): number {
  const v = metadata?.get(KEY)[0];
  const n = typeof v === 'string' ? Number(v) : 0;
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** Counts `service`'s calls by outcome, and their retries, hedges and withheld retries; see the module comment. */
export function attemptCountingInterceptor(service: string, policy: AttemptPolicy): Interceptor {
  const s = clientAttemptStatsOf(service);
  const hedging = policy.hedging !== null;
  const maxAttempts = policy.hedging?.maxAttempts ?? policy.retry?.maxAttempts ?? 1;
  const retryable = new Set((policy.hedging?.nonFatalStatusCodes ?? policy.retry?.retryableStatusCodes ?? []).map((n) => Status[n as keyof typeof Status]));
  const covered = idempotentMatcher(policy.idempotent);
  return (options, nextCall) => {
    if (maxAttempts <= 1 || !covered(options.method_definition.path)) {
      // Outcome only: the dashboard's ok / failed totals count every call.
      return new InterceptingCall(nextCall(options), {
        start(metadata, _listener, next) {
          next(metadata, {
            onReceiveStatus(st: StatusObject, nextStatus: (st: StatusObject) => void) {
              if (st.code === Status.OK) s.ok++;
              else s.failed++;
              nextStatus(st);
            },
          });
        },
      });
    }
    let before = 0;
    return new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveMetadata(md: Metadata, nextMd: (md: Metadata) => void) {
            before = previousAttempts(md);
            nextMd(md);
          },
          onReceiveStatus(st: StatusObject, nextStatus: (st: StatusObject) => void) {
            const n = Math.max(before, previousAttempts(st.metadata));
            s.calls++;
            if (st.code === Status.OK) s.ok++;
            else s.failed++;
            if (hedging) s.hedges += n;
            else s.retries += n;
            if (st.code !== Status.OK && retryable.has(st.code) && n + 1 < maxAttempts) s.withheld++;
            nextStatus(st);
          },
        });
      },
    });
  };
}
