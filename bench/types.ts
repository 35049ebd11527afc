/** Shared shapes of the benchmark runner and its scenarios. */

/** One result line; printed as JSON with --json. */
export type BenchRow = Record<string, string | number | boolean | null>;

/** What a scenario receives from the runner. */
export interface BenchContext {
  /** Shorter runs (for smoke tests of the benchmark code itself). */
  readonly quick: boolean;
  /** Reports one result row as soon as it is known. */
  emit(row: BenchRow): void;
  /** Progress for humans, on stderr. */
  log(message: string): void;
}
