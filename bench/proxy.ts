/**
 * `proxy`: the same unary load (h2load, Debian's nghttp2-client) through the grpc-ha proxy,
 * nginx `grpc_pass` and HAProxy, on loopback in front of the same 3 backends, in one run: each at
 * 1 worker (one process: nginx `master_process off`, HAProxy `nbthread 1`, grpc-ha in one process)
 * and at 2 (grpc-ha `--workers 2`, nginx `worker_processes 2`, HAProxy `nbthread 2`). Every proxy
 * runs from the start; rounds take turns over them (interleaved, so a noisy moment of the shared
 * machine hits all alike), and each row reports the median round and the spread (min-max).
 * Per proxy: throughput, p50/p99 latency, user+system CPU per request over all of the proxy's
 * processes (/proc/<pid>/stat of the process tree) — the figure that does not depend on how the 2
 * cores were shared with the load generator and the backends — and their summed RSS at the end
 * of a round, under load (and the largest of one process). Missing tools are installed with apt-get when running as root.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnBackendGroup } from '../src/example/backend-process.js';
import { round2 } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PATH = '/grpcha.example.v1.Echo/Unary';
/** Clients × streams per client: 64 calls in flight, within every proxy's per-connection stream limit. */
const CONNECTIONS = 4;
const STREAMS_PER_CONNECTION = 16;
const CLK_TCK = 100;

type ProxyName = 'grpc-ha' | 'nginx' | 'haproxy';

