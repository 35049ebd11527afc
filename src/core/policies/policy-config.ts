/**
 * What every grpc-ha picker policy shares: its definition, the fields every policy accepts
 * (static weights and the health fields), and the parsed config. The parsed config has the shape
 * of grpc-js's TypedLoadBalancingConfig (getLoadBalancerName, toJsonObject), so the grpc-js
 * adapter hands it to grpc-js as is, and the proxy and the xDS control plane read the same object.
 */
import { z } from 'zod';
import { DEFAULT_EWMA, type EwmaSettings } from '../pickers/endpoint-load.js';
import type { PickerFactory } from '../pickers/picker.js';
import { parseConfig, positive } from '../parse-config.js';
import { DEFAULT_HEALTH_SETTINGS, healthFields, toHealthSettings, type HealthSettings } from '../health/health-config.js';

/**
 * How one grpc-ha policy is defined: its config key, its picker, and its own options. `Name` and
 * `Schema` keep their precise types (see {@link definePolicy}), so a config can be typed per policy.
 */
export interface PolicyDefinition<Options, Name extends string = string, Schema extends z.ZodObject = z.ZodObject> {
  /** The service config key, e.g. "least_request". */
  readonly name: Name;
  /** The pure picker the policy wraps. */
  readonly createPicker: PickerFactory<Options>;
  /** Zod schema of the policy's own fields (strict object; `weights` and the health fields are added for every policy). */
  readonly schema: Schema;
  /** Turns parsed fields into picker options (applying defaults and clamps). */
  readonly toOptions: (parsed: Record<string, unknown>) => Options;
  /** Latency-estimate settings from the parsed fields; policies that do not tune them use the defaults. */
  readonly ewmaSettings?: (parsed: Record<string, unknown>) => EwmaSettings;
  /** Give the picker every endpoint, not only READY ones (ring_hash: keys keep their place). Defaults to false. */
  readonly includeUnavailable?: boolean;
  /** Metadata key whose value is the request's hash key (ring_hash only). */
  readonly hashHeader?: (parsed: Record<string, unknown>) => string | undefined;
}

/** A policy definition with its name and schema types kept: `definePolicy({ name: 'my_policy', ... })`. */
export function definePolicy<Options, const Name extends string, Schema extends z.ZodObject>(
  definition: PolicyDefinition<Options, Name, Schema>,
): PolicyDefinition<Options, Name, Schema> {
  return definition;
}

/** Static weights by address, accepted by every grpc-ha policy until a registry supplies them. */
export const weightsField = z
  .record(z.string(), positive(), { error: 'must be an object mapping "host:port" to a number > 0' })
  .optional();

/** The fields every grpc-ha policy's config takes besides its own: static `weights` and the health fields. */
export type CommonPolicyFields = z.input<z.ZodObject<{ weights: typeof weightsField } & typeof healthFields>>;

/** The config a policy definition accepts, as written in a service config: its own fields and the common ones. */
export type PolicyConfigInput<D> = D extends PolicyDefinition<infer _O, infer _N, infer S> ? OwnFields<z.input<S>> & CommonPolicyFields : never;

/** A policy's own fields; none (zod types an empty object as `Record<string, never>`, which would forbid the common ones) is `{}`. */
type OwnFields<T> = string extends keyof T ? object : T;

/** The parsed config of one grpc-ha policy (grpc-js stores it in the service config as is). */
export class PolicyConfig<Options = unknown> {
  constructor(
    /** The policy this config belongs to. */
    readonly definition: PolicyDefinition<Options>,
    /** Picker options after defaults and clamps. */
    readonly options: Options,
    /** Static weights by "host:port"; they override weights from endpoint attributes. */
    readonly weights: ReadonlyMap<string, number>,
    /** Latency estimate settings for the endpoint load the balancer keeps. */
    readonly ewma: EwmaSettings,
    /** Metadata key for ring hashing, if any. */
    readonly hashHeader: string | undefined,
    private readonly json: Record<string, unknown>,
    /** Health checking, outlier ejection, slow start and panic threshold settings. */
    readonly health: HealthSettings = DEFAULT_HEALTH_SETTINGS,
  ) {}

  /** The policy's config key. */
  getLoadBalancerName(): string {
    return this.definition.name;
  }

  /** The config as it was written, under its key. */
  toJsonObject(): object {
    return { [this.definition.name]: this.json };
  }
}

/** Validates `json` for `definition`; throws GrpcHaError(INVALID_CONFIG) naming the policy and field. */
export function parsePolicyConfig<Options>(definition: PolicyDefinition<Options>, json: unknown): PolicyConfig<Options> {
  const schema = definition.schema.extend({ weights: weightsField, ...healthFields }).strict();
  const parsed = parseConfig(definition.name, schema, json) as Record<string, unknown>;
  const weights = new Map(Object.entries((parsed.weights as Record<string, number> | undefined) ?? {}));
  return new PolicyConfig(
    definition,
    definition.toOptions(parsed),
    weights,
    definition.ewmaSettings?.(parsed) ?? DEFAULT_EWMA,
    definition.hashHeader?.(parsed),
    (json ?? {}) as Record<string, unknown>,
    toHealthSettings(parsed),
  );
}
