/**
 * Config of health checking, outlier ejection, slow start and the panic threshold: the zod
 * schemas (errors name the field, e.g. `least_request: outlierEjection.maxEjectionPercent must be
 * a number in [0, 100], got 120`) and their translation into settings with defaults applied.
 *
 * Every grpc-ha policy and the `health_aware` wrapper accept the same three fields:
 *   { "outlierEjection": {...}, "slowStart": {...}, "panicThresholdPercent": 50 }
 * Health checking itself is switched on by the service config's top-level
 * `"healthCheckConfig": {"serviceName": "..."}`, as gRFC A17 specifies.
 */
import { z } from 'zod';
import { integer, number, parseConfig, positive } from '../parse-config.js';
import {
  DEFAULT_HEALTH_SETTINGS,
  DEFAULT_FAILURE_CODE_NAMES,
  DEFAULT_PANIC_THRESHOLD_PERCENT,
  FAILURE_PERCENTAGE_DEFAULTS,
  OUTLIER_EJECTION_DEFAULTS,
  SLOW_START_DEFAULTS,
  SUCCESS_RATE_DEFAULTS,
} from './health-defaults.js';
import type { HealthSettings } from './health-defaults.js';
import type { OutlierEjectionSettings } from './outlier-detector.js';
import { STATUS_CODE_NAMES, statusCode } from '../status.js';

export { DEFAULT_HEALTH_SETTINGS, type HealthSettings } from './health-defaults.js';

const percent = () => number(0, 100);
const ms = () => integer(1);
const codeRule = `must be a non-empty list of gRPC status code names other than OK, such as "UNAVAILABLE"`;
const failureCodeNames = STATUS_CODE_NAMES.filter((n) => n !== 'OK') as [string, ...string[]];
const booleanField = () => z.boolean({ error: 'must be true or false' });

const successRateSchema = z
  .object({
    stdevFactor: number(0).optional(),
    enforcementPercent: percent().optional(),
    minimumHosts: integer(0).optional(),
    requestVolume: integer(0).optional(),
  })
  .strict();

const failurePercentageSchema = z
  .object({
    threshold: percent().optional(),
    enforcementPercent: percent().optional(),
    minimumHosts: integer(0).optional(),
    requestVolume: integer(0).optional(),
  })
  .strict();

const outlierEjectionSchema = z
  .object(
    {
      intervalMs: ms().optional(),
      baseEjectionTimeMs: ms().optional(),
      maxEjectionTimeMs: ms().optional(),
      ejectionJitterMs: integer(0).optional(),
      maxEjectionPercent: percent().optional(),
      failureCodes: z
        .array(z.enum(failureCodeNames, { error: codeRule }), { error: codeRule })
        .min(1, { error: codeRule })
        .optional(),
      consecutiveFailures: integer(0).optional(),
      consecutiveFailuresEnforcementPercent: percent().optional(),
      successRate: successRateSchema.optional(),
      failurePercentage: failurePercentageSchema.optional(),
      unejectOnHealthy: booleanField().optional(),
    },
    { error: 'must be an object' },
  )
  .strict()
  .refine(
    (o) =>
      (o.maxEjectionTimeMs ?? OUTLIER_EJECTION_DEFAULTS.maxEjectionTimeMs) >=
      (o.baseEjectionTimeMs ?? OUTLIER_EJECTION_DEFAULTS.baseEjectionTimeMs),
    { error: 'must be >= baseEjectionTimeMs', path: ['maxEjectionTimeMs'] },
  );

const slowStartSchema = z
  .object(
    {
      windowMs: integer(SLOW_START_DEFAULTS.minWindowMs),
      aggression: positive().optional(),
      minWeightPercent: percent().optional(),
    },
    { error: 'must be an object with windowMs' },
  )
  .strict();

/** The health fields every grpc-ha policy config (and `health_aware`) accepts; extend a policy schema with them. */
export const healthFields = {
  outlierEjection: outlierEjectionSchema.optional(),
  slowStart: slowStartSchema.optional(),
  panicThresholdPercent: percent().optional(),
};

/** Names of the health fields, to tell whether a config sets any. */
export const HEALTH_FIELD_NAMES = Object.keys(healthFields) as readonly (keyof typeof healthFields)[];

type Parsed = Record<string, unknown>;

