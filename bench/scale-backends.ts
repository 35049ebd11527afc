/**
 * The backends of the `proxy-scale` bench: one grpc-js server in this process, bound to `N`
 * ports on 127.0.0.1, serving the example Echo service and the standard grpc.health.v1.Health
 * (addHealthService, as every grpc-ha server does). One process hosting a thousand backends keeps
 * the machine's 2 cores for the proxy under measurement; each port is still a separate listening
 * socket, so every backend is its own HTTP/2 connection and its own health-check stream to the
 * proxy. Run as `node scale-backends.js N`; prints `{"ports":[...]}` once every port is bound.
 */
import * as grpc from '@grpc/grpc-js';
import { createEchoService } from '../src/example/example-server.js';
import { echoServiceDefinition } from '../src/example/echo-service.js';
import { addHealthService } from '../src/server/health-service.js';

async function main(): Promise<void> {
  const count = Number(process.argv[2]);
  if (!Number.isInteger(count) || count < 1) throw new Error(`scale-backends: the number of ports must be an integer >= 1, got ${process.argv[2]}`);
  const server = new grpc.Server();
  server.addService(echoServiceDefinition, createEchoService({ id: 'scale' }).implementation);
  addHealthService(server);
  const ports: number[] = [];
  // In batches: a thousand binds at once would each wait on the same event loop turn anyway.
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, () =>
      new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port)))),
    );
    ports.push(...(await Promise.all(batch)));
  }
  console.log(JSON.stringify({ ports }));
  process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
