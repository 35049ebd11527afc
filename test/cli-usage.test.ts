/**
 * The CLI's first-hour mistakes get an answer that says what to type instead (issue 14): a
 * duration without a unit, a registry target given to the health probe, a misspelt service given
 * to resolve; and `--version` works.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileRegistry } from '../src/discovery/file-registry.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { runCli as run } from './support/run-cli.js';

const VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;

describe('grpc-ha usage', () => {
  let server: ExampleServer;
  const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-cli-usage-'));
  const registry = new FileRegistry({ dir });
  before(async () => {
    server = await startExampleServer();
    await Promise.all([registry.register({ service: 'inventory', address: server.address }).ready, registry.register({ service: 'echo', address: server.address }).ready]);
  });
  after(async () => {
    await registry.close();
    await server.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
  });

  it('a duration needs its unit, everywhere', async () => {
    const bare = await run(['health', server.address, '--timeout', '5']);
    assert.equal(bare.code, 2, bare.stdout);
    assert.match(bare.stderr, /--timeout <duration>.*'5' is invalid\. needs a unit: 5s or 5ms/);
    const demo = await run(['demo', '--duration', '20']);
    assert.equal(demo.code, 2, demo.stdout);
    assert.match(demo.stderr, /--duration <duration>.*needs a unit: 20s or 20ms/);
    const ok = await run(['health', server.address, '--timeout', '5s']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /SERVING/);
  });

  it('health takes one server address, and says what to do with a registry target', async () => {
    const r = await run(['health', 'file:///inventory']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /health: takes one server's address \(host:port\), and 'file:\/\/\/inventory' names a service in a registry: list its instances with 'grpc-ha resolve file:\/\/\/inventory'/);
    const list = await run(['health', 'ipv4:127.0.0.1:1,127.0.0.1:2']);
    assert.equal(list.code, 2);
    assert.match(list.stderr, /takes one address, got a list/);
  });

  it('resolve of a service with no instances names where it looked and the services there, and fails', async () => {
    const r = await run(['resolve', `file:///inventroy?dir=${encodeURIComponent(dir)}`]);
    assert.equal(r.code, 7, `${r.stdout} ${r.stderr}`);
    assert.match(r.stdout, /inventroy: 0 instances/);
    assert.ok(r.stderr.includes(`no instances of inventroy in file registry ${dir}; did you mean "inventory"? (services there: echo, inventory)`), r.stderr);
    const found = await run(['resolve', `file:///inventory?dir=${encodeURIComponent(dir)}`]);
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, /inventory: 1 instance/);
  });
});
