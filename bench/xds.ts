/**
 * `xds`: the xDS control plane (`grpc-ha xds`, its own process) seen by its clients.
 *
 * Join and leave, per trial, with a Python client (Debian python3-grpcio 1.51 dialling
 * xds:///bench-xds, one call every 2 ms) and, in the same trials as the baseline, a grpc-ha
 * client in this process resolving the same file registry itself (file:///bench-xds, `random`
 * with client-side health checks):
 * - join_ms: from `register()` of a fresh backend until the first reply from it;
 * - leave_ms: from the backend turning NOT_SERVING until its last reply (0 when none came after).
 * Both include everything a user sees: registry watch, the control plane's health check and
 * push, the client's connection.
 *
 * Scale: 1000 endpoints (a static registry file; health checks off, nothing listens there) and
 * simulated ADS clients (test/support/ads-client.ts), 1 and then 100 in the same run. For each of
 * K registry changes (one endpoint added or removed): push_ms = arrival of the new EDS at a client
 * minus the moment the control plane received the change (its admin API's changedAt, same
 * clock); the control plane's CPU time per change and its RSS, read from /proc.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { createClient } from '../src/client/create-client.js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { registerPolicies } from '../src/grpc/register-policies.js';
import type { XdsServiceView } from '../src/observe/xds-observer.js';
import { AdsClient } from '../test/support/ads-client.js';
import { tempDir } from '../test/support/discovery.js';
import { spawnXdsControlPlane, startPythonXdsClient, writeBootstrap, type XdsProcess } from '../test/support/xds-peers.js';
import { quantile, round2 } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const SERVICE = 'bench-xds';
const TARGET_MS = 1000;
const QUIET_MS = 300;
const now = () => performance.timeOrigin + performance.now();

/** Runs the xds scenario. */
export async function runXdsBench(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  rows.push(...(await joinLeave(ctx, ctx.quick ? 3 : 10)));
  rows.push(...(await scale(ctx, ctx.quick ? 5 : 20)));
  return rows;
}

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`xds bench: ${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** First and last reply time of one backend, per client. */
interface Seen {
  first: number;
  last: number;
}

async function joinLeave(ctx: BenchContext, trials: number): Promise<BenchRow[]> {
  registerResolvers();
  registerPolicies();
  const tmp = tempDir('grpc-ha-bench-xds');
  const registry = new FileRegistry({ dir: tmp.dir });
  const stable: ExampleServer[] = [];
  let cp: XdsProcess | undefined;
  let native: EchoClient | undefined;
  let running = true;
  const loops: Promise<void>[] = [];
  try {
    for (const id of ['stable-1', 'stable-2']) {
      const s = await startExampleServer({ id });
      stable.push(s);
      await registry.register({ service: SERVICE, address: s.address }).ready;
    }
    cp = await spawnXdsControlPlane(['--listen', '127.0.0.1:0', '--registry', `file:///?dir=${tmp.dir}`, '--admin', 'off'], { GRPC_HA_LOG_LEVEL: 'warn' });
    const python = await startPythonXdsClient(writeBootstrap(tmp.dir, cp.address, 'bench-py'), `xds:///${SERVICE}`, { intervalMs: 2, durationS: 600 });
    // The baseline: a grpc-ha client that resolves the registry itself and checks health itself.
    native = createClient(EchoClient, `file:///${SERVICE}?dir=${encodeURIComponent(tmp.dir)}`, { policy: 'random', healthCheckServiceName: '', deadlineMs: 2000 });
    const nativeSeen = new Map<string, Seen>();
    for (let i = 0; i < 4; i++) {
      const client = native;
      loops.push(
        (async () => {
          while (running) {
            await new Promise<void>((resolve) =>
              client.unary({ message: 'x' }, (error, reply) => {
                if (!error) {
                  const t = now();
                  const s = nativeSeen.get(reply!.serverId) ?? { first: t, last: t };
                  s.last = t;
                  nativeSeen.set(reply!.serverId, s);
                }
                resolve();
              }),
            );
          }
        })(),
      );
    }
    const pySeen = (id: string, since: number): Seen | undefined => {
      const at = python.calls.filter((c) => c.server === id && c.at > since).map((c) => c.at);
      return at.length ? { first: Math.min(...at), last: Math.max(...at) } : undefined;
    };
    const join = { py: [] as number[], native: [] as number[] };
    const leave = { py: [] as number[], native: [] as number[] };
    for (let trial = 0; trial < trials; trial++) {
      const id = `trial-${trial}`;
      const server = await startExampleServer({ id });
      const registered = now();
      const registration = registry.register({ service: SERVICE, address: server.address });
      await waitUntil(`${id} reached by both clients`, () => pySeen(id, registered) !== undefined && nativeSeen.has(id));
      join.py.push(pySeen(id, registered)!.first - registered);
      join.native.push(nativeSeen.get(id)!.first - registered);
      const notServing = now();
      server.setServing(false);
      const lastOf = () => Math.max(pySeen(id, registered)?.last ?? 0, nativeSeen.get(id)?.last ?? 0, notServing);
      await waitUntil(`${id} left by both clients`, () => now() - lastOf() > QUIET_MS);
      leave.py.push(Math.max(0, (pySeen(id, registered)?.last ?? 0) - notServing));
      leave.native.push(Math.max(0, (nativeSeen.get(id)?.last ?? 0) - notServing));
      await registration.close();
      await server.stop(0);
      ctx.log(`trial ${trial}: join py ${round2(join.py.at(-1)!)} ms native ${round2(join.native.at(-1)!)} ms; leave py ${round2(leave.py.at(-1)!)} ms native ${round2(leave.native.at(-1)!)} ms`);
    }
    const errors = python.calls.filter((c) => c.error).length;
    await python.stop();
    const row = (client: string, j: number[], l: number[], note: string): BenchRow => ({
      scenario: 'xds',
      measure: 'join/leave',
      client,
      trials,
      join_ms_p50: round2(quantile(j, 0.5)),
      join_ms_max: round2(Math.max(...j)),
      leave_ms_p50: round2(quantile(l, 0.5)),
      leave_ms_max: round2(Math.max(...l)),
      join_vs_native_p50: round2(quantile(j, 0.5) / quantile(join.native, 0.5)),
      leave_vs_native_p50: round2(quantile(l, 0.5) / Math.max(1, quantile(leave.native, 0.5))),
      target_ms: TARGET_MS,
      meets_target: Math.max(...j) <= TARGET_MS && Math.max(...l) <= TARGET_MS,
      note,
    });
    const rows = [
      row('python grpcio 1.51 via xDS', join.py, leave.py, `${errors} failed calls of ${python.calls.length}`),
      row('grpc-ha native resolver (baseline)', join.native, leave.native, 'resolves the file registry and health-checks itself'),
    ];
    for (const r of rows) ctx.emit(r);
    return rows;
  } finally {
    running = false;
    await Promise.all(loops);
    native?.close();
    await cp?.stop();
    await registry.close();
    await Promise.all(stable.map((s) => s.stop(0)));
    tmp.remove();
  }
}

