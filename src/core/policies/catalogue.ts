/** Every grpc-ha balancing policy, by config key: the one list the grpc-js adapter registers and the proxy offers. */
import { leastRequestPolicy } from './least-request.js';
import { peakEwmaPolicy } from './peak-ewma.js';
import { parsePolicyConfig, type PolicyConfigInput, type PolicyDefinition } from './policy-config.js';
import { randomPolicy } from './random.js';
import { ringHashPolicy } from './ring-hash.js';
import { staticWeightedRoundRobinPolicy } from './static-weighted-round-robin.js';
import { weightedRandomPolicy } from './weighted-random.js';

/** The grpc-ha picker policies, in the order the docs list them. */
export const POLICY_DEFINITIONS = [
  randomPolicy,
  weightedRandomPolicy,
  staticWeightedRoundRobinPolicy,
  leastRequestPolicy,
  peakEwmaPolicy,
  ringHashPolicy,
] as const;

/** The config key of a grpc-ha picker policy: `'random' | 'weighted_random' | ... | 'ring_hash'`. */
export type PickerPolicyName = (typeof POLICY_DEFINITIONS)[number]['name'];

/** The config keys of every grpc-ha picker policy. */
export const POLICY_NAMES: readonly PickerPolicyName[] = POLICY_DEFINITIONS.map((p) => p.name);

/** Each grpc-ha picker policy's config, as written in a service config, by name. */
export type PickerPolicyConfigs = { [D in (typeof POLICY_DEFINITIONS)[number] as D['name']]: PolicyConfigInput<D> };

const BY_NAME: ReadonlyMap<string, PolicyDefinition<unknown>> = new Map(POLICY_DEFINITIONS.map((p) => [p.name, p as PolicyDefinition<unknown>]));

/** The grpc-ha policy named `name`, or undefined. */
export function policyDefinition(name: string): PolicyDefinition<unknown> | undefined {
  return BY_NAME.get(name);
}

/** Validates a grpc-ha policy's config; returns false when `name` is not a grpc-ha picker policy. Throws GrpcHaError naming the field. */
export function validatePickerPolicyConfig(name: string, json: unknown): boolean {
  const definition = BY_NAME.get(name);
  if (!definition) return false;
  parsePolicyConfig(definition, json);
  return true;
}
