/**
 * The proxy on workers (`grpc-ha proxy --workers 2`), as real processes driven by real signals:
 * connections spread over both workers, all four RPC kinds forwarded, a SIGHUP reload applied in
 * every worker, one ejection shared by all (a backend failing every call is ejected once, by the
 * primary, and neither worker sends it calls), /state and /metrics adding up the workers, a
 * SIGKILLed worker replaced while the other worker's calls in flight finish, and a clean SIGTERM.
 * One proxy process runs through the steps, each a reload of its config file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { EchoClient } from '../src/example/echo-service.js';
import type { ProxyState } from '../src/observe/proxy-state.js';
import { unary } from './support/proxy.js';
import { startProxyProcess, waitFor, type ProxyProcess } from './support/proxy-process.js';

/** Whether process `pid` exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('proxy on 2 workers', () => {
  let a: ExampleServer;
  let b: ExampleServer;
  let failing: ExampleServer;
  let slow: ExampleServer;
  let dir: string;
  let file: string;
  let proxy: ProxyProcess;
  /** Two clients, each on its own connection: the primary hands them to different workers. */
  let clients: EchoClient[];

  const state = async (): Promise<ProxyState> => (await (await fetch(`http://127.0.0.1:${proxy.adminPort}/state`)).json()) as ProxyState;
  const reload = async (clusters: string): Promise<void> => {
    const before = proxy.events.filter((e) => e.event === 'reloaded').length;
    writeFileSync(file, `listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:0" }\nworkers: 2\nclusters:\n${clusters}`);
    proxy.child.kill('SIGHUP');
    await waitFor(() => proxy.events.filter((e) => e.event === 'reloaded').length > before, 'reloaded');
  };

  before(async () => {
    [a, b, failing, slow] = await Promise.all([
      startExampleServer({ id: 'a' }),
      startExampleServer({ id: 'b' }),
      startExampleServer({ id: 'failing', failure: { code: grpc.status.UNAVAILABLE, rate: 1 } }),
      startExampleServer({ id: 'slow', latencyMs: 600 }),
    ]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-proxy-workers-'));
    file = path.join(dir, 'proxy.yaml');
    writeFileSync(file, `listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:0" }\nclusters:\n  echo:\n    target: ${a.address}\n`);
    proxy = await startProxyProcess(['--config', file, '--workers', '2']);
    // A local subchannel pool: each client opens its own connection to the proxy.
    clients = [0, 1].map(() => new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  });

  after(async () => {
    for (const c of clients) c.close();
    if (proxy.child.exitCode === null) await proxy.stop('SIGKILL');
    for (const pid of proxy.workers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await Promise.all([a, b, failing, slow].map((s) => s.stop(100)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('spreads connections over both workers and forwards all four RPC kinds', async () => {
    assert.equal(proxy.workers.length, 2);
    for (const client of clients) {
      assert.equal((await unary(client)).serverId, 'a');
      const streamed: string[] = [];
      for await (const r of client.serverStream({ message: 's', count: 3 })) streamed.push((r as { message: string }).message);
      assert.equal(streamed.length, 3);
      const counted = await new Promise<string>((resolve, reject) => {
        const call = client.clientStream((e: grpc.ServiceError | null, r?: { message: string }) => (e ? reject(e) : resolve(r!.message)));
        for (const m of ['x', 'y', 'z']) call.write({ message: m });
        call.end();
      });
      assert.match(counted, /x.*y.*z/);
      const bidi = client.bidiStream();
      const echoed: string[] = [];
      bidi.on('data', (r: { message: string }) => echoed.push(r.message));
      for (let i = 0; i < 5; i++) bidi.write({ message: `m${i}` });
      bidi.end();
      await new Promise((resolve, reject) => bidi.on('end', resolve).on('error', reject));
      assert.equal(echoed.length, 5);
    }
    const s = await state();
    assert.deepEqual(s.workers!.map((w) => w.pid).sort(), [...proxy.workers].sort());
    assert.deepEqual(s.workers!.map((w) => w.connections), [1, 1], 'one client connection on each worker');
    for (const w of s.workers!) assert.ok(w.calls.completed >= 4, `worker ${w.pid} forwarded its client's calls`);
    assert.equal(s.calls.completed, s.workers!.reduce((n, w) => n + w.calls.completed, 0), '/state adds up the workers');
    const served = s.clusters[0]!.backends[0]!;
    assert.equal(served.completed, s.calls.completed, "the backend's calls add up both workers'");
  });

  it('reloads on SIGHUP in every worker', async () => {
    await reload(`  echo:\n    target: ${b.address}\n`);
    for (const client of clients) assert.equal((await unary(client)).serverId, 'b', 'each worker took the new cluster');
    const s = await state();
    assert.equal(s.clusters[0]!.target, b.address);
    assert.deepEqual(s.workers!.map((w) => w.connections), [1, 1], 'client connections kept across the reload');
  });

  it('ejects a backend that fails every call once, for all workers, and /metrics adds up the workers', async () => {
    await reload(
      `  echo:\n    target: ${failing.address},${b.address}\n    policy: round_robin\n` +
        `    outlierEjection: { consecutiveFailures: 3, maxEjectionPercent: 50, baseEjectionTimeMs: 60000, intervalMs: 60000 }\n`,
    );
    let failures = 0;
    for (let round = 0; round < 30 && failures < 100; round++) {
      const results = await Promise.allSettled(clients.map((c) => unary(c)));
      failures += results.filter((r) => r.status === 'rejected').length;
      const s = await state();
      if (s.clusters[0]!.backends.some((x) => x.ejected)) break;
    }
    const s = await state();
    const cluster = s.clusters[0]!;
    assert.equal(cluster.ejections?.enforced.consecutive_failures, 1, 'one ejection, decided once');
    const ejected = cluster.backends.find((x) => x.address === failing.address)!;
    assert.equal(ejected.condition, 'ejected');
    assert.match(ejected.ejected!.reason, /3 consecutive UNAVAILABLE/);
    // Neither worker sends it another call.
    const before = failing.stats.calls;
    for (let i = 0; i < 10; i++) for (const client of clients) assert.equal((await unary(client)).serverId, 'b');
    assert.equal(failing.stats.calls, before, 'no worker sends calls to the ejected backend');
    const metrics = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
    const total = Number(new RegExp(`grpc_ha_proxy_backend_requests_total\\{cluster="echo",backend="${b.address}"\\} (\\d+)`).exec(metrics)?.[1]);
    const after = (await state()).clusters[0]!.backends.find((x) => x.address === b.address)!;
    assert.equal(total, after.completed, '/metrics reads the counters /state adds up');
    assert.ok(total >= 20);
  });

  it('replaces a SIGKILLed worker while the other worker finishes its calls in flight', async () => {
    await reload(`  echo:\n    target: ${slow.address}\n`);
    const [first, second] = clients as [EchoClient, EchoClient];
    // Five slow calls in flight on each client's connection, one connection on each worker.
    const calls = [first, second].map((client) => Array.from({ length: 5 }, () => unary(client, { message: 'slow' }, { deadlineMs: 10_000 }).then(() => true, () => false)));
    await waitFor(() => slow.stats.calls >= 10, 'ten calls in flight at the backend');
    const victim = proxy.workers[0]!;
    process.kill(victim, 'SIGKILL');
    const outcomes = await Promise.all(calls.map((c) => Promise.all(c)));
    const intact = outcomes.filter((o) => o.every(Boolean));
    const lost = outcomes.filter((o) => o.every((ok) => !ok));
    assert.equal(intact.length, 1, `the surviving worker's five calls all finished (${JSON.stringify(outcomes)})`);
    assert.equal(lost.length, 1, "only the killed worker's calls were lost");
    await waitFor(() => proxy.stderr.some((l) => l.includes(`worker ${victim} exited (SIGKILL); starting another`)), 'a replacement', 5000);
    let s = await state();
    for (let i = 0; i < 50 && (s.workers?.length ?? 0) < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await state();
    }
    assert.equal(s.workers!.length, 2, 'two workers again');
    assert.ok(!s.workers!.some((w) => w.pid === victim));
    proxy.workers = s.workers!.map((w) => w.pid);
    // The client that lost its connection reconnects and is served again.
    const again = await Promise.all(clients.map((client) => unary(client, { message: 'again' }, { deadlineMs: 10_000 })));
    assert.deepEqual(again.map((r) => r.serverId), ['slow', 'slow']);
  });

  it('exits cleanly on SIGTERM, workers included', async () => {
    const workers = [...proxy.workers];
    assert.equal(await proxy.stop('SIGTERM'), 0);
    await waitFor(() => workers.every((pid) => !alive(pid)), 'the workers to exit', 3000);
  });
});
