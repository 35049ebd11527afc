/**
 * A real etcd for tests: Debian's `etcd` binary (package etcd-server, installed by
 * scripts/ensure-system-deps.sh) on free loopback ports with a temporary data directory;
 * stopped, killed and restarted (same ports, same data) on demand.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A running (or stopped) test etcd. */
export interface TestEtcd {
  /** "127.0.0.1:PORT" of its client URL. */
  readonly endpoint: string;
  /** Its data directory. */
  readonly dataDir: string;
  /** Stops it (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing answers, as a hung registry. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** Runs etcdctl against it; resolves with stdout. */
  etcdctl(...args: string[]): Promise<string>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; a race with other processes is unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts etcd and resolves once it reports healthy; `extraArgs` go to etcd's command line. */
export async function startEtcd(extraArgs: readonly string[] = []): Promise<TestEtcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-etcd-'));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`,
    '--logger', 'zap',
    '--log-level', 'error',
    ...extraArgs,
  ];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const proc = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const spawnError = new Promise<never>((_, reject) => proc.once('error', reject));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`etcd exited (${proc.exitCode}): ${stderr}`);
      try {
        const response = await Promise.race([fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) }), spawnError]);
        if (response.ok && ((await response.json()) as { health?: string }).health === 'true') return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new Error('etcd is not installed (apt-get install etcd-server)', { cause: error });
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`etcd did not become healthy within 15 s: ${stderr}`);
  };

  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    endpoint: `127.0.0.1:${clientPort}`,
    dataDir,
    stop,
    start,
    pause: () => void (child as ChildProcess | null)?.kill('SIGSTOP'),
    resume: () => void (child as ChildProcess | null)?.kill('SIGCONT'),
    etcdctl: async (...rest) => (await run('etcdctl', ['--endpoints', client, ...rest], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 })).stdout,
    destroy: async () => {
      (child as ChildProcess | null)?.kill('SIGCONT'); // a frozen etcd would not stop on SIGTERM
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