/** Settings from fields validated by {@link healthFields}, with defaults applied. */
export function toHealthSettings(parsed: Parsed): HealthSettings {
  const o = parsed.outlierEjection as z.output<typeof outlierEjectionSchema> | undefined;
  const s = parsed.slowStart as z.output<typeof slowStartSchema> | undefined;
  const panic = parsed.panicThresholdPercent as number | undefined;
  if (o === undefined && s === undefined && panic === undefined) return DEFAULT_HEALTH_SETTINGS;
  return {
    outlierEjection: o === undefined ? null : toOutlierEjectionSettings(o),
    slowStart:
      s === undefined
        ? null
        : {
            windowMs: s.windowMs,
            aggression: s.aggression ?? SLOW_START_DEFAULTS.aggression,
            minWeightPercent: s.minWeightPercent ?? SLOW_START_DEFAULTS.minWeightPercent,
          },
    panicThresholdPercent: panic ?? DEFAULT_PANIC_THRESHOLD_PERCENT,
  };
}

function toOutlierEjectionSettings(o: z.output<typeof outlierEjectionSchema>): OutlierEjectionSettings {
  const d = OUTLIER_EJECTION_DEFAULTS;
  const sr = o.successRate;
  const fp = o.failurePercentage;
  return {
    intervalMs: o.intervalMs ?? d.intervalMs,
    baseEjectionTimeMs: o.baseEjectionTimeMs ?? d.baseEjectionTimeMs,
    maxEjectionTimeMs: o.maxEjectionTimeMs ?? d.maxEjectionTimeMs,
    ejectionJitterMs: o.ejectionJitterMs ?? d.ejectionJitterMs,
    maxEjectionPercent: o.maxEjectionPercent ?? d.maxEjectionPercent,
    failureCodes: new Set((o.failureCodes ?? DEFAULT_FAILURE_CODE_NAMES).map((n) => statusCode(n)!)),
    consecutiveFailures: o.consecutiveFailures ?? d.consecutiveFailures,
    consecutiveFailuresEnforcementPercent: o.consecutiveFailuresEnforcementPercent ?? d.consecutiveFailuresEnforcementPercent,
    successRate: sr === undefined ? null : {
      stdevFactor: sr.stdevFactor ?? SUCCESS_RATE_DEFAULTS.stdevFactor,
      enforcementPercent: sr.enforcementPercent ?? SUCCESS_RATE_DEFAULTS.enforcementPercent,
      minimumHosts: sr.minimumHosts ?? SUCCESS_RATE_DEFAULTS.minimumHosts,
      requestVolume: sr.requestVolume ?? SUCCESS_RATE_DEFAULTS.requestVolume,
    },
    failurePercentage: fp === undefined ? null : {
      threshold: fp.threshold ?? FAILURE_PERCENTAGE_DEFAULTS.threshold,
      enforcementPercent: fp.enforcementPercent ?? FAILURE_PERCENTAGE_DEFAULTS.enforcementPercent,
      minimumHosts: fp.minimumHosts ?? FAILURE_PERCENTAGE_DEFAULTS.minimumHosts,
      requestVolume: fp.requestVolume ?? FAILURE_PERCENTAGE_DEFAULTS.requestVolume,
    },
    unejectOnHealthy: o.unejectOnHealthy ?? d.unejectOnHealthy,
  };
}

/** `healthCheckConfig` of a service config (gRFC A17). */
export interface HealthCheckConfig {
  /** The service whose health is watched; "" asks for the server as a whole. */
  readonly serviceName: string;
}

const healthCheckConfigSchema = z
  .object(
    {
      serviceName: z.string({ error: 'must be a string (the name the server reports health for; "" for the whole server)' }),
    },
    { error: 'must be an object with serviceName' },
  )
  .strict();

/** Validates a `healthCheckConfig` value; throws GrpcHaError(INVALID_CONFIG) naming the field. */
export function parseHealthCheckConfig(json: unknown): HealthCheckConfig {
  return parseConfig('healthCheckConfig', healthCheckConfigSchema, json ?? null);
}

/**
 * The health-check service name a service config JSON string enables, or null when it enables
 * none. Throws GrpcHaError(INVALID_CONFIG) when `healthCheckConfig` is present but malformed.
 */
export function healthCheckServiceName(serviceConfigJson: string | undefined): string | null {
  if (!serviceConfigJson) return null;
  const config = JSON.parse(serviceConfigJson) as { healthCheckConfig?: unknown };
  if (config.healthCheckConfig === undefined) return null;
  return parseHealthCheckConfig(config.healthCheckConfig).serviceName;
}
