/**
 * Every example under examples/ runs as the README says: built in place by `npm run build` (and
 * by scripts/test.sh), started with one command each. The first service: two server processes
 * register in the file registry, the client's calls reach both, SIGTERM drains and deregisters
 * them. The etcd one: the same through a real etcd.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEtcd, type TestEtcd } from './support/etcd.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** Where each example directory is run or checked; a new one must be added here. */
const COVERED: Record<string, string> = {
  etcd: 'here',
  'first-service': 'here',
  kubernetes: 'test/examples-kubernetes.test.ts: the manifests (no cluster runs here)',
};

interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | null>;
}

/** Starts `node examples/<file>` and waits for its "serving" line. */
async function startServer(file: string, env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(process.execPath, [path.join(EXAMPLES, file)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const serving = new Promise<string>((resolve) => createInterface({ input: child.stdout! }).on('line', (l) => l.includes('inventory serving on') && resolve(l)));
  const line = await Promise.race([serving, exited.then((code) => `exited ${code}`), new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
  assert.match(line, /inventory serving on 127\.0\.0\.1:\d+ \(pid \d+\)/, `${file}: ${stderr}`);
  return { child, pid: child.pid!, exited };
}

/** Runs `node examples/<file>` to its end (bounded). */
function runToEnd(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(EXAMPLES, file)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function stopAll(servers: readonly Started[]): Promise<(number | null)[]> {
  for (const s of servers) s.child.kill('SIGTERM');
  return Promise.all(servers.map((s) => Promise.race([s.exited, new Promise<number | null>((r) => setTimeout(() => (s.child.kill('SIGKILL'), r(null)), 10_000))])));
}

describe('examples', () => {
  it('every example directory is run here', () => {
    const dirs = readdirSync(EXAMPLES).filter((d) => statSync(path.join(EXAMPLES, d)).isDirectory());
    assert.deepEqual(dirs.sort(), Object.keys(COVERED).sort());
  });

  it('first-service: two servers in the file registry, a client that reaches both, a drain that deregisters', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-example-'));
    const env = { GRPC_HA_REGISTRY_DIR: dir, GRPC_HA_LOG_LEVEL: 'warn' };
    const servers: Started[] = [];
    try {
      servers.push(await startServer('first-service/server.js', env), await startServer('first-service/server.js', env));
      const client = await runToEnd('first-service/client.js', env);
      assert.equal(client.code, 0, client.stderr);
      assert.match(client.stdout, /^apple: 12 in stock \(pid \d+\)$/m);
      const answered = /^20 calls, answered by (.*)$/m.exec(client.stdout)?.[1] ?? '';
      const pids = [...answered.matchAll(/pid (\d+) \((\d+)\)/g)].map((m) => Number(m[1]));
      assert.deepEqual(pids.sort(), servers.map((s) => s.pid).sort(), `both instances answered: ${client.stdout}`);
      assert.match(client.stdout, /^watching apple: 12, 12, 12$/m);
      assert.deepEqual(await stopAll(servers), [0, 0], 'SIGTERM drains and exits 0');
      assert.deepEqual(readdirSync(path.join(dir, 'services', 'inventory')), [], 'both deregistered');
    } finally {
      for (const s of servers) s.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('etcd', () => {
    let etcd: TestEtcd;
    before(async () => {
      etcd = await startEtcd();
    });
    after(() => etcd?.destroy());

    it('etcd: two servers registered in etcd, a client that follows them, leases released on SIGTERM', { timeout: 60_000 }, async () => {
      const env = { ETCDCTL_ENDPOINTS: etcd.endpoint, GRPC_HA_LOG_LEVEL: 'warn' };
      const servers: Started[] = [];
      try {
        servers.push(await startServer('etcd/server.js', env), await startServer('etcd/server.js', env));
        const client = await runToEnd('etcd/client.js', env);
        assert.equal(client.code, 0, client.stderr);
        const answered = /^20 calls through etcd, answered by (.*)$/m.exec(client.stdout)?.[1] ?? '';
        const pids = [...answered.matchAll(/pid (\d+) \((\d+)\)/g)].map((m) => Number(m[1]));
        assert.deepEqual(pids.sort(), servers.map((s) => s.pid).sort(), `both instances answered: ${client.stdout}`);
        assert.deepEqual(await stopAll(servers), [0, 0]);
        assert.equal((await etcd.etcdctl('get', '--prefix', 'inventory/', '--keys-only')).trim(), '', 'no key left in etcd');
      } finally {
        for (const s of servers) s.child.kill('SIGKILL');
      }
    });
  });
});
