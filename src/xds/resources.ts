/**
 * The four xDS resources that make `xds:///<service>` work in a gRPC client (gRFC A27), all named
 * after the service:
 *
 *   Listener <service>            an API listener whose HttpConnectionManager takes its routes
 *                                 from RDS over the same ADS stream, with the router filter
 *   RouteConfiguration <service>  one virtual host, routes from the service config (routes.ts)
 *   Cluster <service>             EDS, balancing and outlier detection from the service config
 *   ClusterLoadAssignment <service>  the instances, one locality per zone, with health and weight
 */
import type { ClusterPolicy } from './lb-policy.js';
import { loadBalancingPolicy } from './lb-policy.js';
import { outlierDetectionMessage } from './outlier-detection.js';
import { typed, TYPE_URL_PREFIX, wrapped, type TypedMessage } from './envoy-json.js';

/** Type URLs of the resources, by the short name used in reports. */
export const RESOURCE_TYPES = {
  listener: `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`,
  route: `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`,
  cluster: `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`,
  endpoints: `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
} as const;

/** A resource type, by short name. */
export type ResourceType = keyof typeof RESOURCE_TYPES;

/** The short name of a type URL, or undefined for a type this server does not serve. */
export function resourceTypeOf(typeUrl: string): ResourceType | undefined {
  for (const [k, v] of Object.entries(RESOURCE_TYPES)) if (v === typeUrl) return k as ResourceType;
  return undefined;
}

/** `HealthStatus` of an endpoint (envoy/config/core/v3/health_check.proto). */
export type EndpointHealthStatus = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING';

/** One endpoint as published in a ClusterLoadAssignment. */
export interface PublishedEndpoint {
  /** An IP literal: gRPC clients reject host names in EDS. */
  readonly ip: string;
  readonly port: number;
  /** Locality zone; "" when the instance has none. */
  readonly zone: string;
  /** Integer weight >= 1. */
  readonly weight: number;
  readonly health: EndpointHealthStatus;
}

const ADS = { ads: {}, resource_api_version: 'V3' };

/** The Listener of `service`. */
export function listenerResource(service: string): TypedMessage {
  return typed('envoy.config.listener.v3.Listener', {
    name: service,
    api_listener: {
      api_listener: typed('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
        rds: { route_config_name: service, config_source: ADS },
        // "The router filter must be the last filter in the chain" - A39.
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: typed('envoy.extensions.filters.http.router.v3.Router') }],
      }),
    },
  });
}

/** The RouteConfiguration of `service`. */
export function routeResource(service: string, routes: readonly Record<string, unknown>[]): TypedMessage {
  return typed('envoy.config.route.v3.RouteConfiguration', {
    name: service,
    virtual_hosts: [{ name: service, domains: ['*'], routes }],
  });
}

/** The Cluster of `service`; `ringHash` false leaves ring hash out for a client that cannot run it. */
export function clusterResource(service: string, policy: ClusterPolicy, ringHash: boolean): TypedMessage {
  const choices = ringHash ? policy.choices : policy.choices.filter((c) => !c.ringHash);
  const legacy = ringHash ? policy.legacy : { lbPolicy: 'ROUND_ROBIN' as const };
  return typed('envoy.config.cluster.v3.Cluster', {
    name: service,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS, service_name: service },
    lb_policy: legacy.lbPolicy,
    ...(legacy.lbPolicy === 'RING_HASH' && {
      ring_hash_lb_config: {
        hash_function: 'XX_HASH',
        minimum_ring_size: wrapped(legacy.minRingSize),
        maximum_ring_size: wrapped(legacy.maxRingSize),
      },
    }),
    load_balancing_policy: loadBalancingPolicy(choices),
    ...(policy.outlierEjection && { outlier_detection: outlierDetectionMessage(policy.outlierEjection) }),
  });
}

/** The ClusterLoadAssignment of `service`: one locality per zone, all at priority 0. */
export function endpointsResource(service: string, endpoints: readonly PublishedEndpoint[]): TypedMessage {
  const byZone = new Map<string, PublishedEndpoint[]>();
  for (const e of endpoints) {
    let list = byZone.get(e.zone);
    if (!list) byZone.set(e.zone, (list = []));
    list.push(e);
  }
  const localities = [...byZone].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([zone, list]) => {
    // "localities with a weight of 0 [...] are ignored" (A27): a locality weighs the sum of the
    // weights of its usable endpoints, so round robin across zones matches endpoint weights.
    const usable = list.filter((e) => e.health === 'HEALTHY' || e.health === 'UNKNOWN');
    const weight = Math.max(1, Math.min(0xffffffff, usable.reduce((sum, e) => sum + e.weight, 0)));
    return {
      locality: { zone },
      load_balancing_weight: wrapped(weight),
      priority: 0,
      lb_endpoints: list.map((e) => ({
        endpoint: { address: { socket_address: { address: e.ip, port_value: e.port } } },
        health_status: e.health,
        load_balancing_weight: wrapped(e.weight),
      })),
    };
  });
  return typed('envoy.config.endpoint.v3.ClusterLoadAssignment', { cluster_name: service, endpoints: localities });
}
