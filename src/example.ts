/**
 * `grpc-ha/example`: the example Echo service (proto/example/v1/echo.proto) with injectable
 * latency, failures and health, in-process or as a separate process (`grpc-ha serve-example`),
 * for experiments, tests and benchmarks.
 */
export {
  startExampleServer,
  createEchoService,
  type ExampleServer,
  type ExampleServerOptions,
  type ExampleServerStats,
  type EchoService,
  type FailureSpec,
} from './example/example-server.js';
export {
  EchoClient,
  ECHO_SERVICE_NAME,
  echoServiceDefinition,
  type EchoRequest,
  type EchoReply,
  type StreamRequest,
} from './example/echo-service.js';
export {
  spawnBackend,
  spawnBackendGroup,
  type BackendProcess,
  type BackendProcessOptions,
  type BackendGroup,
  type GroupServerOptions,
} from './example/backend-process.js';