/** CPU time (user + system) of a process, ms, from /proc. */
function cpuMs(pid: number, tick: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / tick;
}

/** Resident memory of a process, MiB, from /proc. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function scale(ctx: BenchContext, changes: number): Promise<BenchRow[]> {
  const endpoints = 1000;
  const tmp = tempDir('grpc-ha-bench-xds-scale');
  const file = path.join(tmp.dir, 'services.json');
  const instances = (extra: boolean) => {
    const list = Array.from({ length: endpoints }, (_, i) => ({ address: `127.0.0.1:${20_000 + i}`, zone: `zone-${i % 4}` }));
    if (extra) list.push({ address: '127.0.0.1:21000', zone: 'zone-0' });
    return list;
  };
  const write = (extra: boolean) => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ [SERVICE]: { instances: instances(extra) } }));
    execFileSync('mv', [`${file}.tmp`, file]);
  };
  write(false);
  const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const cp = await spawnXdsControlPlane(['--listen', '127.0.0.1:0', '--registry', `static:///?file=${file}`, '--no-health-checks', '--admin', '127.0.0.1:0'], { GRPC_HA_LOG_LEVEL: 'warn' });
  const pid = cp.child.pid!;
  const service = async (): Promise<XdsServiceView> => {
    const state = (await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/state`)).json()) as { xds: { services: XdsServiceView[] }[] };
    return state.xds[0]!.services.find((s) => s.service === SERVICE)!;
  };
  const rows: BenchRow[] = [];
  let extra = false;
  try {
    for (const count of [1, 100]) {
      const clients = Array.from({ length: count }, (_, i) => new AdsClient(cp.address, { nodeId: `sim-${count}-${i}`, decode: false }));
      for (const c of clients) for (const type of ['listener', 'route', 'cluster', 'endpoints'] as const) c.subscribe(type, [SERVICE]);
      const eds = (c: AdsClient) => c.responses.filter((r) => r.type === 'endpoints');
      await waitUntil(`${count} clients with endpoints`, () => clients.every((c) => eds(c).length > 0), 30_000);
      const bytes = eds(clients[0]!)[0]!.bytes;
      const idleCpu = cpuMs(pid, tick);
      await new Promise((r) => setTimeout(r, 2000));
      const idleCpuPerS = (cpuMs(pid, tick) - idleCpu) / 2;
      const rss = rssMiB(pid);
      const latencies: number[] = [];
      const cpuStart = cpuMs(pid, tick);
      for (let k = 0; k < changes; k++) {
        const seen = clients.map((c) => eds(c).length);
        extra = !extra;
        write(extra);
        await waitUntil(`change ${k} at ${count} clients`, () => clients.every((c, i) => eds(c).length > seen[i]!), 30_000);
        const changedAt = (await service()).changedAt;
        for (const c of clients) latencies.push(eds(c).at(-1)!.at - changedAt);
      }
      const cpuPerChange = (cpuMs(pid, tick) - cpuStart) / changes;
      for (const c of clients) c.close();
      const row: BenchRow = {
        scenario: 'xds',
        measure: 'push',
        clients: count,
        endpoints,
        changes,
        eds_bytes: bytes,
        push_ms_p50: round2(quantile(latencies, 0.5)),
        push_ms_p99: round2(quantile(latencies, 0.99)),
        push_ms_max: round2(Math.max(...latencies)),
        cpu_ms_per_change: round2(cpuPerChange),
        idle_cpu_ms_per_s: round2(idleCpuPerS),
        rss_mib: round2(rss),
        target_push_p99_ms: 100,
        meets_target: quantile(latencies, 0.99) <= 100,
      };
      ctx.log(`${count} clients: push p50 ${row.push_ms_p50} ms p99 ${row.push_ms_p99} ms, ${row.cpu_ms_per_change} ms CPU per change, ${row.rss_mib} MiB`);
      rows.push(row);
      await new Promise((r) => setTimeout(r, 500));
    }
    const [one, hundred] = rows;
    hundred!.push_p99_vs_1_client = round2((hundred!.push_ms_p99 as number) / Math.max(0.01, one!.push_ms_p99 as number));
    for (const r of rows) ctx.emit(r);
    return rows;
  } finally {
    await cp.stop();
    tmp.remove();
  }
}
