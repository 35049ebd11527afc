/**
 * `weighted_random`: each pick is endpoint i with probability weight_i / Σweight, in O(1) by
 * Vose's alias method (two table reads and one random draw per pick).
 */
import { randomIndex, type EndpointPicker, type PickerFactory } from './picker.js';

/** Builds a weighted random picker with an alias table. */
export const createWeightedRandomPicker: PickerFactory<unknown> = (endpoints, _options, env): EndpointPicker => {
  const n = endpoints.length;
  const { prob, alias } = buildAliasTable(endpoints.map((e) => e.weight));
  const random = env.random;
  return {
    pick: () => {
      const column = randomIndex(random, n);
      return random() < prob[column]! ? column : alias[column]!;
    },
  };
};

/** Vose's alias method: O(n) build, O(1) sampling. */
export function buildAliasTable(weights: readonly number[]): { prob: Float64Array; alias: Int32Array } {
  const n = weights.length;
  const total = weights.reduce((a, b) => a + b, 0);
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  const scaled = weights.map((w) => (w * n) / total);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large.pop()!;
    prob[s] = scaled[s]!;
    alias[s] = l;
    scaled[l] = scaled[l]! + scaled[s]! - 1;
    (scaled[l]! < 1 ? small : large).push(l);
  }
  // Whatever is left is 1 up to rounding error.
  for (const i of large) {
    prob[i] = 1;
    alias[i] = i;
  }
  for (const i of small) {
    prob[i] = 1;
    alias[i] = i;
  }
  return { prob, alias };
}
