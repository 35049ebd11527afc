/**
 * `proxy-scale`: what the grpc-ha proxy (`--workers 2`: a primary and two workers) costs as its
 * configuration grows, one row per size:
 *
 * - `backends`: one cluster of 1 / 10 / 100 / 1,000 backends, health-checked by `watch` (one
 *   grpc.health.v1 Watch stream per backend) and by `check` every second (Envoy's model): memory
 *   of each process once every backend is healthy, the memory each added backend costs, the
 *   proxy's CPU while idle, and the health-check traffic (bytes both ways on every backend socket);
 * - `clusters`: 100 clusters of 10 backends, against the row of one cluster of 1,000;
 * - `idle-connections`: 1,000 then 10,000 client connections, each after one call, and the
 *   memory each costs.
 *
 * The backends are one grpc-js process bound to 1,000 ports (scale-backends.ts). Memory is the
 * RSS of each process (/proc/<pid>/status); CPU is utime + stime over three windows, the median
 * and the spread reported. File descriptors: the bench and the proxy need one per connection; the
 * proxy's processes are started under `ulimit -n` raised to the hard limit, and the bench opens
 * only as many connections as its own soft limit allows (it says so).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ProxyState } from '../src/observe/proxy-state.js';
import { idleCallBytes, openIdleConnection } from './idle-h2-client.js';
import { round2 } from './load.js';
import { cpuTicks, processTree, rssMb, spawnGrpcHaProxy, type GrpcHaProcess } from './proxy.js';
import type { BenchContext, BenchRow } from './types.js';

const BACKENDS_ENTRY = fileURLToPath(new URL('./scale-backends.js', import.meta.url));
const WORKERS = 2;
const CLK_TCK = 100;
/** Idle connections per step, and how many are opened at once (a burst past the accept backlog would only measure SYN retries). */
const CONNECTION_STEPS = [1000, 10_000];
const OPEN_BATCH = 200;
/** EchoRequest{message: "scale"} behind the 5-byte gRPC message prefix. */
const ECHO_BODY = Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from('scale')]);

/** `Max open files` of this process (/proc/self/limits): soft and hard. */
function openFileLimits(): { soft: number; hard: number } {
  const line = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(line?.[1]), hard: n(line?.[2]) };
}

/** The backend process and its ports. */
async function startBackends(count: number): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = spawn(process.execPath, [BACKENDS_ENTRY, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { ports: number[] }).ports));
    child.once('exit', (code) => reject(new Error(`scale backends exited with ${code}`)));
  });
  return { child, ports };
}

/** Bytes sent and received over every established TCP socket of `pid` (`ss -tinp`: bytes_sent, bytes_received). */
function socketBytes(pid: number): number {
  const out = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  let total = 0;
  let ours = false;
  for (const line of out.split('\n')) {
    if (!line.startsWith('\t') && !line.startsWith(' ')) {
      ours = line.includes(`pid=${pid},`);
      continue;
    }
    if (!ours) continue;
    total += Number(/bytes_sent:(\d+)/.exec(line)?.[1] ?? 0) + Number(/bytes_received:(\d+)/.exec(line)?.[1] ?? 0);
  }
  return total;
}

/** What one configuration of the proxy costs once it settled. */
interface Footprint {
  /** RSS of the primary, MB. */
  primaryMb: number;
  /** RSS of each worker, MB. */
  workersMb: number[];
  totalMb: number;
  /** CPU of all the proxy's processes, % of one core: median of the windows, and min-max. */
  cpuPct: number;
  cpuSpread: string;
  /** Bytes per second both ways on the backends' sockets (median of the windows). */
  backendBytesPerS: number;
}

