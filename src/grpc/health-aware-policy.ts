/**
 * `health_aware`: the health layer around any child policy — grpc-js round_robin or
 * weighted_round_robin, or a grpc-ha policy — adding client health checking (gRFC A17, from the
 * service config's `healthCheckConfig`), outlier ejection, slow start and the panic threshold.
 * Its config is parsed in src/core/policies/health-aware-config.ts.
 *
 * A grpc-ha child runs as its bare picker balancer under this one layer (decided when the config
 * is parsed), so a channel has one health layer however it is configured. Any other child must
 * honour subchannel health, as every policy built on grpc-js leaves does; pick_first does not
 * (A17 leaves it without health checking).
 */
import { experimental, logVerbosity } from '@grpc/grpc-js';
import { defaultPickerEnv, type PickerEnv } from '../core/pickers/picker.js';
import type { HealthSettings } from '../core/health/health-config.js';
import { HEALTH_AWARE, parseHealthAwareFields } from '../core/policies/health-aware-config.js';
import { PolicyConfig } from '../core/policies/policy-config.js';
import { HealthLayer, type LayerChildConfig, type LayerConfig } from './health-layer.js';

export { HEALTH_AWARE };

/** The parsed config of `health_aware`. */
export class HealthAwareConfig implements experimental.TypedLoadBalancingConfig, LayerConfig {
  constructor(
    /** The child policy under the layer. */
    readonly child: LayerChildConfig,
    /** What the health layer does. */
    readonly health: HealthSettings,
    private readonly json: Record<string, unknown>,
  ) {}

  getLoadBalancerName(): string {
    return HEALTH_AWARE;
  }

  toJsonObject(): object {
    return { [HEALTH_AWARE]: this.json };
  }

  // grpc-js calls this when it parses a service config; a thrown error rejects the config.
  static createFromJson(json: unknown): HealthAwareConfig {
    try {
      return parseHealthAwareConfig(json);
    } catch (error) {
      experimental.log(logVerbosity.ERROR, `grpc-ha: ${(error as Error).message}; this loadBalancingConfig entry is ignored`);
      throw error;
    }
  }
}

/** Validates a `health_aware` config; throws GrpcHaError(INVALID_CONFIG) naming the field. */
export function parseHealthAwareConfig(json: unknown): HealthAwareConfig {
  const fields = parseHealthAwareFields(json, {
    isKnown: (name) => experimental.isLoadBalancerNameRegistered(name),
    parse: (entry) => experimental.parseLoadBalancingConfig(entry as never),
  });
  // A grpc-ha policy parses to its PolicyConfig: it runs bare, the layer is this one.
  const child: LayerChildConfig = fields.child instanceof PolicyConfig ? { t: 'picker', config: fields.child } : { t: 'policy', config: fields.child };
  return new HealthAwareConfig(child, fields.health, (json ?? {}) as Record<string, unknown>);
}

/** The `health_aware` balancer: the health layer over its child policy. */
export class HealthAwareBalancer extends HealthLayer {
  constructor(helper: experimental.ChannelControlHelper, env: PickerEnv = defaultPickerEnv) {
    super(helper, HEALTH_AWARE, (config) => (config instanceof HealthAwareConfig ? config : null), env);
  }
}

let registered = false;

/** Registers `health_aware` with grpc-js (idempotent) and returns its config validator. */
export function registerHealthAwarePolicy(): (json: unknown) => unknown {
  if (!registered) {
    experimental.registerLoadBalancerType(HEALTH_AWARE, HealthAwareBalancer, HealthAwareConfig);
    registered = true;
  }
  return parseHealthAwareConfig;
}
