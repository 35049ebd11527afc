/** Shared shapes of the benchmark runner and its scenarios. */

/** One result line; printed as JSON with --json. */
export type BenchRow = Record<string, string | number | boolean | null>;

/** What a scenario receives from the runner. */
export interface BenchContext {
  /** Shorter runs (for smoke tests of the benchmark code itself). */
  readonly quick: boolean;
  /** A scenario parameter from the command line (`--n 10`), undefined when not given. */
  option(name: (typeof SCENARIO_OPTIONS)[number]): string | undefined;
  /** Reports one result row as soon as it is known. */
  emit(row: BenchRow): void;
  /** Progress for humans, on stderr. */
  log(message: string): void;
}

/** Scenario parameters the command line takes (each scenario documents the ones it reads). */
export const SCENARIO_OPTIONS = ['n', 'k', 'slow-ms', 'jitter-ms', 'concurrency', 'rates', 'streams', 'rounds'] as const;

/** A list of numbers from option `name` (comma-separated), or `fallback`; exits with a clear error when malformed. */
export function numbersOption(ctx: BenchContext, name: (typeof SCENARIO_OPTIONS)[number], fallback: readonly number[], min = 0): number[] {
  const text = ctx.option(name);
  if (text === undefined) return [...fallback];
  const values = text.split(',').map((v) => Number(v.trim()));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v < min)) {
    throw new Error(`bench: --${name} must be a comma-separated list of numbers >= ${min}, got '${text}'`);
  }
  return values;
}