/** A proxy process of the comparison. */
export interface RunningProxy {
  readonly name: ProxyName;
  readonly workers: number;
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

/** One round of one proxy. */
interface Round {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number;
  rssMb: number;
  /** The largest RSS of one of its processes, MB. */
  rssMbMax: number;
  failed: number;
}

/** Runs the proxy comparison. */
export async function runProxyBench(ctx: BenchContext): Promise<BenchRow[]> {
  ensureTools(ctx);
  const seconds = ctx.quick ? 2 : 5;
  const rounds = ctx.quick ? 1 : 3;
  const dir = mkdtempSync(join(os.tmpdir(), 'grpc-ha-bench-proxy-'));
  const group = await spawnBackendGroup([{ id: 'b0' }, { id: 'b1' }, { id: 'b2' }]);
  const rows: BenchRow[] = [];
  const running: RunningProxy[] = [];
  try {
    const backends = group.servers.map((s) => s.address);
    // EchoRequest{message: "bench"} behind the 5-byte gRPC message prefix (compressed flag, length).
    const body = Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from('bench')]);
    writeFileSync(join(dir, 'body.bin'), body);
    const starters: [ProxyName, number, () => Promise<RunningProxy>][] = [];
    for (const workers of [1, 2]) {
      starters.push(
        ['grpc-ha', workers, () => startGrpcHa(backends, workers)],
        ['nginx', workers, () => startNginx(dir, backends, workers)],
        ['haproxy', workers, () => startHaproxy(dir, backends, workers)],
      );
    }
    for (const [name, workers, start] of starters) {
      if (!hasCommand(name === 'grpc-ha' ? 'node' : name)) {
        ctx.log(`${name}: not installed, skipped`);
        continue;
      }
      const proxy = await start();
      running.push(proxy);
      h2load(dir, `http://127.0.0.1:${proxy.port}${PATH}`, ['-n', ctx.quick ? '2000' : '20000']); // warm-up: JIT, connections to backends
      ctx.log(`${name} ×${workers}: processes ${processTree(proxy.pid).join(', ')}`);
    }
    const results = new Map<RunningProxy, Round[]>(running.map((p) => [p, []]));
    for (let round = 0; round < rounds; round++) {
      // Each round in another order, so that no proxy always runs first or right after the same one.
      const order = running.map((_, i) => running[(i + round) % running.length]!);
      for (const proxy of order) {
        const r = measure(dir, proxy, seconds);
        results.get(proxy)!.push(r);
        ctx.log(`round ${round + 1}: ${proxy.name} ×${proxy.workers}: ${JSON.stringify(r)}`);
      }
    }
    for (const proxy of running) {
      const all = results.get(proxy)!;
      const med = (k: keyof Round) => median(all.map((r) => r[k]));
      const spread = (k: keyof Round) => `${round2(Math.min(...all.map((r) => r[k])))}-${round2(Math.max(...all.map((r) => r[k])))}`;
      const row: BenchRow = {
        scenario: 'proxy',
        proxy: proxy.name,
        workers: proxy.workers,
        rps: Math.round(med('rps')),
        p50_ms: round2(med('p50Ms')),
        p99_ms: round2(med('p99Ms')),
        cpu_us_per_req: round2(med('cpuUsPerReq')),
        rss_mb: round2(med('rssMb')),
        rss_mb_max_process: round2(med('rssMbMax')),
        failed: all.reduce((n, r) => n + r.failed, 0),
        rounds: all.length,
        rps_spread: spread('rps'),
        cpu_us_per_req_spread: spread('cpuUsPerReq'),
      };
      ctx.emit(row);
      rows.push(row);
    }
    for (const workers of [1, 2]) {
      const of = (name: ProxyName) => rows.find((r) => r.proxy === name && r.workers === workers);
      const ours = of('grpc-ha');
      for (const base of [of('haproxy'), of('nginx')]) {
        if (!base || !ours) continue;
        ctx.log(
          `×${workers}: grpc-ha / ${String(base.proxy)}: cpu_us_per_req ${round2((ours.cpu_us_per_req as number) / (base.cpu_us_per_req as number))}, rps ${round2((ours.rps as number) / (base.rps as number))}`,
        );
      }
    }
  } finally {
    await Promise.all(running.map((p) => p.stop()));
    await group.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** One timed h2load run through `proxy`: throughput, latency, CPU and memory of all its processes. */
function measure(dir: string, proxy: RunningProxy, seconds: number): Round {
  const pids = processTree(proxy.pid);
  const cpu0 = pids.reduce((n, pid) => n + cpuTicks(pid), 0);
  const t0 = performance.now();
  const result = h2load(dir, `http://127.0.0.1:${proxy.port}${PATH}`, ['-D', String(seconds)]);
  const cpuUs = ((pids.reduce((n, pid) => n + cpuTicks(pid), 0) - cpu0) * 1e6) / CLK_TCK;
  const elapsed = (performance.now() - t0) / 1000;
  return {
    rps: result.succeeded / Math.min(elapsed, seconds),
    p50Ms: result.p50Us / 1000,
    p99Ms: result.p99Us / 1000,
    cpuUsPerReq: cpuUs / result.succeeded,
    rssMb: pids.reduce((n, pid) => n + rssMb(pid), 0),
    rssMbMax: Math.max(...pids.map(rssMb)),
    failed: result.failed,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `root` and every process descended from it (a proxy's primary or master and its workers). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs h2load, nginx and HAProxy from Debian when missing and we may (root with apt-get). */
function ensureTools(ctx: BenchContext): void {
  const missing = [
    ['h2load', 'nghttp2-client'],
    ['nginx', 'nginx'],
    ['haproxy', 'haproxy'],
  ].filter(([cmd]) => !hasCommand(cmd!));
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg!);
  if (process.getuid?.() !== 0 || !hasCommand('apt-get')) {
    ctx.log(`missing ${pkgs.join(', ')}: install with sudo apt-get install ${pkgs.join(' ')}`);
  } else {
    ctx.log(`installing ${pkgs.join(', ')} with apt-get`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  if (!hasCommand('h2load')) throw new Error('proxy bench needs h2load (Debian package nghttp2-client)');
}

interface H2loadResult {
  succeeded: number;
  failed: number;
  p50Us: number;
  p99Us: number;
}

function h2load(dir: string, url: string, extra: string[]): H2loadResult {
  const log = join(dir, 'h2load.log');
  const args = [
    '-c', String(CONNECTIONS), '-m', String(STREAMS_PER_CONNECTION), '-t', '1',
    '-d', join(dir, 'body.bin'),
    '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    '--log-file', log, ...extra, url,
  ];
  const out = execFileSync('h2load', args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  if (!m) throw new Error(`unexpected h2load output:\n${out}`);
  const durations = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => Number(l.split('\t')[2]))
    .sort((a, b) => a - b);
  const q = (p: number) => durations[Math.min(durations.length - 1, Math.max(0, Math.ceil(p * durations.length) - 1))] ?? NaN;
  return { succeeded: Number(m[2]), failed: Number(m[3]), p50Us: q(0.5), p99Us: q(0.99) };
}

/** utime + stime of a process, in clock ticks (proc(5): fields 14 and 15); 0 once it exited. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0; // exited
  }
}

/** Resident set size of a process, MB (0 once it exited). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port} after ${timeoutMs} ms`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
}

/** A `grpc-ha proxy` child process and the ports it printed. */
export interface GrpcHaProcess extends RunningProxy {
  /** Its admin port, or null with `--admin off`. */
  readonly adminPort: number | null;
}

/**
 * Spawns `grpc-ha proxy ...args` (`cli`: another build's main.js, to compare; `wrap`: a command
 * line the node command runs under, e.g. `sh -c 'ulimit -n ...; exec "$@"'`) and resolves once
 * it printed its listening line.
 */
export async function spawnGrpcHaProxy(args: readonly string[], workers: number, cli = CLI, wrap: readonly string[] = []): Promise<GrpcHaProcess> {
  const command = [process.execPath, ...(process.env.PROXY_NODE_OPTIONS?.split(' ').filter(Boolean) ?? []), cli, 'proxy', ...args];
  const [file, ...rest] = [...wrap, ...command];
  const child = spawn(file!, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  const listening = await new Promise<{ port: number; adminPort: number | null }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const e = JSON.parse(line) as { event?: string; port?: number; adminPort?: number | null };
        if (e.event === 'listening') resolve({ port: e.port!, adminPort: e.adminPort ?? null });
      } catch {
        // not our line
      }
    });
    child.once('exit', (code) => reject(new Error(`grpc-ha proxy exited with ${code} before listening`)));
  });
  return { name: 'grpc-ha', workers, pid: child.pid!, ...listening, stop: stopper(child) };
}

/** Starts `grpc-ha proxy` with `workers` in front of `backends` (`cli`: another build's main.js, to compare). */
export async function startGrpcHa(backends: readonly string[], workers: number, cli = CLI): Promise<RunningProxy> {
  const args = ['--listen', '127.0.0.1:0', '--target', backends.join(','), '--admin', 'off', '--grace', '100ms', '--workers', String(workers)];
  return spawnGrpcHaProxy(args, workers, cli);
}

async function startNginx(dir: string, backends: readonly string[], workers: number): Promise<RunningProxy> {
  const port = await freePort();
  const conf = join(dir, `nginx-${workers}.conf`);
  // One worker: master_process off, one process does all the work. More: the master and its
  // workers, all counted.
  writeFileSync(
    conf,
    `daemon off;
master_process ${workers === 1 ? 'off' : 'on'};
worker_processes ${workers};
pid ${dir}/nginx-${workers}.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  upstream backends {
${backends.map((b) => `    server ${b};`).join('\n')}
    keepalive 32;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_concurrent_streams 128;
    # nginx's default of 1000 calls per client connection would end h2load's connections mid-run.
    keepalive_requests 100000000;
    location / { grpc_pass grpc://backends; }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child);
  return { name: 'nginx', workers, pid: child.pid!, port, stop: stopper(child) };
}

async function startHaproxy(dir: string, backends: readonly string[], threads: number): Promise<RunningProxy> {
  const port = await freePort();
  const conf = join(dir, `haproxy-${threads}.cfg`);
  writeFileSync(
    conf,
    `global
  nbthread ${threads}
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend grpc
  bind 127.0.0.1:${port} proto h2
  default_backend echo
backend echo
  balance roundrobin
${backends.map((b, i) => `  server b${i} ${b} proto h2`).join('\n')}
`,
  );
  const child = spawn('haproxy', ['-f', conf, '-db'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child);
  return { name: 'haproxy', workers: threads, pid: child.pid!, port, stop: stopper(child) };
}
