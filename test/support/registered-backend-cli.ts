/**
 * An example Echo server that registers itself in a registry, as its own process: the discovery
 * tests kill it for real (SIGKILL, so nothing deregisters) and the discovery benchmark times
 * how fast clients follow it.
 *
 *   node dist/src/discovery/registered-backend-cli.js --registry file --registry-dir /tmp/reg --service greeter
 *   node dist/src/discovery/registered-backend-cli.js --registry etcd --etcd 127.0.0.1:2379 --lease-ttl-s 2 --service greeter
 *
 * Prints one JSON line once bound ({"event":"listening","port":N,"id":"..."}) and one once
 * registered ({"event":"registered"}). SIGTERM/SIGINT deregister, stop the server and exit 0;
 * bad arguments print one line to stderr and exit 2.
 */
import { parseArgs } from 'node:util';
import { startExampleServer } from '../../src/example/example-server.js';
import { ConsulRegistry } from '../../src/discovery/consul-registry.js';
import { EtcdRegistry } from '../../src/discovery/etcd-registry.js';
import { FileRegistry } from '../../src/discovery/file-registry.js';
import type { Registry } from '../../src/discovery/registry.js';

const USAGE =
  'usage: registered-backend-cli --service NAME --registry file|etcd|consul [--registry-dir DIR] [--ttl-ms N] [--etcd HOST:PORT,...] [--lease-ttl-s N] [--consul-addr HOST:PORT] [--check-ttl-s N] [--port 0] [--id ID] [--instance-id ID] [--weight W] [--zone Z] [--version V] [--latency-ms 0]';

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      service: { type: 'string' },
      registry: { type: 'string' },
      'registry-dir': { type: 'string' },
      'ttl-ms': { type: 'string' },
      etcd: { type: 'string' },
      'lease-ttl-s': { type: 'string' },
      'consul-addr': { type: 'string' },
      'check-ttl-s': { type: 'string' },
      port: { type: 'string' },
      id: { type: 'string' },
      'instance-id': { type: 'string' },
      weight: { type: 'string' },
      zone: { type: 'string' },
      version: { type: 'string' },
      'latency-ms': { type: 'string' },
    },
  });
  if (!values.service) throw new Error('--service is required');
  const num = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new Error(`${flag} must be a number, got '${text}'`);
    return value;
  };
  let registry: Registry;
  switch (values.registry) {
    case 'file':
      registry = new FileRegistry({ dir: values['registry-dir'], ttlMs: num('--ttl-ms', values['ttl-ms']) });
      break;
    case 'etcd':
      registry = new EtcdRegistry({ endpoints: values.etcd?.split(','), leaseTtlS: num('--lease-ttl-s', values['lease-ttl-s']) });
      break;
    case 'consul': {
      const ttlS = num('--check-ttl-s', values['check-ttl-s']);
      registry = new ConsulRegistry({ address: values['consul-addr'], ...(ttlS === undefined ? {} : { check: { type: 'ttl', ttlS } }) });
      break;
    }
    default:
      throw new Error(`--registry must be file, etcd or consul, got '${values.registry ?? ''}'`);
  }
  return {
    registry,
    service: values.service,
    port: num('--port', values.port) ?? 0,
    id: values.id,
    instanceId: values['instance-id'],
    weight: num('--weight', values.weight),
    zone: values.zone,
    version: values.version,
    latencyMs: num('--latency-ms', values['latency-ms']) ?? 0,
  };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    console.error(`registered-backend-cli: ${(error as Error).message} (${USAGE})`);
    return 2;
  }
  const server = await startExampleServer({ port: args.port, latencyMs: args.latencyMs, ...(args.id ? { id: args.id } : {}) });
  console.log(JSON.stringify({ event: 'listening', port: server.port, id: server.id }));
  const registration = args.registry.register({
    service: args.service,
    address: server.address,
    ...(args.instanceId ? { instanceId: args.instanceId } : {}),
    ...(args.weight === undefined ? {} : { weight: args.weight }),
    ...(args.zone ? { zone: args.zone } : {}),
    ...(args.version ? { version: args.version } : {}),
  });
  void registration.ready.then((ok) => {
    if (ok) console.log(JSON.stringify({ event: 'registered', instanceId: registration.instance.instanceId }));
  });
  // Deregister first so clients stop sending, then drain the server.
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await registration.close();
  await args.registry.close();
  await server.stop(1000);
  return 0;
}

process.exitCode = await main();
