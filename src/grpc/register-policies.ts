/** Installs every grpc-ha policy into grpc-js, once. */
import { POLICY_DEFINITIONS } from '../core/policies/catalogue.js';
import { HEALTH_AWARE } from '../core/policies/health-aware-config.js';
import type { PolicyDefinition } from '../core/policies/policy-config.js';
import { assertSupportedGrpcJs } from './grpc-js-copy.js';
import { registerHealthAwarePolicy } from './health-aware-policy.js';
import { registerPolicy } from './register-policy.js';

export { POLICY_NAMES } from '../core/policies/catalogue.js';

const validators = new Map<string, (json: unknown) => unknown>();

/** Registers all grpc-ha load-balancing policies (and the `health_aware` wrapper) with grpc-js. Idempotent; call before creating channels. */
export function registerPolicies(): void {
  if (validators.size > 0) return;
  assertSupportedGrpcJs();
  for (const definition of POLICY_DEFINITIONS) validators.set(definition.name, registerPolicy(definition as PolicyDefinition<unknown>));
  validators.set(HEALTH_AWARE, registerHealthAwarePolicy());
}

/** Validates a grpc-ha policy's config; returns false when `name` is not a grpc-ha policy. Throws GrpcHaError on invalid config. */
export function validatePolicyConfig(name: string, json: unknown): boolean {
  registerPolicies();
  const validate = validators.get(name);
  if (!validate) return false;
  validate(json);
  return true;
}
