/**
 * The embedded file registry: the Registry contract (test/support/registry-contract.ts: a killed
 * process disappears at once by its pid, an unreadable directory keeps the last endpoints and
 * recovers), and its own extras: an entry that stops being refreshed expires, garbage in the
 * directory is skipped, a document's healthCheckConfig reaches health checking, bad options and
 * targets are named.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { ECHO_SERVICE_NAME, EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { observedChannels } from '../src/observe/channel-observer.js';
import { captureLogs, spread, tempDir, waitFor } from './support/discovery.js';
import { registryContract } from './support/registry-contract.js';

registerResolvers();

describe('file registry', { timeout: 60_000 }, () => {
  const tmp = tempDir('grpc-ha-file-registry');
  const registry = new FileRegistry({ dir: tmp.dir });
  const logs = captureLogs();
  const servers: ExampleServer[] = [];
  const clients: EchoClient[] = [];
  const client = (service: string, options = policyChannelOptions('round_robin')) => {
    const c = new EchoClient(`file:///${service}?dir=${encodeURIComponent(tmp.dir)}`, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };
  const serve = async (id: string) => {
    const s = await startExampleServer({ id });
    servers.push(s);
    return s;
  };

  const services = path.join(tmp.dir, 'services');
  registryContract({
    registry,
    create: () => new FileRegistry({ dir: tmp.dir }),
    sharedStorage: true,
    target: (service) => `file:///${service}?dir=${encodeURIComponent(tmp.dir)}`,
    writeRawConfig: async (service, text) => writeFileSync(registry.configPath(service), text),
    // Found dead by its pid at the next poll, long before its TTL.
    killed: { uri: `file:///?dir=${encodeURIComponent(tmp.dir)}`, goneWithinMs: [0, 1000] },
    outage: {
      // The services directory becomes a regular file (root ignores chmod).
      begin: async () => {
        renameSync(services, `${services}.away`);
        writeFileSync(services, 'in the way');
      },
      end: async () => {
        rmSync(services);
        renameSync(`${services}.away`, services);
      },
      downMs: 300,
      registrationsLapse: false,
    },
  });

  before(async () => {
    await Promise.all(['a', 'b'].map(serve));
  });
  after(async () => {
    for (const c of clients) c.close();
    await registry.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    logs.restore();
    tmp.remove();
  });

  it('an entry that is no longer refreshed expires after its TTL', async () => {
    const dir = registry.serviceDir('stale');
    mkdirSync(dir, { recursive: true });
    const entry = {
      format: 'grpc-ha-file-registry/1',
      service: 'stale',
      instanceId: 'hung',
      address: '127.0.0.1:40999',
      pid: process.pid, // alive: only the TTL can remove it
      hostname: (await import('node:os')).hostname(),
      ttlMs: 400,
      updatedAt: Date.now(),
    };
    writeFileSync(path.join(dir, 'hung.json'), JSON.stringify(entry));
    let instances: readonly ServiceInstance[] | null = null;
    const stop = registry.watch({ service: 'stale' }, { instances: (i) => (instances = i), config: () => undefined, error: () => undefined });
    await waitFor('the entry', () => instances?.length === 1, 1000, 5);
    const elapsed = await waitFor('its expiry', () => instances?.length === 0, 2000, 5);
    assert.ok(elapsed < 800, `expired after ${elapsed} ms`);
    stop();
  });

  it('skips garbage files with a log line and keeps serving the valid entries', async () => {
    const a = servers[0]!;
    const r = registry.register({ service: 'garbage', address: a.address });
    await r.ready;
    const dir = registry.serviceDir('garbage');
    writeFileSync(path.join(dir, 'not-json.json'), '{ this is not json');
    writeFileSync(path.join(dir, 'bad-address.json'), JSON.stringify({ format: 'grpc-ha-file-registry/1', service: 'garbage', instanceId: 'x', address: 'nowhere', pid: 1, hostname: 'h', ttlMs: 1000, updatedAt: Date.now() }));
    writeFileSync(path.join(dir, 'binary.json'), Buffer.from([0, 1, 2, 255, 254]));
    writeFileSync(path.join(dir, 'README.txt'), 'not an entry');
    mkdirSync(path.join(dir, 'a-directory.json'));
    let instances: readonly ServiceInstance[] = [];
    const stop = registry.watch({ service: 'garbage' }, { instances: (i) => (instances = i), config: () => undefined, error: () => undefined });
    await waitFor('the valid entry', () => instances.length === 1);
    await waitFor('log lines naming the bad files', () => logs.has('error', /skipping .*not-json\.json: not JSON/) && logs.has('error', /bad-address\.json: address must be host:port/));
    const echo = client('garbage');
    assert.equal((await spread(echo, 5)).get('a'), 5);
    stop();
    await r.close();
  });

  it('a torn entry keeps its last good entry and is logged once; a huge file is skipped unread; a hand-built channel is labelled by service', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'torn', address: a.address });
    await ra.ready;
    // b's entry written by hand (as another tool would), so no refresh rewrites it during the test.
    const file = registry.entryPath('torn', 'b');
    const good = JSON.stringify({ format: 'grpc-ha-file-registry/1', service: 'torn', instanceId: 'b', address: b.address, pid: process.pid, hostname: os.hostname(), ttlMs: 60_000, updatedAt: Date.now() });
    writeFileSync(file, good);
    const echo = client('torn', policyChannelOptions('least_request'));
    await waitFor('both instances', async () => (await spread(echo, 6)).size === 2);
    const lists: string[][] = [];
    const stop = registry.watch({ service: 'torn' }, { instances: (i) => lists.push(i.map((x) => x.instanceId).sort()), config: () => undefined, error: () => undefined });
    await waitFor('the watch', () => lists.length > 0);
    const before = logs.lines.length;
    const torn = good.slice(0, good.length / 2);
    let failed = 0;
    for (let i = 0; i < 5; i++) {
      writeFileSync(file, torn); // in place, not renamed: a reader can see it half written
      await new Promise((r) => setTimeout(r, registry.pollIntervalMs * 2));
      const counts = await spread(echo, 4);
      failed += counts.get('error') ?? 0;
    }
    writeFileSync(path.join(registry.serviceDir('torn'), 'huge.json'), Buffer.alloc(2 * 1024 * 1024, 0x20));
    await waitFor('the huge file to be logged', () => logs.has('error', /huge\.json: it is 2097152 bytes, more than the 1048576/));
    const counts = await spread(echo, 10);
    assert.deepEqual([...counts.keys()].sort(), ['a', 'b']);
    assert.equal(failed, 0);
    stop();
    assert.ok(lists.every((l) => l.includes('b')), `b stayed listed: ${JSON.stringify(lists)}`);
    const tornLines = logs.lines.slice(before).filter((l) => l.level === 'error' && l.message.includes(path.basename(file)));
    assert.equal(tornLines.length, 1, tornLines.map((l) => l.message).join(' | '));
    assert.match(tornLines[0]!.message, /not JSON.*keeping its last good entry until its TTL runs out/);
    // policyChannelOptions sets no service label: the resolver names the channel after the target's service.
    assert.ok([...observedChannels()].some((c) => c.service === 'torn'), [...observedChannels()].map((c) => c.service).join(', '));
    await ra.close();
  });

  it("a document's healthCheckConfig reaches grpc-ha's health checking", async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'health-doc', address: a.address });
    const rb = registry.register({ service: 'health-doc', address: b.address });
    await Promise.all([ra.ready, rb.ready]);
    await registry.putServiceConfig('health-doc', { loadBalancingConfig: [{ random: {} }], healthCheckConfig: { serviceName: ECHO_SERVICE_NAME } });
    const echo = client('health-doc', {});
    await waitFor('both to answer', async () => (await spread(echo, 20)).size === 2, 3000, 0);
    b.setServing(false);
    try {
      await waitFor('NOT_SERVING b to get no calls', async () => (await spread(echo, 20)).get('a') === 20, 3000, 0);
    } finally {
      b.setServing(true);
      await ra.close();
      await rb.close();
    }
  });

  it('rejects bad options and targets with errors naming the field', () => {
    assert.throws(() => new FileRegistry({ ttlMs: 10 }), /ttlMs must be an integer >= 100, got 10/);
    assert.throws(() => new EchoClient('file:///svc?dirr=/tmp', credentials.createInsecure()), /unknown parameter "dirr"/);
    assert.throws(() => new EchoClient('file:///svc?dir=relative', credentials.createInsecure()), /dir must be an absolute path/);
  });
});
