/** `random`: every pick is a uniform choice among the endpoints, ignoring weights. */
import { randomIndex, type EndpointPicker, type PickerFactory } from './picker.js';

/** Builds a uniform random picker. */
export const createRandomPicker: PickerFactory<unknown> = (endpoints, _options, env): EndpointPicker => {
  const n = endpoints.length;
  return { pick: () => randomIndex(env.random, n) };
};