/** Three windows of CPU (and backend traffic) and the RSS of every process of `proxy`. */
async function footprint(proxy: GrpcHaProcess, backendPid: number, windowMs: number): Promise<Footprint> {
  const pids = processTree(proxy.pid);
  const cpu: number[] = [];
  const bytes: number[] = [];
  for (let w = 0; w < 3; w++) {
    const t0 = performance.now();
    const c0 = pids.reduce((n, pid) => n + cpuTicks(pid), 0);
    const b0 = socketBytes(backendPid);
    await sleep(windowMs);
    const seconds = (performance.now() - t0) / 1000;
    cpu.push((((pids.reduce((n, pid) => n + cpuTicks(pid), 0) - c0) / CLK_TCK) * 100) / seconds);
    bytes.push((socketBytes(backendPid) - b0) / seconds);
  }
  const [primaryMb, ...workersMb] = pids.map(rssMb) as [number, ...number[]];
  return {
    primaryMb,
    workersMb,
    totalMb: primaryMb + workersMb.reduce((a, b) => a + b, 0),
    cpuPct: median(cpu),
    cpuSpread: `${round2(Math.min(...cpu))}-${round2(Math.max(...cpu))}`,
    backendBytesPerS: median(bytes),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * CPU time the proxy's processes used since they started, ms: the cost of getting every backend
 * healthy, which, unlike `ready_ms`, does not depend on how busy the shared machine was.
 */
function cpuMs(proxy: GrpcHaProcess): number {
  return processTree(proxy.pid).reduce((n, pid) => n + cpuTicks(pid), 0) * (1000 / CLK_TCK);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The proxy's state from its admin endpoint. */
async function proxyState(proxy: GrpcHaProcess): Promise<ProxyState> {
  return (await (await fetch(`http://127.0.0.1:${proxy.adminPort}/state`)).json()) as ProxyState;
}

/** Starts the proxy on `config` (YAML) with its file limit raised to `hard`. */
function startProxy(dir: string, config: string, hard: number): Promise<GrpcHaProcess> {
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, config);
  // The shell raises the soft limit to the hard one (a process may), then becomes the proxy.
  const wrap = ['sh', '-c', 'ulimit -n "$0" 2>/dev/null; exec "$@"', String(Math.min(hard, 1_048_576))];
  return spawnGrpcHaProxy(['--config', file, '--grace', '100ms'], WORKERS, undefined, wrap);
}

/**
 * Waits until every backend of every cluster is available, or `timeoutMs`: how long it took (null
 * when not all were) and how many were available then.
 */
async function untilHealthy(proxy: GrpcHaProcess, backends: number, t0: number, timeoutMs = 180_000): Promise<{ ms: number | null; healthy: number }> {
  for (;;) {
    const state = await proxyState(proxy);
    const healthy = state.clusters.reduce((n, c) => n + c.backends.filter((b) => b.available).length, 0);
    if (healthy === backends) return { ms: performance.now() - t0, healthy };
    if (performance.now() - t0 > timeoutMs) return { ms: null, healthy };
    // Once a second: a /state of 1,000 backends gathers every worker's view of each, and polling
    // it faster would measure the polling.
    await sleep(1000);
  }
}

const yamlConfig = (clusters: readonly (readonly string[])[], health: string): string =>
  [
    'listen: 127.0.0.1:0',
    'admin: { listen: "127.0.0.1:0" }',
    `workers: ${WORKERS}`,
    'clusters:',
    ...clusters.flatMap((addresses, i) => [`  c${i}:`, `    target: "${addresses.join(',')}"`, ...(health ? [`    healthCheck: ${health}`] : [])]),
    ...(clusters.length > 1 ? ['routes:', '  - { prefix: "/", cluster: c0 }'] : []),
    '',
  ].join('\n');

/**
 * Health-check modes of the rows: Watch (the default), and Check every second (Envoy's model),
 * with a 5 s deadline: one process answers for all 1,000 backends on a shared machine, and the
 * default 1 s deadline would measure that process's queue, not the proxy.
 */
const HEALTH_MODES: readonly [string, string][] = [
  ['watch', '{ mode: watch }'],
  ['check 1s', '{ mode: check, intervalMs: 1000, timeoutMs: 5000 }'],
];

/** Runs the growth scenarios. */
export async function runProxyScaleBench(ctx: BenchContext): Promise<BenchRow[]> {
  const limits = openFileLimits();
  ctx.log(`open files: soft ${limits.soft}, hard ${limits.hard} (the proxy's processes run with the hard limit)`);
  const sizes = ctx.quick ? [1, 10, 100] : [1, 10, 100, 1000];
  const windowMs = ctx.quick ? 1000 : 3000;
  const dir = mkdtempSync(join(os.tmpdir(), 'grpc-ha-bench-proxy-scale-'));
  const backends = await startBackends(Math.max(...sizes));
  const addresses = backends.ports.map((p) => `127.0.0.1:${p}`);
  const rows: BenchRow[] = [];
  const emit = (row: BenchRow) => {
    ctx.emit(row);
    rows.push(row);
  };
  const procs = (f: Footprint) => ({
    rss_mb_primary: round2(f.primaryMb),
    rss_mb_workers: f.workersMb.map(round2).join('/'),
    rss_mb_total: round2(f.totalMb),
  });
  try {
    // Backends in one cluster, in each health-check mode.
    const largest = new Map<string, Footprint>();
    for (const [mode, health] of HEALTH_MODES) {
      let previous: { n: number; f: Footprint } | undefined;
      for (const n of sizes) {
        const t0 = performance.now();
        const proxy = await startProxy(dir, yamlConfig([addresses.slice(0, n)], health), limits.hard);
        try {
          const ready = await untilHealthy(proxy, n, t0);
          const readyCpuMs = cpuMs(proxy);
          await sleep(1000);
          const f = await footprint(proxy, backends.child.pid!, windowMs);
          emit({
            scenario: 'proxy-scale',
            case: 'backends',
            clusters: 1,
            backends: n,
            health: mode,
            workers: WORKERS,
            healthy: ready.healthy,
            ready_ms: ready.ms === null ? null : Math.round(ready.ms),
            ready_cpu_ms: readyCpuMs,
            ...procs(f),
            kb_per_added_backend: previous ? round2(((f.totalMb - previous.f.totalMb) * 1024) / (n - previous.n)) : null,
            idle_cpu_pct: round2(f.cpuPct),
            idle_cpu_pct_spread: f.cpuSpread,
            health_bytes_per_s: Math.round(f.backendBytesPerS),
            health_bytes_per_backend_s: round2(f.backendBytesPerS / n),
          });
          previous = { n, f };
          if (n === Math.max(...sizes)) largest.set(mode, f);
        } finally {
          await proxy.stop();
        }
      }
    }

    // The same number of backends split into clusters of 10.
    const clusterCount = Math.max(...sizes) / 10;
    {
      const groups = Array.from({ length: clusterCount }, (_, i) => addresses.slice(i * 10, i * 10 + 10));
      const t0 = performance.now();
      const proxy = await startProxy(dir, yamlConfig(groups, HEALTH_MODES[0]![1]), limits.hard);
      try {
        const ready = await untilHealthy(proxy, clusterCount * 10, t0);
        const readyCpuMs = cpuMs(proxy);
        await sleep(1000);
        const f = await footprint(proxy, backends.child.pid!, windowMs);
        const one = largest.get(HEALTH_MODES[0]![0])!;
        emit({
          scenario: 'proxy-scale',
          case: 'clusters',
          clusters: clusterCount,
          backends: clusterCount * 10,
          health: HEALTH_MODES[0]![0],
          workers: WORKERS,
          healthy: ready.healthy,
          ready_ms: ready.ms === null ? null : Math.round(ready.ms),
          ready_cpu_ms: readyCpuMs,
          ...procs(f),
          kb_per_added_cluster: round2(((f.totalMb - one.totalMb) * 1024) / (clusterCount - 1)),
          idle_cpu_pct: round2(f.cpuPct),
          idle_cpu_pct_spread: f.cpuSpread,
          health_bytes_per_s: Math.round(f.backendBytesPerS),
          health_bytes_per_backend_s: round2(f.backendBytesPerS / (clusterCount * 10)),
        });
      } finally {
        await proxy.stop();
      }
    }

    // Idle client connections, each after one call.
    {
      const proxy = await startProxy(dir, yamlConfig([addresses.slice(0, 3)], ''), limits.hard);
      const sockets: Socket[] = [];
      try {
        const bytes = idleCallBytes(`127.0.0.1:${proxy.port}`, '/grpcha.example.v1.Echo/Unary', ECHO_BODY);
        // Two connections first, so that the call path is loaded and compiled before the baseline.
        for (let i = 0; i < 2; i++) sockets.push(await openIdleConnection(proxy.port, bytes));
        await sleep(1000);
        let previous = { n: sockets.length, f: await footprint(proxy, backends.child.pid!, windowMs) };
        // This process holds one descriptor per connection too; leave room for the rest of it.
        const room = limits.soft - 500;
        for (const step of ctx.quick ? [200, 1000] : CONNECTION_STEPS) {
          const target = Math.min(step, room);
          if (target < step) ctx.log(`idle connections: ${step} asked, ${target} opened (this process's open-file limit is ${limits.soft}; raise it with ulimit -n)`);
          const t0 = performance.now();
          while (sockets.length < target) {
            const batch = Math.min(OPEN_BATCH, target - sockets.length);
            sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openIdleConnection(proxy.port, bytes)))));
          }
          const openMs = performance.now() - t0;
          await sleep(2000);
          const f = await footprint(proxy, backends.child.pid!, windowMs);
          const state = await proxyState(proxy);
          emit({
            scenario: 'proxy-scale',
            case: 'idle-connections',
            connections: sockets.length,
            workers: WORKERS,
            connections_per_worker: (state.workers ?? []).map((w) => w.connections).join('/'),
            open_ms: Math.round(openMs),
            ...procs(f),
            kb_per_added_connection: round2(((f.totalMb - previous.f.totalMb) * 1024) / (sockets.length - previous.n)),
            idle_cpu_pct: round2(f.cpuPct),
            idle_cpu_pct_spread: f.cpuSpread,
          });
          previous = { n: sockets.length, f };
        }
      } finally {
        for (const s of sockets) s.destroy();
        await proxy.stop();
      }
    }
  } finally {
    backends.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
