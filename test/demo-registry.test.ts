/**
 * The demo on a real distributed registry (`grpc-ha demo -- --registry etcd://...`, a real etcd):
 * the backends register there, the client follows them through it, the story (slow, NOT_SERVING,
 * SIGKILL, replacement) runs with no failed call, and the end leaves no process and no key — not
 * even the SIGKILLed backend's, whose lease would otherwise outlive the demo. And Ctrl-C on a
 * terminal (SIGINT to the whole process group) stops it just as cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type TestEtcd } from './support/etcd.js';
import { CLI, runCli } from './support/run-cli.js';


const run = runCli;

describe('grpc-ha demo --registry etcd://', () => {
  let etcd: TestEtcd;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.destroy();
  });

  it('runs the story through a real etcd with no failed call and leaves no key and no process behind', async () => {
    const r = await run(['demo', '--duration', '8s', '--backends', '3', '--registry', `etcd://${etcd.endpoint}`], 60_000);
    const story = r.stdout.split('\n').filter((l) => !l.startsWith('[')).join('\n');
    assert.equal(r.code, 0, `${story}\n${r.stderr.slice(-500)}`);
    assert.match(r.stdout, new RegExp(`registry: etcd ${etcd.endpoint.replace(/\./g, '\\.')}`));
    assert.match(r.stdout, /summary: \d+ calls, 0 failed/);
    const pids = [...r.stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 4, 'three backends and the replacement');
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'a backend process is still alive');
    assert.equal((await etcd.etcdctl('get', '--prefix', 'echo/', '--keys-only')).trim(), '', 'an instance key is left in etcd');
    // Four registrations and four removals at least went through etcd itself.
    const status = JSON.parse(await etcd.etcdctl('endpoint', 'status', '-w', 'json')) as { Status: { header: { revision: number } } }[];
    assert.ok(status[0]!.Status.header.revision >= 9, `etcd revision ${status[0]!.Status.header.revision}: the backends did not register there`);
  });

  it('says so in one line and exits 3 when the registry does not answer', async () => {
    const r = await run(['demo', '--duration', '3s', '--registry', 'etcd://127.0.0.1:1'], 30_000);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /demo: the registry etcd 127\.0\.0\.1:1 does not answer/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('grpc-ha demo on Ctrl-C', () => {
  it('stops every backend and leaves no registry entry when the terminal sends SIGINT to the process group', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-demo-ctrlc-'));
    try {
      // Its own process group, as a shell job has: the group's SIGINT is what Ctrl-C sends.
      const child = spawn(process.execPath, [CLI, 'demo', '--duration', '60s', '--no-faults', '--registry-dir', dir], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 30_000;
      while (!/\[\s*2s\] total/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.match(stdout, /\[\s*2s\] total/, 'the demo did not reach its second tick');
      assert.ok(readdirSync(path.join(dir, 'services', 'echo')).some((n) => n.endsWith('.json')), 'the backends are not registered');
      process.kill(-child.pid!, 'SIGINT');
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      assert.equal(code, 130);
      assert.match(stdout, /stopping \(Ctrl-C\)/);
      assert.match(stdout, /summary: \d+ calls, 0 failed/);
      const pids = [...stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 3);
      for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'a backend process is still alive');
      assert.deepEqual(readdirSync(path.join(dir, 'services', 'echo')).filter((n) => n.endsWith('.json')), [], 'a registry entry is left behind');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
