/** Retry timing of the registries' loops, on the shared exponential backoff (src/core/backoff.ts). */
import { Backoff } from '../core/backoff.js';

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

/** A backoff for a registry retry loop: `options` over the defaults, ±20% jitter (gRPC connection backoff). */
export function registryBackoff(options: BackoffOptions = {}): Backoff {
  return new Backoff({ ...DEFAULT_BACKOFF, ...options, jitter: 0.2 });
}
