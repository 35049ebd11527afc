/**
 * A service's `loadBalancingConfig` (its central service config) as the balancing fields of an
 * xDS Cluster, for every kind of client at once:
 *
 * - `load_balancing_policy` (gRFC A52): the policies in the document's order, each as the typed
 *   extension clients know (RoundRobin, RingHash, LeastRequest, ClientSideWeightedRoundRobin,
 *   PickFirst), and every other policy — grpc-ha's own (`peak_ewma`, ...) and any policy a user
 *   registers in their clients — as an `xds.type.v3.TypedStruct` carrying its JSON config. "The
 *   client will iterate through the list in order and pick the first policy it supports" - A52,
 *   so a grpc-js client with grpc-ha's policies registered takes `peak_ewma` and a Python client
 *   goes on to the next entry. The list always ends in round robin, which every client has.
 * - `lb_policy` (the field clients before A52 read): RING_HASH when the first policy is ring hash,
 *   ROUND_ROBIN otherwise. Older C-core rejects the whole Cluster for any other value
 *   ("LB policy is not supported", grpc 1.51), so LEAST_REQUEST is never written there.
 *
 * Round robin, least request and client-side weighted round robin go under `WrrLocality`, as
 * Envoy's ROUND_ROBIN means and as A52 says control planes should ("the xDS server is expected to
 * wrap the endpoint picking policy in wrr_locality"); ring hash weighs endpoints itself (A42) and
 * grpc-ha's policies see every endpoint of the cluster. A client that knows no policy of a nested
 * list rejects the whole Cluster (grpc-js-xds throws "No registered LB policy found in list"), so
 * every WrrLocality's list ends in RoundRobin too.
 */
