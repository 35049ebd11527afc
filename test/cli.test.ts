/**
 * The grpc-ha CLI run as a user runs it, in a child process: health exit codes against serving,
 * not-serving, absent, hanging and health-less servers; usage errors as one line; serve-example.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition, Server, ServerCredentials, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { ECHO_SERVICE_NAME, EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { CLI, runCli } from './support/run-cli.js';


const run = runCli;

describe('grpc-ha health', () => {
  let serving: ExampleServer;
  let notServing: ExampleServer;
  let healthless: ExampleServer;
  let hanging: Server;
  let hangingPort = 0;
  before(async () => {
    [serving, notServing, healthless] = await Promise.all([
      startExampleServer(),
      startExampleServer({ serving: false }),
      startExampleServer({ health: false }),
    ]);
    // A health service that never answers: the probe must time out, not hang.
    const Health = (
      (loadPackageDefinition(loadSync(protoPath)) as GrpcObject).grpc as GrpcObject & { health: { v1: { Health: ServiceClientConstructor } } }
    ).health.v1.Health;
    hanging = new Server();
    hanging.addService(Health.service, { check: () => undefined, watch: () => undefined });
    hangingPort = await new Promise<number>((resolve, reject) =>
      hanging.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
  });
  after(async () => {
    await Promise.all([serving.stop(0), notServing.stop(0), healthless.stop(0)]);
    hanging.forceShutdown();
  });

  it('exits 0 and prints SERVING for a serving server', async () => {
    const r = await run(['health', serving.address]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SERVING/);
    const json = await run(['health', serving.address, '--service', ECHO_SERVICE_NAME, '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { address: serving.address, service: ECHO_SERVICE_NAME, status: 'SERVING', exitCode: 0 });
  });
  it('exits 5 for NOT_SERVING and for an unknown service', async () => {
    assert.equal((await run(['health', notServing.address])).code, 5);
    const unknown = await run(['health', serving.address, '--service', 'no.such.Service']);
    assert.equal(unknown.code, 5);
    assert.match(unknown.stdout, /SERVICE_UNKNOWN/);
  });
  it('exits 3 when nothing listens, 4 on timeout, 6 without a health service', async () => {
    const absent = await run(['health', '127.0.0.1:1', '--timeout', '500ms']);
    assert.equal(absent.code, 3);
    assert.match(absent.stdout, /UNREACHABLE/);
    const slow = await run(['health', `127.0.0.1:${hangingPort}`, '--timeout', '300ms']);
    assert.equal(slow.code, 4);
    const none = await run(['health', healthless.address]);
    assert.equal(none.code, 6);
    assert.match(none.stdout, /UNIMPLEMENTED/);
  });
  it('answers a usage mistake with one line and exit 2, never a stack trace', async () => {
    for (const args of [['health'], ['health', 'not-an-address'], ['health', serving.address, '--timeout', 'soon'], ['no-such-command']]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace for ${args.join(' ')}`);
    }
  });
});

describe('grpc-ha serve-example', () => {
  it('serves, answers health, and drains on SIGTERM with exit 0', async () => {
    const child = spawn(process.execPath, [CLI, 'serve-example', '--port', '0', '--id', 'cli-example'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, GRPC_HA_LOG_LEVEL: 'silent' },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
      const { address } = JSON.parse(line) as { address: string };
      assert.equal((await run(['health', address])).code, 0);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Starts a long-running CLI command; resolves once it printed a line matching `ready`. */
