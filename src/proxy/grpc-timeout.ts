/**
 * The `grpc-timeout` request header: "Timeout → "grpc-timeout" TimeoutValue TimeoutUnit;
 * TimeoutValue → {positive integer as ASCII string of at most 8 digits}; TimeoutUnit → Hour /
 * Minute / Second / Millisecond / Microsecond / Nanosecond; Hour → "H" ... Nanosecond → "n""
 * (PROTOCOL-HTTP2.md). The proxy reads it to end calls at their deadline and writes what is left
 * of it toward the backend, so both must follow the grammar exactly: a lax reader would see a
 * deadline the backend does not (grpc-js reads "1e5S" as 5 s), and a value past 8 digits is one
 * the backend rejects.
 */

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** At most 8 digits, then a unit; nothing else (no sign, space, exponent or hex). */
const GRAMMAR = /^[0-9]{1,8}[HMSmun]$/;

/** Milliseconds of a `grpc-timeout` value; null when it does not follow the grammar. */
export function parseGrpcTimeout(value: string): number | null {
  if (!GRAMMAR.test(value)) return null;
  return Number(value.slice(0, -1)) * UNIT_MS[value[value.length - 1]!]!;
}

/** The largest value the grammar can say: 99,999,999 hours. */
const MAX_VALUE = 99_999_999;

/**
 * `ms` (rounded up, at least 1 ms) as a `grpc-timeout` value in the finest unit that fits 8
 * digits, as grpc-go's encodeTimeout does: never shorter than `ms`, at most one unit longer.
 */
export function formatGrpcTimeout(ms: number): string {
  const wanted = Math.max(1, Math.ceil(ms));
  for (const unit of ['m', 'S', 'M'] as const) {
    const n = Math.ceil(wanted / UNIT_MS[unit]!);
    if (n <= MAX_VALUE) return `${n}${unit}`;
  }
  return `${Math.min(MAX_VALUE, Math.ceil(wanted / UNIT_MS.H!))}H`;
}

/**
 * The longest delay a Node timer takes: "When delay is larger than 2147483647 or less than 1, the
 * delay will be set to 1" (Node's setTimeout). A deadline further away than this (24.8 days) is
 * not armed: it would fire at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;
