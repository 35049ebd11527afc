/**
 * Per-endpoint metadata a resolver attaches to the endpoints it reports (weight, zone, version,
 * labels). grpc-js's `Endpoint` carries only addresses but passes the objects through untouched,
 * so a resolver adds an `attributes` property and the grpc-ha policies read it.
 */
import { experimental } from '@grpc/grpc-js';

/** Metadata of one endpoint, as registries describe it. */
export interface EndpointAttributes {
  /** Static weight (> 0) for weighted policies. Defaults to 1. */
  readonly weight?: number;
  /** Failure domain, e.g. "eu-west-1a". */
  readonly zone?: string;
  /** Software version, for canaries. */
  readonly version?: string;
  /** The registering instance's id. */
  readonly instanceId?: string;
  /** Free-form labels. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A grpc-js endpoint with grpc-ha attributes. */
export type AttributedEndpoint = experimental.Endpoint & { attributes?: EndpointAttributes };

/** Returns `endpoint` carrying `attributes`; resolvers use it to report metadata to the policies. */
export function withAttributes(endpoint: experimental.Endpoint, attributes: EndpointAttributes): AttributedEndpoint {
  return { ...endpoint, attributes };
}

/** The attributes a resolver attached to `endpoint`, if any. */
export function attributesOf(endpoint: experimental.Endpoint): EndpointAttributes | undefined {
  return (endpoint as AttributedEndpoint).attributes;
}

/** A stable identity for an endpoint: its addresses, in order, joined by commas. */
export function endpointKey(endpoint: experimental.Endpoint): string {
  return endpoint.addresses.map(experimental.subchannelAddressToString).join(',');
}
