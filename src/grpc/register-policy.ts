/** Registers a grpc-ha policy definition with grpc-js under its config key. */
import { experimental, logVerbosity } from '@grpc/grpc-js';
import { HealthLayer } from './health-layer.js';
import { parsePolicyConfig, PolicyConfig, type PolicyDefinition } from '../core/policies/policy-config.js';

/**
 * Makes `definition` selectable by `{"loadBalancingConfig": [{"<name>": {...}}]}` in any channel:
 * the health layer over the policy's bare picker balancer, health composed once. Returns the
 * policy's config validator (throws GrpcHaError naming the field).
 */
export function registerPolicy<Options>(definition: PolicyDefinition<Options>): (json: unknown) => unknown {
  class Balancer extends HealthLayer {
    constructor(helper: experimental.ChannelControlHelper) {
      super(helper, definition.name, (config) =>
        config instanceof PolicyConfig && config.getLoadBalancerName() === definition.name
          ? { health: config.health, child: { t: 'picker', config } }
          : null,
      );
    }
  }
  class Config extends PolicyConfig<Options> {
    // grpc-js calls this when it parses a service config; a thrown error rejects the config.
    static createFromJson(json: unknown): PolicyConfig<Options> {
      try {
        return parsePolicyConfig(definition, json);
      } catch (error) {
        // grpc-js logs a rejected config only at DEBUG and falls back to the next entry (or
        // pick_first): say it where an operator will see it.
        experimental.log(logVerbosity.ERROR, `grpc-ha: ${(error as Error).message}; this loadBalancingConfig entry is ignored`);
        throw error;
      }
    }
  }
  experimental.registerLoadBalancerType(definition.name, Balancer, Config);
  return (json) => parsePolicyConfig(definition, json);
}
