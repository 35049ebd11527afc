/**
 * Resilience options of a grpc-ha client — deadlines, retries, retry budget, hedging — validated
 * where they enter, with every default stated here and its source.
 */
import { z } from 'zod';
import { METHOD_SELECTOR, METHOD_SELECTOR_RULE } from '../core/idempotent-methods.js';
import { STATUS_CODE_NAMES, type StatusName } from '../core/status.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { integer, number, parseConfig, positive } from '../core/parse-config.js';

/**
 * Deadline for a unary or client-streaming call that sets none. grpc-js has none, so a hung
 * backend holds a caller forever; 10 s is under Envoy's 15 s route timeout and above any
 * reasonable interactive call. Streams with server-side messages are long-lived by design and
 * get no default.
 */
export const DEFAULT_DEADLINE_MS = 10_000;

/** Retry defaults (gRFC A6): 3 attempts, 100 ms × 2^n backoff up to 1 s, on UNAVAILABLE only. */
export const RETRY_DEFAULTS = {
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 1000,
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'] as string[],
};

/**
 * Retry budget defaults, as gRFC A6 retry throttling: each failed attempt costs a token, each
 * success returns `tokenRatio`; at or below half of `maxTokens` no retry or hedge is sent. A6's
 * example (10, 0.1) stops retrying after 5 failures — one burst of calls in flight on a killed
 * backend exhausts it. 100 tokens let a burst of 50 failures be retried, and a ratio of 0.2
 * sustains retries while fewer than 1 attempt in 6 fails (Envoy and Linkerd budget retries at
 * 20% of requests); in a full outage retries stop after 50 failures instead of tripling load.
 */
export const RETRY_BUDGET_DEFAULTS = { maxTokens: 100, tokenRatio: 0.2 };

/** Hedging defaults (gRFC A6): a second attempt after 50 ms unless the first has answered. */
export const HEDGING_DEFAULTS = { delayMs: 50, maxAttempts: 2, nonFatalStatusCodes: ['UNAVAILABLE'] as string[] };

/** A6 caps attempts at 5 ("maxAttempts ... values greater than 5 are treated as 5"). */
const MAX_ATTEMPTS = 5;

const STATUS_NAMES = STATUS_CODE_NAMES.filter((n) => n !== 'OK') as [StatusName, ...StatusName[]];

const statusCodes = z.array(z.enum(STATUS_NAMES, { error: `must be gRPC status names (${STATUS_NAMES.join(', ')})` }), {
  error: 'must be an array of gRPC status names',
});

const methodName = z.string({ error: METHOD_SELECTOR_RULE }).regex(METHOD_SELECTOR, { error: METHOD_SELECTOR_RULE });

const schema = z
  .object({
    deadlineMs: z.union([positive(), z.literal(null)]).optional(),
    idempotent: z.array(methodName, { error: `must be an array of names that each ${METHOD_SELECTOR_RULE}` }).optional(),
    retry: z
      .union([
        z.literal(false),
        z
          .object({
            maxAttempts: integer(2).optional(),
            initialBackoffMs: positive().optional(),
            maxBackoffMs: positive().optional(),
            backoffMultiplier: number(1).optional(),
            retryableStatusCodes: statusCodes.optional(),
          })
          .strict(),
      ], { error: 'must be false or an object { maxAttempts, initialBackoffMs, maxBackoffMs, backoffMultiplier, retryableStatusCodes }' })
      .optional(),
    retryBudget: z
      .union([
        z.literal(false),
        z.object({ maxTokens: number(1, 1000).optional(), tokenRatio: number(0.001, 1000).optional() }).strict(),
      ], { error: 'must be false or an object { maxTokens, tokenRatio }' })
      .optional(),
    hedging: z
      .union([
        z.literal(false),
        z
          .object({
            delayMs: number(0).optional(),
            maxAttempts: integer(2).optional(),
            nonFatalStatusCodes: statusCodes.optional(),
          })
          .strict(),
      ], { error: 'must be false or an object { delayMs, maxAttempts, nonFatalStatusCodes }' })
      .optional(),
  })
  .strict();

/** What a caller may pass; every field optional. */
export type ResilienceInput = z.input<typeof schema>;

/** Resilience options after validation and defaults. */
export interface ResilienceOptions {
  /** Default deadline of unary and client-streaming calls, ms; null for none. */
  readonly deadlineMs: number | null;
  /** Methods safe to repeat: "package.Service" (all its methods) or "package.Service/Method". */
  readonly idempotent: readonly string[];
  /** Retry policy for idempotent methods, or null when retries are off. */
  readonly retry: typeof RETRY_DEFAULTS | null;
  /** Retry budget for the channel, or null when unlimited. */
  readonly retryBudget: typeof RETRY_BUDGET_DEFAULTS | null;
  /** Hedging for idempotent methods instead of retries, or null (the default). */
  readonly hedging: typeof HEDGING_DEFAULTS | null;
}

/** Validates resilience options; throws GrpcHaError(INVALID_CONFIG) naming the field and the rule. */
export function parseResilienceOptions(input: ResilienceInput | undefined): ResilienceOptions {
  const p = parseConfig('client', schema, input ?? {});
  if (p.hedging !== undefined && p.hedging !== false && p.retry !== undefined && p.retry !== false) {
    // "a method has a retryPolicy or a hedgingPolicy, not both" - gRFC A6; hedging replaces the default retries.
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, 'client: hedging and retry are both set, but a method has one or the other (gRFC A6): keep hedging (it replaces retries) or retry');
  }
  const retry = p.retry === false ? null : { ...RETRY_DEFAULTS, ...p.retry };
  if (retry) retry.maxAttempts = Math.min(retry.maxAttempts, MAX_ATTEMPTS);
  const hedging = p.hedging === undefined || p.hedging === false ? null : { ...HEDGING_DEFAULTS, ...p.hedging };
  if (hedging) hedging.maxAttempts = Math.min(hedging.maxAttempts, MAX_ATTEMPTS);
  return {
    deadlineMs: p.deadlineMs === undefined ? DEFAULT_DEADLINE_MS : p.deadlineMs,
    idempotent: p.idempotent ?? [],
    retry,
    retryBudget: p.retryBudget === false ? null : { ...RETRY_BUDGET_DEFAULTS, ...p.retryBudget },
    hedging,
  };
}
