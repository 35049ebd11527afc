/** Exponential backoff with jitter for the registries' retry loops. */

/** Retry timing: first delay, cap, and growth factor. */
export interface BackoffOptions {
  /** First delay, ms. Defaults to 100. */
  readonly initialMs?: number;
  /** Largest delay, ms. Defaults to 5000. */
  readonly maxMs?: number;
  /** Growth per attempt. Defaults to 2. */
  readonly multiplier?: number;
}

/** Defaults of {@link BackoffOptions}: 100 ms doubling to 5 s, like grpc-js reconnect backoff but with a shorter cap so registries are found again within seconds. */
export const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 5000, multiplier: 2 } as const;

/** Produces successive delays: initial × multiplier^n, capped, each with ±20% jitter (as gRFC A6/grpc-js backoff). */
export class Backoff {
  private next: number;
  private readonly options: Required<BackoffOptions>;

  constructor(options: BackoffOptions = {}) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
    this.next = this.options.initialMs;
  }

  /** The delay before the next attempt; grows the one after. */
  delay(random: () => number = Math.random): number {
    const base = this.next;
    this.next = Math.min(this.options.maxMs, this.next * this.options.multiplier);
    return Math.max(0, base * (0.8 + 0.4 * random()));
  }

  /** Starts over from the initial delay (after a success). */
  reset(): void {
    this.next = this.options.initialMs;
  }
}
