/**
 * The proxy as a process:
 *
 *   node dist/src/proxy/main.js --config proxy.yaml
 *   node dist/src/proxy/main.js --listen :8080 --target 127.0.0.1:5001,127.0.0.1:5002 [--policy least_request] [--admin 127.0.0.1:9901|off]
 *
 * Prints one JSON line to stdout once listening: {"event":"listening","port":N,"adminPort":N|null}.
 * SIGHUP reloads the config file (a bad file is logged and changes nothing); SIGTERM/SIGINT stop
 * gracefully (GOAWAY, calls in flight get --grace-ms, default 10 s). Bad arguments or config: one
 * line on stderr naming the field, exit 2.
 */
import { parseArgs } from 'node:util';
import { GrpcHaError } from '../errors.js';
import { loadProxyConfigFile, zeroConfig, type ProxyConfig } from './proxy-config.js';
import { startProxy } from './proxy.js';

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
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const graceMs = values['grace-ms'] === undefined ? 10_000 : Number(values['grace-ms']);
  if (!(graceMs >= 0)) {
    console.error(`grpc-ha proxy: --grace-ms must be a number >= 0, got '${values['grace-ms']}'`);
    return 2;
  }
  const configPath = values.config;
  const load = (): ProxyConfig => {
    if (configPath !== undefined) {
      if (values.listen !== undefined || values.target !== undefined) throw new Error('--config goes alone (no --listen/--target)');
      return loadProxyConfigFile(configPath);
    }
    if (values.target === undefined) throw new Error(`--config or --target is required\n${USAGE}`);
    let policy: unknown = values.policy;
    if (typeof policy === 'string' && policy.trim().startsWith('{')) policy = JSON.parse(policy);
    return zeroConfig(values.listen ?? ':8080', values.target, policy, values.admin);
  };

  let config: ProxyConfig;
  try {
    config = load();
  } catch (error) {
    console.error(`grpc-ha proxy: ${(error as Error).message}`);
    return 2;
  }
  let proxy;
  try {
    proxy = await startProxy(config);
  } catch (error) {
    console.error(`grpc-ha proxy: cannot start: ${(error as Error).message}`);
    return 1;
  }
  console.log(JSON.stringify({ event: 'listening', port: proxy.port, adminPort: proxy.adminPort }));

  process.on('SIGHUP', () => {
    if (configPath === undefined) {
      console.error('grpc-ha proxy: SIGHUP ignored: no --config file to reload');
      return;
    }
    try {
      proxy.reload(loadProxyConfigFile(configPath));
      console.log(JSON.stringify({ event: 'reloaded' }));
    } catch (error) {
      const message = error instanceof GrpcHaError ? error.message : String(error);
      console.error(`grpc-ha proxy: reload rejected, keeping the running config: ${message}`);
      console.log(JSON.stringify({ event: 'reload-failed', error: message }));
    }
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await proxy.close(graceMs);
  return 0;
}

process.exitCode = await main();
