/** `round_robin`: endpoints in turn, starting at a random offset so clients do not move in lockstep. */
import { randomIndex, type EndpointPicker, type PickerFactory } from './picker.js';

/** Builds a round-robin picker; `startIndex` keeps rotation continuous across rebuilds when given. */
export const createRoundRobinPicker: PickerFactory<{ startIndex?: number }> = (
  endpoints,
  options,
  env,
): EndpointPicker => {
  const n = endpoints.length;
  let next = options.startIndex !== undefined ? options.startIndex % n : randomIndex(env.random, n);
  return {
    pick: () => {
      const i = next;
      next = i + 1 === n ? 0 : i + 1;
      return i;
    },
  };
};
