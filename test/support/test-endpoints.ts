/** Builds picker endpoints for tests and benchmarks: fixed keys and weights, fresh loads. */
import { EndpointLoad } from '../../src/core/pickers/endpoint-load.js';
import type { EndpointPicker, PickerEndpoint } from '../../src/core/pickers/picker.js';

/** `n` endpoints "10.0.0.i:50051" (or with the given weights), each with an empty load. */
export function makeEndpoints(n: number, weights?: readonly number[]): (PickerEndpoint & { available: boolean })[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `10.0.0.${i}:50051`,
    weight: weights?.[i] ?? 1,
    load: new EndpointLoad(),
    available: true,
  }));
}

/** Picks `picks` times and counts the picks of each of the `n` endpoints. */
export function countPicks(picker: EndpointPicker, n: number, picks: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let i = 0; i < picks; i++) c[picker.pick()]!++;
  return c;
}
