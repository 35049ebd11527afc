/**
 * The balancing policies a proxy cluster can use: every grpc-ha policy (the same definitions, and
 * so the same pure pickers and config validation, as the grpc-js policies) plus `round_robin`,
 * which grpc-js has built in and the proxy needs as a baseline (nginx and HAProxy default to it).
 */
import { POLICY_DEFINITIONS } from '../core/policies/catalogue.js';
import { leastRequestPolicy } from '../core/policies/least-request.js';
import { roundRobinPolicy } from '../core/policies/round-robin.js';
import { parsePolicyConfig, type PolicyConfig, type PolicyDefinition } from '../core/policies/policy-config.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';

/** The policy a cluster uses when its config names none: least_request, the README's default choice. */
export const DEFAULT_CLUSTER_POLICY = leastRequestPolicy.name;

/** Every policy a cluster may name, by config key. */
export const CLUSTER_POLICIES: ReadonlyMap<string, PolicyDefinition<unknown>> = new Map(
  [roundRobinPolicy, ...POLICY_DEFINITIONS].map((p) => [p.name, p as PolicyDefinition<unknown>]),
);

/**
 * Parses a cluster's `policy`: a name (`least_request`) or a one-key object
 * (`{least_request: {choiceCount: 3}}`). Throws GrpcHaError(INVALID_CONFIG) naming `field`.
 */
export function parseClusterPolicy(input: unknown, field: string): PolicyConfig<unknown> {
  let name: string;
  let options: unknown = {};
  if (input === undefined) {
    name = DEFAULT_CLUSTER_POLICY;
  } else if (typeof input === 'string') {
    name = input;
  } else if (input !== null && typeof input === 'object' && !Array.isArray(input) && Object.keys(input).length === 1) {
    [name, options] = Object.entries(input)[0]!;
  } else {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `${field} must be a policy name or an object with one policy name as key, got ${JSON.stringify(input)}`,
    );
  }
  const definition = CLUSTER_POLICIES.get(name);
  if (!definition) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `${field}: unknown policy ${JSON.stringify(name)}; known: ${[...CLUSTER_POLICIES.keys()].join(', ')}`,
    );
  }
  try {
    return parsePolicyConfig(definition, options ?? {});
  } catch (error) {
    const e = GrpcHaError.from(error, ERROR_CODES.INVALID_CONFIG);
    throw new GrpcHaError(e.code, `${field}.${e.message}`, { cause: error });
  }
}
