/**
 * `grpc-ha/xds`: the xDS control plane as a library — what `grpc-ha xds` runs. gRPC clients in
 * any language dial `xds:///<service>` and balance over a grpc-ha registry (docs/xds.md). Its Envoy
 * protos come from the optional peer dependency `@grpc/grpc-js-xds`, loaded on first start.
 */
export { startXdsServer, type XdsServer, type XdsServerOptions } from './xds/xds-server.js';
export { XDS_DEFAULTS, type XdsTls } from './xds/xds-config.js';
export type { XdsServerView, XdsServiceView, XdsEndpointView, XdsClientView, XdsSubscriptionView, XdsNackView } from './observe/xds-observer.js';
