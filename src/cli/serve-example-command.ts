/** `grpc-ha serve-example`: the example Echo backend as a grpc-ha instance, for experiments. */
import { ECHO_SERVICE_NAME, echoServiceDefinition } from '../example/echo-service.js';
import { createEchoService } from '../example/example-server.js';
import { serve } from '../server/ha-server.js';
import { CliError, EXIT } from './exit-codes.js';

/** Options of serve-example. */
export interface ServeExampleOptions {
  readonly host: string;
  readonly port: number;
  readonly id?: string;
  readonly latencyMs: number;
  readonly failRate: number;
  readonly failCode: number;
}

/** Starts the example backend; runs until SIGTERM/SIGINT (which drain it). */
export async function runServeExample(options: ServeExampleOptions): Promise<void> {
  if (!(options.failRate >= 0 && options.failRate <= 1)) throw new CliError(`serve-example: --fail-rate must be in [0, 1], got ${options.failRate}`, EXIT.USAGE);
  const echo = createEchoService({
    ...(options.id !== undefined ? { id: options.id } : {}),
    latencyMs: options.latencyMs,
    failure: options.failRate > 0 ? { code: options.failCode, rate: options.failRate } : null,
  });
  const instance = await serve({
    services: [{ definition: echoServiceDefinition, implementation: echo.implementation, name: ECHO_SERVICE_NAME }],
    host: options.host,
    port: options.port,
  });
  if (options.id === undefined) echo.setId(instance.address);
  console.log(JSON.stringify({ event: 'listening', address: instance.address, port: instance.port, id: echo.id() }));
}
