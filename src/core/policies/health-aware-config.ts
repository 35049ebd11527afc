/**
 * The config of `health_aware`, the health layer around any child policy, in the style of A50's
 * outlier_detection:
 *
 *   {"health_aware": {"childPolicy": [{"round_robin": {}}], "outlierEjection": {...},
 *                     "slowStart": {...}, "panicThresholdPercent": 50}}
 *
 * Parsed here without grpc-js: the caller says which child policies exist and parses the chosen one.
 */
import { z } from 'zod';
import { ERROR_CODES, GrpcHaError } from '../errors.js';
import { HEALTH_FIELD_NAMES, healthFields, toHealthSettings, type HealthSettings } from '../health/health-config.js';
import { parseConfig } from '../parse-config.js';

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

/** The `health_aware` fields besides `childPolicy`, as written in a service config. */
export type HealthAwareFieldsInput = Omit<z.input<typeof schema>, 'childPolicy'>;

/** How the caller knows and parses child policies. */
export interface ChildPolicyParser<Child> {
  /** Whether a policy of this name can be used. */
  isKnown(name: string): boolean;
  /** Parses `{name: config}`; throws on an invalid config. */
  parse(entry: Record<string, unknown>): Child;
}

/** A parsed `health_aware` config. */
export interface HealthAwareFields<Child> {
  /** The child policy's parsed config: the first known entry of `childPolicy`. */
  readonly child: Child;
  /** The child's config key. */
  readonly childName: string;
  /** What the health layer does. */
  readonly health: HealthSettings;
}

/** Validates a `health_aware` config; throws GrpcHaError(INVALID_CONFIG) naming the field. */
export function parseHealthAwareFields<Child>(json: unknown, children: ChildPolicyParser<Child>): HealthAwareFields<Child> {
  const parsed = parseConfig(HEALTH_AWARE, schema, json);
  // "child_policy [...] the first supported policy in the list is used" (A50's wording for its
  // own child list); a supported policy with an invalid config is an error, not skipped.
  parsed.childPolicy.forEach((entry, i) => {
    if (Object.keys(entry).length !== 1) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${HEALTH_AWARE}: childPolicy.${i} must have exactly one policy name, got ${JSON.stringify(Object.keys(entry))}`);
    }
  });
  const index = parsed.childPolicy.findIndex((entry) => children.isKnown(Object.keys(entry)[0]!));
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
  let child: Child;
  try {
    child = children.parse(entry);
  } catch (error) {
    // grpc-js prefixes the policy name, and grpc-ha's own messages already start with it.
    let message = (error as Error).message;
    if (message.startsWith(`${name}: ${name}: `)) message = message.slice(name.length + 2);
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${HEALTH_AWARE}: childPolicy.${index}.${message}`, { cause: error });
  }
  return { child, childName: name, health: toHealthSettings(parsed) };
}
