/**
 * The example Echo service on several worker processes sharing one port (runCluster), for the
 * cluster-mode tests. Replies carry "<id>/<worker pid>" so a test can see which worker answered.
 *
 *   node dist/src/example/ha-cluster.js --workers 2 --id c1 [--port 0]
 *
 * The primary prints {"event":"listening","port":N,"id":"..."} once every worker serves.
 */
import { parseArgs } from 'node:util';
import { runCluster } from '../server/workers.js';
import { serve } from '../server/ha-server.js';
import { ECHO_SERVICE_NAME, echoServiceDefinition } from './echo-service.js';
import { createEchoService } from './example-server.js';

const { values } = parseArgs({ options: { workers: { type: 'string', default: '2' }, id: { type: 'string', default: 'cluster' }, port: { type: 'string', default: '0' } } });
const workers = Number(values.workers);
const port = Number(values.port);
if (!Number.isInteger(workers) || workers < 1 || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`ha-cluster: --workers must be an integer >= 1 and --port in [0, 65535], got ${values.workers}, ${values.port}\n`);
  process.exit(2);
}
const handle = await runCluster({
  workers,
  worker: async () => {
    const echo = createEchoService({ id: `${values.id}/${process.pid}` });
    const instance = await serve({
      services: [{ definition: echoServiceDefinition, implementation: echo.implementation, name: ECHO_SERVICE_NAME }],
      port,
      drainNoticeMs: 300,
    });
    return instance.port;
  },
});
if (handle) process.stdout.write(`${JSON.stringify({ event: 'listening', port: handle.port, id: values.id })}\n`);
