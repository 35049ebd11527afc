/** Installs every grpc-ha policy into grpc-js, once. */
import { registerPolicy } from '../grpc/register-policy.js';
import { HEALTH_AWARE, registerHealthAwarePolicy } from '../health/health-aware-policy.js';
import { leastRequestPolicy } from './least-request.js';
import { peakEwmaPolicy } from './peak-ewma.js';
import { randomPolicy } from './random.js';
import { ringHashPolicy } from './ring-hash.js';
import { staticWeightedRoundRobinPolicy } from './static-weighted-round-robin.js';
import { weightedRandomPolicy } from './weighted-random.js';

/** The config keys of every grpc-ha picker policy. */
export const POLICY_NAMES = [
  randomPolicy.name,
  weightedRandomPolicy.name,
  staticWeightedRoundRobinPolicy.name,
  leastRequestPolicy.name,
  peakEwmaPolicy.name,
  ringHashPolicy.name,
] as const;

const validators = new Map<string, (json: unknown) => unknown>();

/** Registers all grpc-ha load-balancing policies (and the `health_aware` wrapper) with grpc-js. Idempotent; call before creating channels. */
export function register(): void {
  if (validators.size > 0) return;
  validators.set(randomPolicy.name, registerPolicy(randomPolicy));
  validators.set(weightedRandomPolicy.name, registerPolicy(weightedRandomPolicy));
  validators.set(staticWeightedRoundRobinPolicy.name, registerPolicy(staticWeightedRoundRobinPolicy));
  validators.set(leastRequestPolicy.name, registerPolicy(leastRequestPolicy));
  validators.set(peakEwmaPolicy.name, registerPolicy(peakEwmaPolicy));
  validators.set(ringHashPolicy.name, registerPolicy(ringHashPolicy));
  validators.set(HEALTH_AWARE, registerHealthAwarePolicy());
}

/** Validates a grpc-ha policy's config; returns false when `name` is not a grpc-ha policy. Throws GrpcHaError on invalid config. */
export function validatePolicyConfig(name: string, json: unknown): boolean {
  register();
  const validate = validators.get(name);
  if (!validate) return false;
  validate(json);
  return true;
}
