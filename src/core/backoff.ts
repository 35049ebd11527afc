/**
 * Exponential backoff with jitter, as gRPC's connection backoff (doc/connection-backoff.md):
 * each delay is the current backoff ± jitter × backoff, then the backoff grows by the multiplier
 * up to the maximum. Health-check streams (A17) and the registries' retry loops both use it.
 */
import type { RandomSource } from './pickers/picker.js';

/** Parameters of {@link Backoff}. */
export interface BackoffSettings {
  /** First backoff, ms. */
  readonly initialMs: number;
  /** Growth factor per attempt. */
  readonly multiplier: number;
  /** Relative jitter: a delay is uniform in backoff × [1 - jitter, 1 + jitter]. */
  readonly jitter: number;
  /** Largest backoff (before jitter), ms. */
  readonly maxMs: number;
}

/** A backoff sequence; `next()` returns the delay before the next attempt. */
export class Backoff {
  private current: number;

  constructor(
    private readonly settings: BackoffSettings,
    private readonly random: RandomSource = Math.random,
  ) {
    this.current = settings.initialMs;
  }

  /** The delay before the next attempt, ms; grows the backoff for the one after. */
  next(): number {
    const { jitter, multiplier, maxMs } = this.settings;
    const delay = this.current * (1 + jitter * (2 * this.random() - 1));
    this.current = Math.min(this.current * multiplier, maxMs);
    return delay;
  }

  /** Starts over from the initial backoff (after a success). */
  reset(): void {
    this.current = this.settings.initialMs;
  }
}
