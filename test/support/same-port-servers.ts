/**
 * Example servers that share one port on different loopback addresses (127.0.0.2, 127.0.0.3 ...),
 * as pods of one Deployment share a container port: what A records and EndpointSlices describe.
 */
import { startExampleServer, type ExampleServer, type ExampleServerOptions } from '../../src/example/example-server.js';

/** Starts one server per `ids` entry on 127.0.0.<2+i>, all on the same free port. */
export async function startOnOnePort(ids: readonly string[], options: ExampleServerOptions = {}): Promise<{ port: number; servers: ExampleServer[]; hostOf(id: string): string }> {
  const hostOf = (id: string) => `127.0.0.${2 + ids.indexOf(id)}`;
  for (let attempt = 0; ; attempt++) {
    const first = await startExampleServer({ ...options, id: ids[0]!, host: hostOf(ids[0]!) });
    const servers = [first];
    try {
      for (const id of ids.slice(1)) servers.push(await startExampleServer({ ...options, id, host: hostOf(id), port: first.port }));
      return { port: first.port, servers, hostOf };
    } catch (error) {
      await Promise.all(servers.map((s) => s.stop(0)));
      if (attempt >= 4) throw error; // the port was taken on another loopback address: try another
    }
  }
}
