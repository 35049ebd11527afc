/**
 * `npm start`: a small cluster on this machine, on the embedded file registry (a temporary
 * directory; nothing to install or start) — example backends as grpc-ha instances in their own
 * processes, one of them slow — and a client that finds them through the registry and balances
 * with a grpc-ha policy, printing every second where the traffic goes. Midway one backend is
 * killed and a replacement registers. Stops by itself after --duration seconds, or on Ctrl-C,
 * leaving no process and no registry entry.
 *
 *   npm start -- --policy least_request --backends 4 --duration 20
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { createClient } from '../client/create-client.js';
import { registerResolvers } from '../discovery/resolver.js';
import { POLICY_NAMES } from '../policies/register.js';
import { spawnHaBackend, type BackendProcess } from './backend-process.js';
import { ECHO_SERVICE_NAME, EchoClient } from './echo-service.js';

const USAGE = 'usage: npm start -- [--policy peak_ewma] [--backends 3] [--duration 15] [--slow-ms 25]';

function parse(): { policy: string; backends: number; durationS: number; slowMs: number } {
  const { values } = parseArgs({
    options: {
      policy: { type: 'string', default: 'peak_ewma' },
      backends: { type: 'string', default: '3' },
      duration: { type: 'string', default: '15' },
      'slow-ms': { type: 'string', default: '25' },
    },
  });
  const policy = values.policy;
  if (!(POLICY_NAMES as readonly string[]).includes(policy) && policy !== 'round_robin') {
    throw new Error(`--policy must be one of ${[...POLICY_NAMES, 'round_robin'].join(', ')}, got '${policy}'`);
  }
  const int = (flag: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} must be an integer in [${min}, ${max}], got '${text}'`);
    return n;
  };
  return {
    policy,
    backends: int('--backends', values.backends, 2, 16),
    durationS: int('--duration', values.duration, 1, 3600),
    slowMs: int('--slow-ms', values['slow-ms'], 0, 10_000),
  };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parse();
  } catch (error) {
    console.error(`demo: ${(error as Error).message} (${USAGE})`);
    return 2;
  }
  registerResolvers();
  const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-demo-'));
  const target = `file:///echo?dir=${encodeURIComponent(dir)}`;
  console.log(`grpc-ha demo: ${args.backends} backends (the last one +${args.slowMs} ms), policy ${args.policy}, ${args.durationS} s`);
  console.log(`registry: ${dir} (target ${target})`);
  const backends: BackendProcess[] = [];
  const spawn = async (i: number, latencyMs: number, id = `backend-${i}`) => {
    const b = await spawnHaBackend({ id, latencyMs, service: 'echo', registryDir: dir, drainNoticeMs: 300, env: { GRPC_HA_LOG_LEVEL: 'warn' } });
    console.log(`started ${b.id} (pid ${b.child.pid}, ${b.address}${latencyMs > 1 ? `, +${latencyMs} ms` : ''})`);
    return b;
  };
  const stopAll = async () => {
    await Promise.all(backends.map((b) => b.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let i = 0; i < args.backends; i++) {
      const slow = i === args.backends - 1;
      backends.push(await spawn(i, slow ? args.slowMs : 1, slow ? `backend-${i} (slow)` : `backend-${i}`));
    }
    const key = args.policy === 'ring_hash' ? { ring_hash: { requestHashHeader: 'x-user-id' } } : { [args.policy]: {} };
    const client = createClient(EchoClient, target, { policy: key, idempotent: [ECHO_SERVICE_NAME] });
    // The failover story: midway a backend dies (SIGKILL), a little later a replacement registers.
    const killAt = setTimeout(() => {
      const victim = backends.shift()!;
      console.log(`>>> killing ${victim.id} (SIGKILL): its calls are retried elsewhere, the registry forgets it`);
      void victim.stop('SIGKILL');
    }, args.durationS * 400);
    const replaceAt = setTimeout(() => {
      const id = `backend-${args.backends}`;
      console.log(`>>> starting ${id}: it registers, and clients find it`);
      void spawn(args.backends, 1, id).then((b) => (stopping ? b.stop() : backends.push(b)));
    }, args.durationS * 550);
    const counts = new Map<string, number>();
    let failed = 0;
    let total = 0;
    const end = Date.now() + args.durationS * 1000;
    const ticker = setInterval(() => {
      const sum = [...counts.values()].reduce((a, b) => a + b, 0) || 1;
      const parts = [...counts.keys()].sort().map((id) => `${id} ${(((counts.get(id) ?? 0) / sum) * 100).toFixed(0).padStart(3)}%`);
      console.log(`${sum.toString().padStart(5)} calls/s  ${parts.join('  ')}  failed ${failed}`);
      counts.clear();
    }, 1000);
    const worker = async (w: number) => {
      for (let i = 0; Date.now() < end && !stopping; i++) {
        const md = new Metadata();
        md.set('x-user-id', `user-${w}-${i % 50}`);
        await new Promise<void>((resolve) =>
          client.unary({ message: 'demo' }, md, { deadline: Date.now() + 2000 }, (err: ServiceError | null, r) => {
            total++;
            if (err) failed++;
            else counts.set(r!.serverId, (counts.get(r!.serverId) ?? 0) + 1);
            resolve();
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    clearInterval(ticker);
    clearTimeout(killAt);
    clearTimeout(replaceAt);
    client.close();
    console.log(`summary: ${total} calls, ${failed} failed, policy ${args.policy}`);
    return failed === 0 ? 0 : 1;
  } finally {
    await stopAll();
  }
}

process.exitCode = await main();
