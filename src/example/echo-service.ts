/**
 * The example Echo service (proto/example/v1/echo.proto) loaded dynamically, with hand-written
 * types: tests, the demo and benchmarks share it without a codegen step.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ECHO_PROTO_FILE, PROTO_DIR } from './proto-path.js';

/** Fully-qualified name of the Echo service; also the service name its health status is kept under. */
export const ECHO_SERVICE_NAME = 'grpcha.example.v1.Echo';

/**
 * proto-loader options for the Echo proto. keepCase is off, so `server_id` is `serverId` in JS.
 * defaults is on so received messages always carry every field ('' / 0 / empty Buffer) and
 * callers never have to handle undefined; bytes stay Buffers (the default) so payloads are cheap
 * to pass through; longs/enums as strings keep values JSON-safe should the proto grow any.
 */
export const ECHO_PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** What a client sends to Unary, ClientStream and BidiStream. */
export interface EchoRequest {
  message?: string;
  /** Opaque padding, echoed back in the reply. */
  payload?: Uint8Array;
}

/** What a client sends to ServerStream. */
export interface StreamRequest {
  message?: string;
  /** Number of replies to stream back. */
  count?: number;
}

/** A reply, as received by a client (every field present thanks to `defaults: true`). */
export interface EchoReply {
  message: string;
  /** Id of the backend that answered. */
  serverId: string;
  payload: Buffer;
}

/** An EchoRequest as a server handler receives it (defaults filled in). */
export interface ReceivedEchoRequest {
  message: string;
  payload: Buffer;
}

/** A StreamRequest as a server handler receives it (defaults filled in). */
export interface ReceivedStreamRequest {
  message: string;
  count: number;
}

/** Short names of the four Echo methods, as used on clients, handlers and in stats. */
export type EchoMethodName = 'unary' | 'serverStream' | 'clientStream' | 'bidiStream';

/** Full gRPC method paths, for service configs, interceptors and call matching. */
export const ECHO_METHOD_PATHS: Readonly<Record<EchoMethodName, string>> = {
  unary: `/${ECHO_SERVICE_NAME}/Unary`,
  serverStream: `/${ECHO_SERVICE_NAME}/ServerStream`,
  clientStream: `/${ECHO_SERVICE_NAME}/ClientStream`,
  bidiStream: `/${ECHO_SERVICE_NAME}/BidiStream`,
};

/**
 * Server handlers for Echo. Keyed by the lowerCamel names: grpc-js falls back to a method's
 * `originalName` when the proto name ('Unary') is not implemented.
 */
export type EchoHandlers = {
  unary: grpc.handleUnaryCall<ReceivedEchoRequest, EchoReply>;
  serverStream: grpc.handleServerStreamingCall<ReceivedStreamRequest, EchoReply>;
  clientStream: grpc.handleClientStreamingCall<ReceivedEchoRequest, EchoReply>;
  bidiStream: grpc.handleBidiStreamingCall<ReceivedEchoRequest, EchoReply>;
};

/** Callback of unary and client-streaming calls. */
export type EchoCallback = grpc.requestCallback<EchoReply>;

/**
 * A dynamic Echo client, typed by hand to match what grpc-js generates. The PascalCase aliases
 * (`Unary`, ...) also exist at runtime but are left untyped to keep one spelling in use.
 */
export interface EchoClient extends grpc.Client {
  unary(request: EchoRequest, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: EchoCallback): grpc.ClientUnaryCall;
  unary(request: EchoRequest, metadata: grpc.Metadata, callback: EchoCallback): grpc.ClientUnaryCall;
  unary(request: EchoRequest, options: Partial<grpc.CallOptions>, callback: EchoCallback): grpc.ClientUnaryCall;
  unary(request: EchoRequest, callback: EchoCallback): grpc.ClientUnaryCall;

  serverStream(request: StreamRequest, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<EchoReply>;
  serverStream(request: StreamRequest, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<EchoReply>;

  clientStream(metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: EchoCallback): grpc.ClientWritableStream<EchoRequest>;
  clientStream(metadata: grpc.Metadata, callback: EchoCallback): grpc.ClientWritableStream<EchoRequest>;
  clientStream(options: Partial<grpc.CallOptions>, callback: EchoCallback): grpc.ClientWritableStream<EchoRequest>;
  clientStream(callback: EchoCallback): grpc.ClientWritableStream<EchoRequest>;

  bidiStream(metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
  bidiStream(options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

/** Constructor of {@link EchoClient}s (`new EchoClient(target, credentials, options?)`). */
export interface EchoClientConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): EchoClient;
  /** The service definition the client was built from. */
  readonly service: grpc.ServiceDefinition;
  readonly serviceName: string;
}

/** The loaded package definition of echo.proto (for reflection or custom loading). */
export const echoPackageDefinition: protoLoader.PackageDefinition = protoLoader.loadSync(ECHO_PROTO_FILE, ECHO_PROTO_LOADER_OPTIONS);

/** The Echo service definition, for `server.addService`. */
export const echoServiceDefinition: grpc.ServiceDefinition = lookUpService(echoPackageDefinition, ECHO_SERVICE_NAME);

/** Builds Echo clients: `new EchoClient('127.0.0.1:PORT', grpc.credentials.createInsecure())`. */
export const EchoClient: EchoClientConstructor = grpc.makeClientConstructor(echoServiceDefinition, 'Echo') as unknown as EchoClientConstructor;

function lookUpService(pkg: protoLoader.PackageDefinition, name: string): grpc.ServiceDefinition {
  const def = pkg[name];
  // Message/enum definitions carry `format`; only a service is a plain map of methods.
  if (def === undefined || 'format' in def) throw new Error(`${ECHO_PROTO_FILE} does not define service ${name}`);
  return def as grpc.ServiceDefinition;
}
