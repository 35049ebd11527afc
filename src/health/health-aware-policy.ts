/**
 * `health_aware`: the health layer around any child policy — grpc-js round_robin or
 * weighted_round_robin, or a grpc-ha policy — adding client health checking (gRFC A17, from the
 * service config's `healthCheckConfig`), outlier ejection, slow start and the panic threshold.
 * Config, in the style of A50's outlier_detection:
 *
 *   {"health_aware": {"childPolicy": [{"round_robin": {}}], "outlierEjection": {...},
 *                     "slowStart": {...}, "panicThresholdPercent": 50}}
 *
 * The child must honour subchannel health, as every policy built on grpc-js leaves does;
 * pick_first does not (A17 leaves it without health checking).
 */
import { experimental, logVerbosity, type ChannelOptions } from '@grpc/grpc-js';
import { z } from 'zod';
import { defaultPickerEnv, type PickerEnv } from '../algorithms/picker.js';
import { parseConfig } from '../config/parse-config.js';
import { ERROR_CODES, GrpcHaError } from '../errors.js';
import { ChannelObserver } from '../observe/channel-observer.js';
import { HEALTH_FIELD_NAMES, healthFields, toHealthSettings, type HealthSettings } from './health-config.js';
import { HealthLayer, NESTED_HEALTH_LAYER_OPTION } from './health-layer.js';

/** The service config key. */
export const HEALTH_AWARE = 'health_aware';

const childRule = 'must be a non-empty list of load balancing configs, e.g. [{"round_robin": {}}]';

const schema = z
  .object({
    childPolicy: z
      .array(z.record(z.string(), z.unknown(), { error: childRule }), { error: childRule })
      .min(1, { error: childRule }),
    ...healthFields,
  })
  .strict();

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
  const parsed = parseConfig(HEALTH_AWARE, schema, json);
  // "child_policy [...] the first supported policy in the list is used" (A50's wording for its
  // own child list); a supported policy with an invalid config is an error, not skipped.
  parsed.childPolicy.forEach((entry, i) => {
    if (Object.keys(entry).length !== 1) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${HEALTH_AWARE}: childPolicy.${i} must have exactly one policy name, got ${JSON.stringify(Object.keys(entry))}`);
    }
  });
  const index = parsed.childPolicy.findIndex((entry) => experimental.isLoadBalancerNameRegistered(Object.keys(entry)[0]!));
  if (index < 0) {
    const names = parsed.childPolicy.map((entry) => Object.keys(entry)[0]);
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${HEALTH_AWARE}: childPolicy has no registered policy, got ${JSON.stringify(names)}`);
  }
  const entry = parsed.childPolicy[index]!;
  const name = Object.keys(entry)[0]!;
  const inner = entry[name];
  if (inner !== null && typeof inner === 'object' && HEALTH_FIELD_NAMES.some((f) => f in inner)) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `${HEALTH_AWARE}: childPolicy.${index}.${name} sets ${HEALTH_FIELD_NAMES.filter((f) => f in inner).join(', ')}: ` +
        `configure health on ${HEALTH_AWARE} or on ${name}, not both`,
    );
  }
  let child: experimental.TypedLoadBalancingConfig;
  try {
    child = experimental.parseLoadBalancingConfig(entry as never);
  } catch (error) {
    // grpc-js prefixes the policy name, and grpc-ha's own messages already start with it.
    let message = (error as Error).message;
    if (message.startsWith(`${name}: ${name}: `)) message = message.slice(name.length + 2);
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${HEALTH_AWARE}: childPolicy.${index}.${message}`, { cause: error });
  }
  return new HealthAwareConfig(child, toHealthSettings(parsed), (json ?? {}) as Record<string, unknown>);
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
