/**
 * `least_request` (gRFC A48, Envoy LEAST_REQUEST): sample `choiceCount` endpoints and take the one
 * with the fewest calls in flight. With unequal weights, Envoy's rule: the highest
 * `weight / (inFlight + 1) ^ activeRequestBias` wins.
 */
import { sampleDistinct } from './p2c.js';
import type { EndpointPicker, PickerFactory } from './picker.js';

/** Options of the least request picker. */
export interface LeastRequestOptions {
  /** Endpoints sampled per pick, in [2, 10]. Defaults to 2 (A48). */
  readonly choiceCount: number;
  /** How strongly in-flight calls count against a weighted endpoint. Defaults to 1.0 (Envoy). */
  readonly activeRequestBias: number;
}

/** Defaults of the least request picker (gRFC A48, Envoy). */
export const LEAST_REQUEST_DEFAULTS: LeastRequestOptions = { choiceCount: 2, activeRequestBias: 1.0 };

/** Builds a least request (power of d choices) picker. */
export const createLeastRequestPicker: PickerFactory<LeastRequestOptions> = (
  endpoints,
  options,
  env,
): EndpointPicker => {
  const n = endpoints.length;
  const choices = new Int32Array(options.choiceCount);
  const weighted = endpoints.some((e) => e.weight !== endpoints[0]!.weight);
  const bias = options.activeRequestBias;
  const random = env.random;
  if (!weighted) {
    return {
      pick: () => {
        const k = sampleDistinct(random, n, options.choiceCount, choices);
        let best = choices[0]!;
        let bestActive = endpoints[best]!.load.inFlight;
        for (let j = 1; j < k; j++) {
          const c = choices[j]!;
          const active = endpoints[c]!.load.inFlight;
          if (active < bestActive) {
            best = c;
            bestActive = active;
          }
        }
        return best;
      },
    };
  }
  const score = (i: number) => {
    const e = endpoints[i]!;
    const active = e.load.inFlight + 1;
    return e.weight / (bias === 1 ? active : bias === 0 ? 1 : Math.pow(active, bias));
  };
  return {
    pick: () => {
      const k = sampleDistinct(random, n, options.choiceCount, choices);
      let best = choices[0]!;
      let bestScore = score(best);
      for (let j = 1; j < k; j++) {
        const c = choices[j]!;
        const s = score(c);
        if (s > bestScore) {
          best = c;
          bestScore = s;
        }
      }
      return best;
    },
  };
};
