/**
 * The proxy as a process (the same as `grpc-ha proxy`):
 *
 *   node dist/src/proxy/main.js --config proxy.yaml
 *   node dist/src/proxy/main.js --listen :8080 --target 127.0.0.1:5001,127.0.0.1:5002 [--policy least_request] [--admin 127.0.0.1:9901|off]
 *
 * Prints one JSON line to stdout once listening: {"event":"listening","port":N,"adminPort":N|null}.
 * SIGHUP reloads the config file, listener included (a bad file is logged and changes nothing);
 * SIGTERM/SIGINT stop gracefully (GOAWAY, calls in flight get --grace-ms, default 10 s). Bad
 * arguments or config: one line on stderr naming the field, exit 2.
 */
import { parseArgs } from 'node:util';
import { PROXY_EXIT, runProxyProcess, type ProxyConfigSource } from './proxy-process.js';

const USAGE =
  'usage: main.js --config proxy.yaml | main.js --listen :8080 --target host:port,... [--policy NAME|JSON] [--admin 127.0.0.1:9901|off] [--grace-ms 10000]';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        target: { type: 'string' },
        policy: { type: 'string' },
        admin: { type: 'string' },
        'grace-ms': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`grpc-ha proxy: ${(error as Error).message}\n${USAGE}`);
    return PROXY_EXIT.BAD_CONFIG;
  }
  if (values.help) {
    console.log(USAGE);
    return PROXY_EXIT.OK;
  }
  const graceMs = values['grace-ms'] === undefined ? 10_000 : Number(values['grace-ms']);
  if (!(graceMs >= 0)) {
    console.error(`grpc-ha proxy: --grace-ms must be a number >= 0, got '${values['grace-ms']}'`);
    return PROXY_EXIT.BAD_CONFIG;
  }
  let source: ProxyConfigSource;
  if (values.config !== undefined) {
    if (values.listen !== undefined || values.target !== undefined) {
      console.error('grpc-ha proxy: --config goes alone (no --listen/--target)');
      return PROXY_EXIT.BAD_CONFIG;
    }
    source = { configPath: values.config };
  } else if (values.target !== undefined) {
    source = { listen: values.listen, target: values.target, policy: values.policy, admin: values.admin };
  } else {
    console.error(`grpc-ha proxy: --config or --target is required\n${USAGE}`);
    return PROXY_EXIT.BAD_CONFIG;
  }
  return runProxyProcess(source, graceMs);
}

process.exitCode = await main();
