/**
 * The Envoy v3 protos the control plane speaks, loaded at run time from the package that keeps
 * them for Node: `@grpc/grpc-js-xds` (the gRPC team's xDS client for grpc-js) ships the Envoy,
 * xDS/udpa, googleapis and protoc-gen-validate protos it uses itself under `deps/`, pinned to the
 * versions its client is tested against. Using them (rather than a copy in this repository, or a
 * generated package nobody maintains) keeps the server on the same definitions as the Node client
 * it is tested with. It is an optional peer dependency: only `grpc-ha xds` needs it, and it is
 * loaded on first use, with an error that names it when it is missing.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { TypedMessage } from './envoy-json.js';

/** The package the protos come from. */
export const PROTO_PACKAGE = '@grpc/grpc-js-xds';

/** `deps/` folders of the package that hold proto roots. */
const PROTO_ROOTS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];

/** Files loaded (their imports follow). */
const PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/load_balancing_policies/pick_first/v3/pick_first.proto',
  'envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3/client_side_weighted_round_robin.proto',
  'xds/type/v3/typed_struct.proto',
];

/** The ADS method (envoy/service/discovery/v3/ads.proto). */
export const ADS_METHOD_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** A resource as it goes on the wire: a `google.protobuf.Any`. */
export interface EncodedResource {
  readonly type_url: string;
  readonly value: Uint8Array;
  /**
   * The resource as an element of DiscoveryResponse.resources (field 2), encoded once: a response
   * to a hundred clients is then its few own fields and a concatenation, not a hundred encodings.
   */
  readonly field?: Buffer;
}

/** `envoy.config.core.v3.Node`, the fields read here. */
export interface XdsNode {
  readonly id: string;
  readonly cluster: string;
  readonly locality?: { readonly region: string; readonly zone: string; readonly sub_zone: string } | null;
  readonly user_agent_name: string;
  readonly user_agent_version: string;
  readonly client_features: readonly string[];
}

/** `envoy.service.discovery.v3.DiscoveryRequest`, decoded with defaults. */
export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node?: XdsNode | null;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  /** Set on a NACK: google.rpc.Status with the client's reason. */
  readonly error_detail?: { readonly code: number; readonly message: string } | null;
}

/** `envoy.service.discovery.v3.DiscoveryResponse`. */
export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly EncodedResource[];
  readonly type_url: string;
  readonly nonce: string;
}

/** Encoding and decoding of the messages the control plane exchanges. */
export interface EnvoyCodec {
  /** Where the protos came from, e.g. "@grpc/grpc-js-xds 1.14.1". */
  readonly source: string;
  /** The ADS service definition, for a grpc-js server (and for test clients). */
  readonly adsService: ServiceDefinition;
  /** Encodes a resource given as `{"@type": url, ...fields}` (fields the message lacks are dropped: tests decode what is built). */
  encodeResource(resource: TypedMessage): EncodedResource;
  /** Decodes a resource to a plain object (enums as names), for tests and diagnostics. */
  decodeResource(resource: EncodedResource): Record<string, unknown>;
}

let cached: EnvoyCodec | undefined;

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, defaults: true, arrays: true };

/** Loads the protos once; throws GrpcHaError(MISSING_DEPENDENCY) naming the package when it is not installed. */
export function envoyCodec(): EnvoyCodec {
  cached ??= load();
  return cached;
}

function load(): EnvoyCodec {
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve(`${PROTO_PACKAGE}/package.json`);
  } catch (error) {
    throw new GrpcHaError(
      ERROR_CODES.MISSING_DEPENDENCY,
      `the xDS control plane needs the Envoy protos of ${PROTO_PACKAGE}; install it next to grpc-ha: npm install ${PROTO_PACKAGE}`,
      { cause: error },
    );
  }
  const version = (require(manifest) as { version?: string }).version ?? '?';
  const roots = PROTO_ROOTS.map((d) => path.join(path.dirname(manifest), 'deps', d));
  if (!roots.every((d) => existsSync(d))) {
    throw new GrpcHaError(
      ERROR_CODES.MISSING_DEPENDENCY,
      `${PROTO_PACKAGE} ${version} has no deps/ folder with the Envoy protos (${roots.join(', ')}); install a version that ships them (>= 1.14)`,
    );
  }
  // descriptor.proto (imported by the validate annotations) ships with protobufjs as JSON.
  const descriptor = require('protobufjs/google/protobuf/descriptor.json') as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } } };
  protobuf.common('descriptor', descriptor.nested.google.nested.protobuf.nested as Record<string, protobuf.INamespace>);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith('google/protobuf/')) return target; // protobufjs's own well-known types
    for (const dir of roots) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();

  const request = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const response = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const any = root.lookupType('google.protobuf.Any');
  /** DiscoveryResponse.resources is field 2, length-delimited. */
  const RESOURCES_KEY = (2 << 3) | 2;
  const encodeResponse = (value: DiscoveryResponse): Buffer => {
    if (!value.resources.every((r) => r.field)) return Buffer.from(response.encode(response.fromObject(value)).finish());
    // Fields may come in any order on the wire ("parsers must accept fields in any order" -
    // protobuf encoding spec), so the cached resource fields follow the response's own.
    const head = response.encode(response.fromObject({ version_info: value.version_info, type_url: value.type_url, nonce: value.nonce })).finish();
    return Buffer.concat([head, ...value.resources.map((r) => r.field!)]);
  };
  const adsService: ServiceDefinition = {
    StreamAggregatedResources: {
      path: ADS_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: (value: object) => Buffer.from(request.encode(request.fromObject(value)).finish()),
      requestDeserialize: (bytes: Buffer) => request.toObject(request.decode(bytes), TO_OBJECT),
      responseSerialize: (value: DiscoveryResponse) => encodeResponse(value),
      responseDeserialize: (bytes: Buffer) => response.toObject(response.decode(bytes), { ...TO_OBJECT, bytes: Buffer }),
      originalName: 'streamAggregatedResources',
    },
  } as ServiceDefinition;
  return {
    source: `${PROTO_PACKAGE} ${version}`,
    adsService,
    encodeResource: (resource) => {
      // The Any wrapper of protobufjs packs {"@type", ...fields} by looking the type up.
      const message = any.fromObject(resource) as unknown as EncodedResource;
      const field = Buffer.from(protobuf.Writer.create().uint32(RESOURCES_KEY).bytes(any.encode(message).finish()).finish());
      return { type_url: message.type_url, value: message.value, field };
    },
    decodeResource: (resource) => {
      const type = root.lookupType(resource.type_url.slice(resource.type_url.lastIndexOf('/') + 1));
      return type.toObject(type.decode(resource.value), TO_OBJECT);
    },
  };
}