async function start(args: string[], ready: RegExp) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRPC_HA_LOG_LEVEL: 'silent' } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (l) => lines.push(l));
  const deadline = Date.now() + 10_000;
  while (!lines.some((l) => ready.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  assert.ok(lines.some((l) => ready.test(l)), `no line matching ${ready}: ${lines.join(' | ')}`);
  return { child, exited, lines };
}

describe('grpc-ha register and resolve on the file registry', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('register keeps an instance listed with its metadata until stopped; resolve --watch follows it', async () => {
    const target = `file:///greeter?dir=${encodeURIComponent(dir)}`;
    const watch = await start(['resolve', target, '--watch'], /greeter: 0 instances/);
    const reg = await start(['register', 'greeter', '127.0.0.1:50051', '--registry', `file:///?dir=${encodeURIComponent(dir)}`, '--weight', '2', '--zone', 'z1', '--meta', 'lang=go'], /"event":"registered"/);
    try {
      const once = await run(['resolve', target, '--json']);
      assert.equal(once.code, 0, once.stderr);
      const [instance] = JSON.parse(once.stdout).instances;
      assert.equal(instance.address, '127.0.0.1:50051');
      assert.equal(instance.weight, 2);
      assert.equal(instance.zone, 'z1');
      assert.deepEqual(instance.labels, { lang: 'go' });
      const deadline = Date.now() + 5000;
      while (!watch.lines.some((l) => /greeter: 1 instance/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      assert.ok(watch.lines.some((l) => /127\.0\.0\.1:50051 .*weight=2 zone=z1 lang=go/.test(l)), watch.lines.join(' | '));
      reg.child.kill('SIGTERM');
      assert.equal(await reg.exited, 0);
      while (watch.lines.filter((l) => /greeter: 0 instances/.test(l)).length < 2 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 25));
      assert.equal(watch.lines.filter((l) => /greeter: 0 instances/.test(l)).length, 2, 'the watch saw the instance leave');
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('greeter')), [], 'no registry entry left behind');
    } finally {
      reg.child.kill('SIGKILL');
      watch.child.kill('SIGTERM');
      await watch.exited;
    }
  });

  it('rejects a bad target or registry in one line with exit 2', async () => {
    const bad = await run(['resolve', 'bogus:///x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /scheme must be one of/);
    const badRegistry = await run(['register', 'greeter', '127.0.0.1:1', '--registry', 'not a registry']);
    assert.equal(badRegistry.code, 2);
    assert.doesNotMatch(badRegistry.stderr, /\n\s+at /);
  });
});

describe('grpc-ha demo', () => {
  it('runs the demo cluster, prints the summary with no failed call, and leaves no process behind', async () => {
    const r = await run(['demo', '--duration', '20s', '--backends', '3'], 60_000);
    const story = r.stdout.split('\n').filter((l) => !l.startsWith('[')).join('\n');
    assert.equal(r.code, 0, `${story}\n${r.stderr.slice(-500)}`);
    assert.match(r.stdout, /summary: \d+ calls, 0 failed/);
    const pids = [...r.stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 4, 'three backends and the replacement');
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'a backend process is still alive');
  });
});

describe('grpc-ha proxy', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-cli-proxy-'));
  let a: ExampleServer;
  let b: ExampleServer;
  before(async () => {
    [a, b] = await Promise.all([startExampleServer({ id: 'a' }), startExampleServer({ id: 'b' })]);
  });
  after(async () => {
    await Promise.all([a.stop(0), b.stop(0)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--help shows both forms with examples and exits 0', async () => {
    const r = await run(['proxy', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--config <file>/);
    assert.match(r.stdout, /grpc-ha proxy --listen :8080 --target file:\/\/\/echo --policy round_robin/);
  });

  it('rejects bad flags and config in one line naming the flag or field, exit 2', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'clusters:\n  users:\n    target: 127.0.0.1:1\n    outlierEjection: { baseEjectionTimeMs: 0 }\n');
    const cases: [string[], RegExp][] = [
      [[], /^grpc-ha: proxy: --config <file> or --target <target> is required\n$/],
      [['--target', 'nohost'], /^grpc-ha proxy: --target: "nohost" is not host:port/],
      [['--target', '127.0.0.1:1', '--policy', 'fastest'], /^grpc-ha proxy: --policy: unknown policy "fastest"; known: round_robin/],
      [['--config', bad, '--listen', ':1'], /^grpc-ha: proxy: --config goes alone; --listen go in the file\n$/],
      [['--config', bad], /^grpc-ha proxy: proxy config: clusters\.users\.outlierEjection\.baseEjectionTimeMs must be an integer >= 1, got 0 \(in .*bad\.yaml\)\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await run(['proxy', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('--listen/--target with a registry target follows the registry, and stops on SIGTERM with 0', async () => {
    const registry = `file:///?dir=${encodeURIComponent(dir)}`;
    const regA = await start(['register', 'echo', a.address, '--registry', registry], /"event":"registered"/);
    const proxy = await start(
      ['proxy', '--listen', '127.0.0.1:0', '--target', `file:///echo?dir=${encodeURIComponent(dir)}`, '--policy', 'round_robin', '--admin', 'off'],
      /"event":"listening"/,
    );
    let regB: Awaited<ReturnType<typeof start>> | undefined;
    const { port } = JSON.parse(proxy.lines.find((l) => l.includes('listening'))!) as { port: number };
    const client = new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const call = () =>
      new Promise<string>((resolve, reject) => client.unary({ message: 'hi' }, (e, r) => (e ? reject(e) : resolve(r!.serverId))));
    try {
      assert.equal(await call(), 'a');
      regB = await start(['register', 'echo', b.address, '--registry', registry], /"event":"registered"/);
      const seen = new Set<string>();
      for (let i = 0; i < 100 && seen.size < 2; i++) {
        seen.add(await call());
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual([...seen].sort(), ['a', 'b'], 'the instance registered later takes calls');
      proxy.child.kill('SIGTERM');
      assert.equal(await proxy.exited, 0);
    } finally {
      client.close();
      proxy.child.kill('SIGKILL');
      regA.child.kill('SIGTERM');
      regB?.child.kill('SIGTERM');
      await Promise.all([regA.exited, regB?.exited]);
    }
  });
});
