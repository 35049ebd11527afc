/**
 * grpc-ha as a stranger installs it: `npm pack`, then `npm install` of the tarball into a fresh
 * app in the temp directory whose own @grpc/grpc-js is the oldest of grpc-ha's peer range
 * (1.14.0, not the 1.14.x grpc-ha develops with), then the newest 1.x. At each end the first
 * service's files are compiled there against the installed types and run: two servers register
 * in the file registry and a createClient client reaches both — no register()/registerResolvers()
 * anywhere. Then a second copy of grpc-js under grpc-ha (what a linked checkout gives) makes the
 * client fail with GRPC_JS_MISMATCH naming both copies, instead of "Failed to parse DNS address".
 *
 * Uses the npm registry through npm's cache (--prefer-offline); every step is bounded in time.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OLDEST_GRPC_JS } from '../src/grpc/grpc-js-copy.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
/** The newest grpc-js below the peer range: what an app gets with --legacy-peer-deps on an older pin. */
const BELOW_RANGE_GRPC_JS = '1.13.4';
const PEER_RANGE = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies['@grpc/grpc-js'];

async function npm(cwd: string, args: string[], timeoutMs: number): Promise<string> {
  try {
    return (await run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'], { cwd, timeout: timeoutMs, maxBuffer: 1 << 24 })).stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed (the npm registry or its cache must be reachable): ${e.stderr ?? e.message}`, { cause: error });
  }
}

interface Server {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

async function startServer(app: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const child = spawn(process.execPath, ['server.js'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const serving = new Promise<string>((resolve) => createInterface({ input: child.stdout! }).on('line', (l) => l.includes('inventory serving on') && resolve(l)));
  const line = await Promise.race([serving, exited.then((code) => `exited ${code}`), new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
  assert.match(line, /inventory serving on/, stderr);
  return { child, exited };
}

function runClient(app: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['client.js'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Compiles the app's .ts against what is installed in it, runs two servers and the client; returns the client's output. */
async function compileAndCall(app: string): Promise<string> {
  await run(process.execPath, [TSC, '-p', app], { timeout: 60_000 }).catch((error: { stdout?: string; message: string }) => {
    throw new Error(`the first service does not compile against the installed package: ${error.stdout ?? error.message}`);
  });
  const registry = mkdtempSync(path.join(tmpdir(), 'grpc-ha-pack-registry-'));
  const env = { GRPC_HA_REGISTRY_DIR: registry, GRPC_HA_LOG_LEVEL: 'warn' };
  const servers: Server[] = [];
  try {
    servers.push(await startServer(app, env), await startServer(app, env));
    const client = await runClient(app, env);
    assert.equal(client.code, 0, client.out);
    const pids = [...(/20 calls, answered by (.*)/.exec(client.out)?.[1] ?? '').matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(pids.sort(), servers.map((s) => s.child.pid).sort(), `both servers answered: ${client.out}`);
    for (const s of servers) s.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all(servers.map((s) => s.exited)), [0, 0]);
    return client.out;
  } finally {
    for (const s of servers) s.child.kill('SIGKILL');
    rmSync(registry, { recursive: true, force: true });
  }
}

function grpcJsVersion(dir: string): string {
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

describe('npm pack, npm install into a fresh app', { timeout: 300_000 }, () => {
  let work: string;
  let app: string;
  let tarball: string;
  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'grpc-ha-pack-'));
    app = path.join(work, 'shop');
    mkdirSync(app);
    // dist/ is built already (scripts/test.sh); --ignore-scripts skips prepare's second build.
    const packed = JSON.parse(await npm(ROOT, ['pack', '--json', '--pack-destination', work], 60_000)) as { filename: string }[];
    tarball = path.join(work, packed[0]!.filename);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'shop', version: '1.0.0', private: true, type: 'module' }, null, 2));
    // The first service's own files, as a newcomer copies them from the README.
    for (const f of ['inventory.proto', 'inventory.ts', 'server.ts', 'client.ts']) cpSync(path.join(ROOT, 'examples/first-service', f), path.join(app, f));
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, typeRoots: [path.join(ROOT, 'node_modules/@types')], types: ['node'] },
        include: ['*.ts'],
      }),
    );
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it(`declares @grpc/grpc-js as a peer dependency (${PEER_RANGE}), not a dependency`, () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies['@grpc/grpc-js'], undefined);
    assert.equal(PEER_RANGE, `^${OLDEST_GRPC_JS}`);
  });

  it(`works in an app on the oldest grpc-js of the range (${OLDEST_GRPC_JS})`, async () => {
    await npm(app, ['install', tarball, `@grpc/grpc-js@${OLDEST_GRPC_JS}`, '@grpc/proto-loader@^0.8'], 180_000);
    assert.equal(grpcJsVersion(path.join(app, 'node_modules/@grpc/grpc-js')), OLDEST_GRPC_JS);
    assert.deepEqual(readdirSync(path.join(app, 'node_modules/grpc-ha')).includes('node_modules') ? readdirSync(path.join(app, 'node_modules/grpc-ha/node_modules')) : [], [], 'grpc-ha brings no copy of its own');
    const out = await compileAndCall(app);
    assert.match(out, /watching apple: 12, 12, 12/);
  });

  it('works in an app on the newest grpc-js 1.x', async () => {
    await npm(app, ['install', '@grpc/grpc-js@^1'], 120_000);
    const newest = grpcJsVersion(path.join(app, 'node_modules/@grpc/grpc-js'));
    assert.notEqual(newest, OLDEST_GRPC_JS);
    await compileAndCall(app);
  });

  it('a second copy of grpc-js under grpc-ha is named in a clear error, not a DNS failure', async () => {
    // What a linked checkout gives: grpc-ha resolves its own node_modules/@grpc/grpc-js first.
    const nested = path.join(app, 'node_modules/grpc-ha/node_modules/@grpc/grpc-js');
    cpSync(path.join(app, 'node_modules/@grpc/grpc-js'), nested, { recursive: true });
    try {
      const client = await runClient(app, { GRPC_HA_LOG_LEVEL: 'warn' });
      assert.notEqual(client.code, 0);
      assert.match(client.out, /GRPC_JS_MISMATCH|another copy of @grpc\/grpc-js/);
      assert.ok(client.out.includes(nested), `names grpc-ha's copy: ${client.out}`);
      assert.ok(client.out.includes(path.join(app, 'node_modules/@grpc/grpc-js')), `names the app's copy: ${client.out}`);
      assert.doesNotMatch(client.out, /Failed to parse DNS address/);
    } finally {
      rmSync(path.join(app, 'node_modules/grpc-ha/node_modules'), { recursive: true, force: true });
    }
  });

  // Last: it leaves the app below the range.
  it(`an app forcing grpc-js ${BELOW_RANGE_GRPC_JS} past the peer range gets a clear error naming the version needed`, async () => {
    await npm(app, ['install', '--legacy-peer-deps', `@grpc/grpc-js@${BELOW_RANGE_GRPC_JS}`], 120_000);
    const client = await runClient(app, { GRPC_HA_LOG_LEVEL: 'warn' });
    assert.notEqual(client.code, 0);
    assert.match(client.out, /GRPC_JS_MISMATCH/);
    assert.ok(client.out.includes(`>= ${OLDEST_GRPC_JS}`) && client.out.includes(BELOW_RANGE_GRPC_JS), client.out);
    assert.doesNotMatch(client.out, /statusOrFromValue is not a function/);
  });
});
