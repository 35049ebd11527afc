/**
 * The example Echo service as a full grpc-ha instance (serve(): health, drain on SIGTERM, A9
 * connection age), in its own process — what the failover tests, the demo and the benchmarks
 * kill and restart.
 *
 *   node dist/src/example/ha-backend.js --port 0 --id b1 [--latency-ms 5] [--drain-notice-ms 1000] [--drain-grace-ms 10000] [--control]
 *
 * With --control it reads commands on stdin, one a line: `latency MS` (added latency of calls
 * started from now on), `serving true|false` (its health status) and `fail RATE` (share of calls
 * answered UNAVAILABLE, 0..1); stdin closing (the parent
 * is gone) drains it as SIGTERM would.
 *
 * Prints {"event":"listening","port":N,"id":"..."} on stdout once serving; exits 0 after a drain.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { registrar } from '../discovery/registrar.js';
import type { Registry } from '../discovery/registry.js';
import { parseDiscoveryTarget, serviceTargetIn } from '../discovery/target.js';
import { serve } from '../server/ha-server.js';
import { createEchoService } from './example-server.js';
import { ECHO_SERVICE_NAME, echoServiceDefinition } from './echo-service.js';

const USAGE =
  'usage: ha-backend [--port 0] [--id ID] [--latency-ms 0] [--drain-notice-ms 1000] [--drain-grace-ms 10000] [--service NAME (--registry-dir DIR | --registry REGISTRY)] [--control]';

function num(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !(n >= min)) throw new Error(`${flag} must be a number >= ${min}, got '${text}'`);
  return n;
}

async function main(): Promise<number> {
  let args;
  try {
    const { values } = parseArgs({
      options: {
        port: { type: 'string' },
        id: { type: 'string' },
        'latency-ms': { type: 'string' },
        'drain-notice-ms': { type: 'string' },
        'drain-grace-ms': { type: 'string' },
        service: { type: 'string' },
        'registry-dir': { type: 'string' },
        registry: { type: 'string' },
        control: { type: 'boolean', default: false },
      },
    });
    const registryGiven = values['registry-dir'] !== undefined || values.registry !== undefined;
    if (values['registry-dir'] !== undefined && values.registry !== undefined) throw new Error('give --registry-dir or --registry, not both');
    if ((values.service === undefined) === registryGiven) throw new Error('--service goes with --registry-dir or --registry');
    args = {
      port: num('--port', values.port, 0) ?? 0,
      id: values.id,
      latencyMs: num('--latency-ms', values['latency-ms'], 0) ?? 0,
      drainNoticeMs: num('--drain-notice-ms', values['drain-notice-ms'], 0),
      drainGraceMs: num('--drain-grace-ms', values['drain-grace-ms'], 0),
      service: values.service,
      registry: values.registry ?? (values['registry-dir'] !== undefined ? `file:///?dir=${encodeURIComponent(path.resolve(values['registry-dir']))}` : undefined),
      control: values.control,
    };
  } catch (error) {
    process.stderr.write(`ha-backend: ${(error as Error).message} (${USAGE})\n`);
    return 2;
  }
  const echo = createEchoService({ id: args.id, latencyMs: args.latencyMs });
  // The instance appears in the registry once serving, and leaves it first when drained (when
  // killed: by the file registry's pid check, or when its etcd lease or Consul TTL check expires).
  let registry: Registry | undefined;
  if (args.registry !== undefined && args.service !== undefined) {
    const uri = serviceTargetIn(args.registry, args.service);
    if (!uri) {
      process.stderr.write(`ha-backend: --registry must be a registry like file:, etcd://HOST:PORT or consul://HOST:PORT, got '${args.registry}' (${USAGE})\n`);
      return 2;
    }
    try {
      registry = parseDiscoveryTarget(uri).createRegistry();
    } catch (error) {
      process.stderr.write(`ha-backend: --registry: ${(error as Error).message}\n`);
      return 2;
    }
  }
  const instance = await serve({
    ...(registry && args.service ? { register: registrar(registry, { service: args.service, ...(args.id ? { instanceId: args.id } : {}) }) } : {}),
    services: [{ definition: echoServiceDefinition, implementation: echo.implementation, name: ECHO_SERVICE_NAME }],
    port: args.port,
    ...(args.drainNoticeMs !== undefined ? { drainNoticeMs: args.drainNoticeMs } : {}),
    ...(args.drainGraceMs !== undefined ? { drainGraceMs: args.drainGraceMs } : {}),
  });
  if (args.id === undefined) echo.setId(instance.address);
  if (args.control) {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const [command, value] = line.trim().split(/\s+/);
      if (command === 'latency' && value !== undefined && Number(value) >= 0) echo.setLatency(Number(value));
      else if (command === 'serving' && (value === 'true' || value === 'false')) instance.setServing(value === 'true');
      else if (command === 'fail' && value !== undefined && Number(value) >= 0 && Number(value) <= 1)
        echo.setFailure(Number(value) > 0 ? { code: status.UNAVAILABLE, rate: Number(value) } : null);
      else if (line.trim() !== '') process.stderr.write(`ha-backend: unknown control line '${line}' (latency MS | serving true|false | fail RATE)\n`);
    });
    // The parent is gone: drain and exit as on SIGTERM rather than linger as an orphan.
    lines.on('close', () => process.kill(process.pid, 'SIGTERM'));
  }
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: instance.port, id: echo.id() })}\n`);
  return 0;
}

const code = await main();
if (code !== 0) process.exit(code);
