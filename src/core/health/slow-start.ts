/**
 * Slow start (Envoy): an endpoint that has just become healthy gets a growing share of traffic
 * over a window instead of its full share at once, so a cold instance (JIT, caches, pools) is
 * not flooded. Envoy scales the endpoint's weight:
 *
 *   "NewWeight = Weight * max(MinWeightPercent, TimeFactor ^ (1 / Aggression)),
 *    TimeFactor = max(TimeSinceStartInSeconds, 1) / SlowStartWindowInSeconds" - Envoy docs
 *
 * grpc-ha applies the factor to whatever the child policy picks (so it also works for policies
 * without weights, such as grpc-js round_robin): a pick of a ramping endpoint is kept with
 * probability factor / maxFactor and otherwise picked again, which in expectation scales the
 * endpoint's share by its factor relative to the most advanced endpoint. When every endpoint is
 * equally new (a fresh deployment) nothing changes, as in Envoy.
 */
import type { RandomSource } from '../pickers/picker.js';
import { SLOW_START_DEFAULTS } from './health-defaults.js';

/** Slow start settings; see README for the defaults. */
export interface SlowStartSettings {
  /** Length of the ramp, ms (>= 1000). */
  readonly windowMs: number;
  /** Shape of the ramp: 1 is linear, larger ramps faster early. Defaults to 1.0 (Envoy). */
  readonly aggression: number;
  /** Smallest factor, percent. Defaults to 10 (Envoy). */
  readonly minWeightPercent: number;
}

/** Picks of ramping endpoints re-drawn at most this many times; bounds the cost of a pick. */
export const MAX_SLOW_START_ATTEMPTS = 6;

/** The weight factor in (0, 1] of an endpoint healthy for `elapsedMs`; 1 once the window has passed. */
export function slowStartFactor(elapsedMs: number, settings: SlowStartSettings): number {
  if (!(elapsedMs < settings.windowMs)) return 1;
  const timeFactor = Math.max(elapsedMs, SLOW_START_DEFAULTS.minWindowMs) / settings.windowMs;
  const ramp = settings.aggression === 1 ? timeFactor : Math.pow(timeFactor, 1 / settings.aggression);
  return Math.min(1, Math.max(settings.minWeightPercent / 100, ramp));
}

/**
 * Probability of keeping a pick of an endpoint at `factor` when the most advanced healthy
 * endpoint is at `maxFactor`: scaling every weight by factor/maxFactor keeps the ratios of
 * Envoy's scaled weights while the oldest endpoint keeps all of its picks.
 */
export function keepProbability(factor: number, maxFactor: number): number {
  return maxFactor <= 0 || factor >= maxFactor ? 1 : factor / maxFactor;
}

/**
 * Slow start over any picker, by rejection sampling: keeps `first` with probability
 * factor/maxFactor, otherwise asks `pickAgain` (null: nothing else to pick, keep what we have);
 * after MAX_SLOW_START_ATTEMPTS the last pick is kept whatever it is, so a pick stays bounded.
 * Shared by the grpc-js health picker and the proxy cluster.
 */
export function slowStartPick<T>(
  first: T,
  pickAgain: () => T | null,
  factorOf: (pick: T) => number,
  maxFactor: number,
  random: RandomSource,
): T {
  let pick = first;
  for (let attempt = 1; attempt < MAX_SLOW_START_ATTEMPTS; attempt++) {
    const keep = keepProbability(factorOf(pick), maxFactor);
    if (keep >= 1 || random() < keep) break;
    const again = pickAgain();
    if (again === null) break;
    pick = again;
  }
  return pick;
}
