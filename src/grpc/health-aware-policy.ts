/**
 * `health_aware`: the health layer around any child policy — grpc-js round_robin or
 * weighted_round_robin, or a grpc-ha policy — adding client health checking (gRFC A17, from the
 * service config's `healthCheckConfig`), outlier ejection, slow start and the panic threshold.
 * Its config is parsed in src/core/policies/health-aware-config.ts.
 *
 * The child must honour subchannel health, as every policy built on grpc-js leaves does;
 * pick_first does not (A17 leaves it without health checking).
 */
import { experimental, logVerbosity, type ChannelOptions } from '@grpc/grpc-js';
import { defaultPickerEnv, type PickerEnv } from '../core/pickers/picker.js';
import type { HealthSettings } from '../core/health/health-config.js';
import { HEALTH_AWARE, parseHealthAwareFields } from '../core/policies/health-aware-config.js';
import { ChannelObserver } from '../observe/channel-observer.js';
import { HealthLayer, NESTED_HEALTH_LAYER_OPTION } from './health-layer.js';

export { HEALTH_AWARE };

/** The parsed config of `health_aware`. */
export class HealthAwareConfig implements experimental.TypedLoadBalancingConfig {
  constructor(
    /** The child policy's parsed config. */
    readonly child: experimental.TypedLoadBalancingConfig,
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
  return new HealthAwareConfig(fields.child, fields.health, (json ?? {}) as Record<string, unknown>);
}

/** The `health_aware` balancer: a health layer over a child policy. */
export class HealthAwareBalancer implements experimental.LoadBalancer {
  private readonly layer: HealthLayer;
  private readonly child: experimental.ChildLoadBalancerHandler;
  /** Its endpoints' health and state changes for the admin API, events and /metrics (no call counts: the child picks). */
  private readonly observer = new ChannelObserver(HEALTH_AWARE);

  constructor(helper: experimental.ChannelControlHelper, env: PickerEnv = defaultPickerEnv) {
    this.layer = new HealthLayer(helper, this, HEALTH_AWARE, env, this.observer);
    this.child = new experimental.ChildLoadBalancerHandler(this.layer.helper);
  }

  updateAddressList(
    endpointList: experimental.StatusOr<experimental.Endpoint[]>,
    lbConfig: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(lbConfig instanceof HealthAwareConfig)) return false;
    this.observer.updateOptions(options);
    this.layer.update(endpointList.ok ? endpointList.value : null, lbConfig.health, options, resolutionNote);
    const nested = options[NESTED_HEALTH_LAYER_OPTION] === true ? options : { ...options, [NESTED_HEALTH_LAYER_OPTION]: true };
    return this.child.updateAddressList(endpointList, lbConfig.child, nested, resolutionNote);
  }

  exitIdle(): void {
    this.child.exitIdle();
  }

  resetBackoff(): void {
    this.child.resetBackoff();
  }

  destroy(): void {
    this.observer.close();
    this.layer.destroy();
    this.child.destroy();
  }

  getTypeName(): string {
    return HEALTH_AWARE;
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
