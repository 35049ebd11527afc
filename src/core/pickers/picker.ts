/**
 * The contract every pure picker follows. Nothing here knows about grpc-js: the grpc-js policies,
 * the proxy and the benchmarks all drive the same pickers through these types.
 */
import type { EndpointLoad } from './endpoint-load.js';

/** A uniform random source in [0, 1); injected so tests can fix it. Defaults to `Math.random`. */
export type RandomSource = () => number;

/** A monotonic clock in milliseconds; injected so tests can script time. Defaults to `performance.now`. */
export type Clock = () => number;

/** What a picker may read about one endpoint: its identity, static weight and live load. */
export interface PickerEndpoint {
  /** A stable identity, usually "host:port"; ring_hash places the endpoint on the ring by it. */
  readonly key: string;
  /** Static weight (> 0). 1 when the user gave none. */
  readonly weight: number;
  /** Live load the balancer updates as calls start and end; pickers only read it. */
  readonly load: EndpointLoad;
  /**
   * Whether the endpoint can take a call now. Pickers are normally given available endpoints
   * only; ring_hash is given all of them so keys keep their place while an endpoint flaps.
   */
  readonly available: boolean;
}

/** An immutable snapshot over a fixed endpoint list. `pick` returns an index into that list. */
export interface EndpointPicker {
  /**
   * Chooses an endpoint. `hashKey` is the request's affinity key (only ring_hash reads it).
   * Never blocks, never throws for a non-empty list, allocates nothing in steady state.
   */
  pick(hashKey?: string): number;
}

/** The randomness and clock a picker uses; both injectable. */
export interface PickerEnv {
  /** Uniform random source. */
  readonly random: RandomSource;
  /** Monotonic milliseconds. */
  readonly now: Clock;
}

/** The default environment: `Math.random` and `performance.now`. */
export const defaultPickerEnv: PickerEnv = {
  random: Math.random,
  now: () => performance.now(),
};

/**
 * Builds a picker over a non-empty endpoint list; each policy provides one. `previous` is the
 * snapshot this one replaces, for pickers that carry something across rebuilds (ring_hash keeps
 * its virtual-node density so surviving endpoints keep their keys).
 */
export type PickerFactory<Options> = (
  endpoints: readonly PickerEndpoint[],
  options: Options,
  env: PickerEnv,
  previous?: EndpointPicker,
) => EndpointPicker;

/** A uniform index in [0, n). */
export function randomIndex(random: RandomSource, n: number): number {
  // `| 0` is safe for n < 2^31 and guards against a random source that returns exactly 1.
  const i = (random() * n) | 0;
  return i < n ? i : n - 1;
}