import type { ServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
import type { OutlierEjectionSettings } from '../core/health/outlier-detector.js';
import { policyDefinition } from '../core/policies/catalogue.js';
import { HEALTH_AWARE, parseHealthAwareFields } from '../core/policies/health-aware-config.js';
import { LEAST_REQUEST } from '../core/policies/least-request.js';
import { parsePolicyConfig } from '../core/policies/policy-config.js';
import { RING_HASH, ringHashPolicy } from '../core/policies/ring-hash.js';
import type { RingHashOptions } from '../core/pickers/ring-hash-picker.js';
import { duration, toStruct, typed, wrapped, type TypedMessage } from './envoy-json.js';

/** One entry of `load_balancing_policy`. */
export interface LbPolicyChoice {
  /** The policy, as reports name it: "round_robin", "peak_ewma". */
  readonly name: string;
  /** Whether it is ring hash (clients that cannot run it get the list without it). */
  readonly ringHash: boolean;
  /** `typed_extension_config.typed_config`. */
  readonly config: TypedMessage;
}

/** The balancing fields of a service's Cluster. */
export interface ClusterPolicy {
  /** `load_balancing_policy.policies`, in order; ends in round robin. */
  readonly choices: readonly LbPolicyChoice[];
  /** `lb_policy` (and `ring_hash_lb_config`) for clients without gRFC A52. */
  readonly legacy: { readonly lbPolicy: 'ROUND_ROBIN' } | ({ readonly lbPolicy: 'RING_HASH' } & RingHashOptions);
  /** `outlier_detection`: the first outlier ejection settings of the list, or null. */
  readonly outlierEjection: OutlierEjectionSettings | null;
  /** The request header ring hash hashes (the route's hash policy), if any. */
  readonly hashHeader: string | undefined;
  /** What could not be expressed in xDS, for the admin API and the log. */
  readonly notes: readonly string[];
}

const ROUND_ROBIN = 'round_robin';
const TYPED_STRUCT = 'xds.type.v3.TypedStruct';
const WRR_LOCALITY = 'envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality';

/** `{"policies": [...]}` of a LoadBalancingPolicy message. */
export function loadBalancingPolicy(choices: readonly LbPolicyChoice[]): Record<string, unknown> {
  return {
    policies: choices.map((c) => ({ typed_extension_config: { name: c.name, typed_config: c.config } })),
  };
}

const ROUND_ROBIN_MESSAGE = typed('envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin');

function wrrLocality(name: string, endpointPicking: TypedMessage): LbPolicyChoice {
  const picking = [{ typed_extension_config: { name, typed_config: endpointPicking } }];
  if (name !== ROUND_ROBIN) picking.push({ typed_extension_config: { name: ROUND_ROBIN, typed_config: ROUND_ROBIN_MESSAGE } });
  const config = typed(WRR_LOCALITY, { endpoint_picking_policy: { policies: picking } });
  return { name, ringHash: false, config };
}

function typedStruct(name: string, json: Record<string, unknown>): LbPolicyChoice {
  // "the type_url field of the TypedStruct [...] the last component of the path is the name of
  // the LB policy" - A52
  return { name, ringHash: false, config: typed(TYPED_STRUCT, { type_url: `type.googleapis.com/${name}`, value: toStruct(json) }) };
}

const roundRobin = (): LbPolicyChoice => wrrLocality(ROUND_ROBIN, ROUND_ROBIN_MESSAGE);

/** A gRPC service config duration ("1.5s") or grpc-js Duration object, in ms; undefined when absent or malformed. */
function durationMs(value: unknown): number | undefined {
  if (typeof value === 'string' && /^\d+(\.\d+)?s$/.test(value)) return Number(value.slice(0, -1)) * 1000;
  if (value !== null && typeof value === 'object' && 'seconds' in value) {
    const d = value as { seconds?: number; nanos?: number };
    return (d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
  }
  return undefined;
}

/** The config JSON of a grpc-ha policy without its outlier ejection, which becomes the Cluster's outlier_detection. */
function withoutOutlierEjection(json: unknown): Record<string, unknown> {
  const { outlierEjection: _dropped, ...rest } = (json ?? {}) as Record<string, unknown>;
  return rest;
}

/** Translates a service config's load balancing policy; never throws (an entry it cannot read is noted and skipped). */
export function clusterPolicy(config: ServiceConfig | null): ClusterPolicy {
  const choices: LbPolicyChoice[] = [];
  const notes: string[] = [];
  let outlierEjection: OutlierEjectionSettings | null = null;
  let hashHeader: string | undefined;
  let firstRing: RingHashOptions | undefined;

  const add = (entry: Record<string, unknown>): void => {
    const name = Object.keys(entry)[0];
    if (name === undefined) return;
    const json = entry[name];
    try {
      translate(name, json);
    } catch (error) {
      notes.push(`${name}: ${(error as Error).message}; left out`);
    }
  };

  const translate = (name: string, json: unknown): void => {
    switch (name) {
      case ROUND_ROBIN:
        choices.push(roundRobin());
        return;
      case RING_HASH:
      case 'ring_hash_experimental': {
        // grpc-ha's ring_hash, or A42's JSON (minRingSize, maxRingSize): the same fields.
        const parsed = parsePolicyConfig(ringHashPolicy, json);
        const ring = parsed.options;
        if (choices.length === 0) firstRing = ring;
        hashHeader ??= parsed.hashHeader;
        outlierEjection ??= parsed.health.outlierEjection;
        choices.push({
          name: RING_HASH,
          ringHash: true,
          config: typed('envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash', {
            hash_function: 'XX_HASH',
            minimum_ring_size: wrapped(ring.minRingSize),
            maximum_ring_size: wrapped(ring.maxRingSize),
          }),
        });
        return;
      }
      case LEAST_REQUEST: {
        const parsed = parsePolicyConfig(policyDefinition(LEAST_REQUEST)!, json);
        const options = parsed.options as { choiceCount: number };
        outlierEjection ??= parsed.health.outlierEjection;
        // grpc-ha's least_request (active request bias, slow start) for grpc-js clients that
        // registered grpc-ha's policies; then A48's LeastRequest for the clients that have it
        // (gRPC Java, Go, ...), which know no policy of that name and skip the TypedStruct.
        choices.push(typedStruct(LEAST_REQUEST, withoutOutlierEjection(json)));
        choices.push(
          wrrLocality(
            LEAST_REQUEST,
            typed('envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest', { choice_count: wrapped(options.choiceCount) }),
          ),
        );
        return;
      }
      case 'weighted_round_robin': {
        // A58's JSON config, field by field onto ClientSideWeightedRoundRobin.
        const j = (json ?? {}) as Record<string, unknown>;
        const fields: Record<string, unknown> = {};
        const d = (key: string, field: string) => {
          const ms = durationMs(j[key]);
          if (ms !== undefined) fields[field] = duration(ms);
        };
        if (typeof j.enableOobLoadReport === 'boolean') fields.enable_oob_load_report = { value: j.enableOobLoadReport };
        d('oobReportingPeriod', 'oob_reporting_period');
        d('blackoutPeriod', 'blackout_period');
        d('weightExpirationPeriod', 'weight_expiration_period');
        d('weightUpdatePeriod', 'weight_update_period');
        if (typeof j.errorUtilizationPenalty === 'number') fields.error_utilization_penalty = wrapped(j.errorUtilizationPenalty);
        choices.push(
          wrrLocality(
            'weighted_round_robin',
            typed('envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin', fields),
          ),
        );
        return;
      }
      case 'pick_first': {
        const shuffle = (json as { shuffleAddressList?: unknown } | undefined)?.shuffleAddressList === true;
        choices.push({
          name,
          ringHash: false,
          config: typed('envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst', { shuffle_address_list: shuffle }),
        });
        return;
      }
      case HEALTH_AWARE: {
        // The wrapper itself is a grpc-js composition; in xDS its health settings become the
        // Cluster's outlier detection and its children the candidates, in order.
        const fields = parseHealthAwareFields(json, { isKnown: () => true, parse: (entry) => entry });
        outlierEjection ??= fields.health.outlierEjection;
        for (const child of (json as { childPolicy: Record<string, unknown>[] }).childPolicy) add(child);
        return;
      }
      case 'outlier_detection': {
        notes.push('outlier_detection: its fields are not translated (write outlierEjection on a grpc-ha policy or health_aware); its childPolicy is');
        for (const child of ((json as { childPolicy?: Record<string, unknown>[] } | undefined)?.childPolicy ?? [])) add(child);
        return;
      }
    }
    const definition = policyDefinition(name);
    if (definition) {
      const parsed = parsePolicyConfig(definition, json);
      outlierEjection ??= parsed.health.outlierEjection;
      choices.push(typedStruct(name, withoutOutlierEjection(json)));
      return;
    }
    // Any other policy (the user's own, registered in their clients) goes as it was written.
    choices.push(typedStruct(name, (json ?? {}) as Record<string, unknown>));
  };

  const entries = config?.loadBalancingConfig.length
    ? config.loadBalancingConfig
    : config?.loadBalancingPolicy
      ? [{ [config.loadBalancingPolicy.toLowerCase()]: {} }]
      : [];
  for (const entry of entries) add(entry as Record<string, unknown>);
  if (!choices.some((c) => c.name === ROUND_ROBIN)) choices.push(roundRobin());
  return {
    choices,
    legacy: firstRing ? { lbPolicy: 'RING_HASH', ...firstRing } : { lbPolicy: 'ROUND_ROBIN' },
    outlierEjection,
    hashHeader,
    notes,
  };
}
