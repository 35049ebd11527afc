/**
 * The embedded file registry end to end: servers register, channels on `file:///<service>` follow
 * them live with grpc-ha policies and weights, a killed process disappears, an entry that stops
 * being refreshed expires, garbage in the directory is skipped, an unreadable registry keeps the
 * last endpoints and recovers, and a central service config document changes the policy live.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { spawnRegisteredBackend } from './support/registered-backend-process.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { ECHO_SERVICE_NAME, EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { captureLogs, spread, tempDir, unary, waitFor } from './support/discovery.js';

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

  before(async () => {
    await Promise.all(['a', 'b', 'c'].map(serve));
  });
  after(async () => {
    for (const c of clients) c.close();
    await registry.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    logs.restore();
    tmp.remove();
  });

  it('a watcher sees a registration and a deregistration within 250 ms', async () => {
    const seen: (readonly ServiceInstance[])[] = [];
    const stop = registry.watch({ service: 'latency' }, { instances: (i) => seen.push(i), config: () => undefined, error: () => undefined });
    try {
      await waitFor('the first answer', () => seen.length > 0);
      for (let trial = 0; trial < 5; trial++) {
        const started = performance.now();
        const r = registry.register({ service: 'latency', address: `127.0.0.1:${40000 + trial}` });
        await r.ready;
        const added = await waitFor('the instance', () => seen.at(-1)!.length === 1, 1000, 2);
        await r.close();
        const removed = await waitFor('its removal', () => seen.at(-1)!.length === 0, 1000, 2);
        assert.ok(added < 250 && removed < 250, `trial ${trial}: seen after ${added.toFixed(0)} ms, gone after ${removed.toFixed(0)} ms`);
        assert.ok(performance.now() - started < 1000);
      }
    } finally {
      stop();
    }
  });

  it('channels follow instances as they register and deregister, and weights reach the policy', async () => {
    const [a, b, c] = servers as [ExampleServer, ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'echo', address: a.address, weight: 3 });
    const rb = registry.register({ service: 'echo', address: b.address, weight: 1 });
    await Promise.all([ra.ready, rb.ready]);
    const echo = client('echo', policyChannelOptions('static_weighted_round_robin'));
    const counts = await spread(echo, 400);
    assert.equal(counts.get('error'), undefined);
    const shareA = (counts.get('a') ?? 0) / 400;
    assert.ok(shareA > 0.7 && shareA < 0.8, `weight 3:1 gives a ${shareA} of calls: ${JSON.stringify([...counts])}`);

    const rc = registry.register({ service: 'echo', address: c.address });
    await waitFor('c to get calls', async () => (await unary(echo)).serverId === 'c', 3000, 0);
    await ra.close();
    await rb.close();
    // Once a and b are deregistered only c answers (allow the in-flight update to land).
    await waitFor('only c answers', async () => (await spread(echo, 20)).get('c') === 20, 3000, 0);
    await rc.close();
  });

  it('a killed process disappears at once; its entry is removed from the directory', async () => {
    const dir = path.join(tmp.dir, 'kill');
    const backend = await spawnRegisteredBackend({ service: 'kill', registry: 'file', registryDir: dir, id: 'doomed' });
    await backend.registered;
    const survivor = await serve('survivor');
    const reg = new FileRegistry({ dir });
    const r = reg.register({ service: 'kill', address: survivor.address });
    await r.ready;
    const echo = new EchoClient(`file:///kill?dir=${encodeURIComponent(dir)}`, credentials.createInsecure(), policyChannelOptions('round_robin'));
    clients.push(echo);
    await waitFor('both backends to answer', async () => (await spread(echo, 10)).size === 2, 5000, 0);
    await backend.stop('SIGKILL');
    const gone = performance.now();
    let instances: readonly ServiceInstance[] = [];
    const stop = reg.watch({ service: 'kill' }, { instances: (i) => (instances = i), config: () => undefined, error: () => undefined });
    await waitFor('the dead entry to vanish', () => instances.length === 1 && instances[0]!.address === survivor.address, 2000, 5);
    assert.ok(performance.now() - gone < 1000);
    const counts = await spread(echo, 20);
    assert.equal(counts.get('survivor'), 20, JSON.stringify([...counts]));
    stop();
    await r.close();
    await reg.close();
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

  it('keeps the last endpoints while the registry cannot be read, logs the outage, and recovers', async () => {
    const a = servers[0]!;
    const r = registry.register({ service: 'outage', address: a.address });
    await r.ready;
    const echo = client('outage');
    assert.equal((await unary(echo)).serverId, 'a');
    // Make the registry unreadable: the services directory becomes a regular file (root ignores chmod).
    const services = path.join(tmp.dir, 'services');
    renameSync(services, `${services}.away`);
    writeFileSync(services, 'in the way');
    await waitFor('the outage to be logged', () => logs.has('error', /cannot read outage.*keeping the last known instances/));
    assert.equal((await spread(echo, 10)).get('a'), 10, 'calls still reach the last known endpoint');
    renameSync(services, `${services}.file`);
    renameSync(`${services}.away`, services);
    await waitFor('the recovery to be logged', () => logs.has('error', /reading outage recovered after/));
    assert.equal((await unary(echo)).serverId, 'a');
    await r.close();
  });

  it('a central service config document changes the policy live; an invalid one is ignored', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'configured', address: a.address });
    const rb = registry.register({ service: 'configured', address: b.address });
    await Promise.all([ra.ready, rb.ready]);
    // No policy in the channel options: grpc-js's default pick_first sends everything to one backend.
    const echo = client('configured', {});
    assert.equal((await spread(echo, 20)).size, 1);

    await registry.putServiceConfig('configured', { loadBalancingConfig: [{ round_robin: {} }] });
    await waitFor('round robin to spread calls', async () => (await spread(echo, 10)).size === 2, 3000, 0);

    // A hand-written invalid document is ignored with a reason; round robin stays.
    writeFileSync(registry.configPath('configured'), JSON.stringify({ loadBalancingConfig: [{ least_request: { choiceCount: 1 } }] }));
    await waitFor('the rejection to be logged', () => logs.has('error', /ignoring invalid service config of configured.*choiceCount.*keeping the last good one/));
    assert.equal((await spread(echo, 10)).size, 2);

    // putServiceConfig validates before writing.
    await assert.rejects(registry.putServiceConfig('configured', '{"loadBalancingConfig": 5}'), /INVALID_CONFIG|service config of configured/);

    await registry.putServiceConfig('configured', { loadBalancingConfig: [{ pick_first: {} }] });
    await waitFor('pick_first to pin calls to one backend', async () => (await spread(echo, 10)).size === 1, 3000, 0);
    await ra.close();
    await rb.close();
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

  it('rejects bad registrations and targets with errors naming the field', () => {
    assert.throws(() => registry.register({ service: 'x', address: 'localhost' }), /address must be host:port/);
    assert.throws(() => registry.register({ service: 'x', address: '127.0.0.1:1', weight: 0 }), /weight must be a finite number > 0/);
    assert.throws(() => registry.register({ service: '', address: '127.0.0.1:1' }), /service must not be empty/);
    assert.throws(() => new FileRegistry({ ttlMs: 10 }), /ttlMs must be an integer >= 100, got 10/);
    assert.throws(() => new EchoClient('file:///svc?dirr=/tmp', credentials.createInsecure()), /unknown parameter "dirr"/);
    assert.throws(() => new EchoClient('file:///svc?dir=relative', credentials.createInsecure()), /dir must be an absolute path/);
  });
});
