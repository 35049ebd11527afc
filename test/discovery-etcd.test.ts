/**
 * The etcd registry against a real etcd (Debian's etcd-server) on free loopback ports:
 * registration and discovery with weights, the Go naming format both ways (etcdctl writes an
 * entry the way Go's endpoints.Manager does), a killed server vanishing with its lease, etcd
 * restarted mid-test (clients keep their endpoints, servers re-register, watches resume), a
 * compacted watch revision, a live service config, and user/password authentication.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { EtcdRegistry } from '../src/discovery/etcd-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { spawnRegisteredBackend } from './support/registered-backend-process.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { captureLogs, spread, unary, waitFor } from './support/discovery.js';
import { startEtcd, type TestEtcd } from './support/etcd.js';

registerResolvers();

const FAST = { backoff: { initialMs: 50, maxMs: 500 } } as const;

describe('etcd registry', { timeout: 90_000 }, () => {
  let etcd: TestEtcd;
  let registry: EtcdRegistry;
  const logs = captureLogs();
  const servers: ExampleServer[] = [];
  const clients: EchoClient[] = [];
  const client = (service: string, options = policyChannelOptions('round_robin')) => {
    const c = new EchoClient(`etcd://${etcd.endpoint}/${service}`, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };
  const watchList = (reg: EtcdRegistry, service: string) => {
    const state = { instances: null as readonly ServiceInstance[] | null, errors: 0 };
    const stop = reg.watch({ service }, { instances: (i) => (state.instances = i), config: () => undefined, error: () => state.errors++ });
    return { state, stop };
  };

  before(async () => {
    etcd = await startEtcd();
    registry = new EtcdRegistry({ endpoints: [etcd.endpoint], leaseTtlS: 2, ...FAST });
    for (const id of ['a', 'b', 'c']) servers.push(await startExampleServer({ id }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await registry.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    await etcd.destroy();
    logs.restore();
  });

  it('registers in the Go naming format and clients balance by the registered weights', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'echo', address: a.address, weight: 3, zone: 'z1' });
    const rb = registry.register({ service: 'echo', address: b.address, weight: 1 });
    assert.equal(await ra.ready, true);
    await rb.ready;
    const stored = JSON.parse(await etcd.etcdctl('get', `echo/${a.address}`, '--print-value-only')) as Record<string, unknown>;
    assert.deepEqual(stored, { Op: 0, Addr: a.address, Metadata: { instanceId: ra.instance.instanceId, weight: 3, zone: 'z1' } });
    const echo = client('echo', policyChannelOptions('static_weighted_round_robin'));
    const counts = await spread(echo, 400);
    const shareA = (counts.get('a') ?? 0) / 400;
    assert.ok(shareA > 0.7 && shareA < 0.8, `weight 3:1 gives a ${shareA}: ${JSON.stringify([...counts])}`);
    await rb.close();
    await waitFor('only a answers', async () => (await spread(echo, 10)).get('a') === 10, 3000, 0);
    await ra.close();
    assert.equal(await etcd.etcdctl('get', '--prefix', 'echo/'), '', 'closing revoked the lease and its key');
  });

  it('finds an endpoint that etcdctl wrote the way Go programs do, and forgets it when deleted', async () => {
    const c = servers[2]!;
    await etcd.etcdctl('put', `foo/bar/gosvc/${c.address}`, JSON.stringify({ Op: 0, Addr: c.address, Metadata: 'written by Go' }));
    const echo = client('foo/bar/gosvc', policyChannelOptions('random'));
    assert.equal((await unary(echo)).serverId, 'c');
    await etcd.etcdctl('del', `foo/bar/gosvc/${c.address}`);
    await waitFor('calls to fail with no instances', async () => (await spread(echo, 1)).has('error'), 3000, 10);
  });

  it('a killed server vanishes when its lease expires', async () => {
    const backend = await spawnRegisteredBackend({ service: 'kill', registry: 'etcd', etcd: [etcd.endpoint], leaseTtlS: 2, id: 'doomed' });
    await backend.registered;
    const { state, stop } = watchList(registry, 'kill');
    await waitFor('the instance', () => state.instances?.length === 1);
    await backend.stop('SIGKILL');
    const elapsed = await waitFor('the lease to expire', () => state.instances?.length === 0, 6000);
    assert.ok(elapsed > 500 && elapsed < 4000, `gone after ${elapsed.toFixed(0)} ms with a 2 s lease`);
    stop();
  });

  it('survives an etcd restart: clients keep their endpoints, servers re-register, watches resume', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const states: string[] = [];
    const ra = registry.register({ service: 'restart', address: a.address }, { onStateChange: (s) => states.push(s.t) });
    await ra.ready;
    const echo = client('restart');
    assert.equal((await unary(echo)).serverId, 'a');

    await etcd.stop();
    // Longer than twice the 2 s lease: etcd3 gives the lease up and the server must register anew.
    const downUntil = Date.now() + 5000;
    while (Date.now() < downUntil) {
      assert.equal((await unary(echo)).serverId, 'a', 'calls keep reaching the last known endpoint');
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(logs.has('error', /etcd .* unreachable while watching restart.*keeping the last known instances/), 'the outage is logged');
    await etcd.start();

    await waitFor('the server to register again', async () => (await etcd.etcdctl('get', `restart/${a.address}`)).length > 0, 10_000, 100);
    assert.ok(states.includes('registering'), `the registration went through registering again: ${states.join(' → ')}`);
    await waitFor('the recovery to be logged', () => logs.has('error', /watching restart recovered after/), 10_000);
    // The watch resumed: a server registered after the restart is found.
    const rb = registry.register({ service: 'restart', address: b.address });
    await rb.ready;
    await waitFor('b to get calls', async () => (await spread(echo, 10)).has('b'), 5000, 0);
    await ra.close();
    await rb.close();
  });

  it('lists again and resumes when its watch revision was compacted', async () => {
    const c = servers[2]!;
    const { state, stop } = watchList(registry, 'compact');
    await waitFor('the first answer', () => state.instances !== null);
    // Move the revision on elsewhere, compact everything, and force the watch stream to reconnect.
    for (let i = 0; i < 20; i++) await registry.client.put(`other/${i}`).value('x');
    const revision = (await registry.client.get('other/0').exec()).header.revision;
    await etcd.etcdctl('compact', revision);
    await etcd.stop();
    await etcd.start();
    await etcd.etcdctl('put', `compact/${c.address}`, JSON.stringify({ Op: 0, Addr: c.address }));
    await waitFor('the entry written after the compaction', () => state.instances?.length === 1, 10_000);
    stop();
  });

  it('applies a service config document from etcd live', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'configured', address: a.address });
    const rb = registry.register({ service: 'configured', address: b.address });
    await Promise.all([ra.ready, rb.ready]);
    const echo = client('configured', {});
    assert.equal((await spread(echo, 10)).size, 1, 'pick_first by default');
    await registry.putServiceConfig('configured', { loadBalancingConfig: [{ random: {} }] });
    await waitFor('random to spread calls', async () => (await spread(echo, 20)).size === 2, 5000, 0);
    await etcd.etcdctl('put', registry.configKey('configured'), 'not json');
    await waitFor('the rejection to be logged', () => logs.has('error', /ignoring invalid service config of configured.*not JSON/));
    assert.equal((await spread(echo, 20)).size, 2, 'the last good config stays');
    await ra.close();
    await rb.close();
  });

  it('authenticates with user and password', async () => {
    await etcd.etcdctl('user', 'add', 'root', '--new-user-password=secret');
    await etcd.etcdctl('user', 'grant-role', 'root', 'root');
    await etcd.etcdctl('auth', 'enable');
    const authed = new EtcdRegistry({ endpoints: [etcd.endpoint], auth: { username: 'root', password: 'secret' }, ...FAST });
    const anonymous = new EtcdRegistry({ endpoints: [etcd.endpoint], ...FAST });
    try {
      const r = authed.register({ service: 'secure', address: servers[0]!.address });
      assert.equal(await r.ready, true);
      const seen = watchList(authed, 'secure');
      await waitFor('the authenticated watch', () => seen.state.instances?.length === 1);
      seen.stop();
      const denied = watchList(anonymous, 'secure');
      await waitFor('the anonymous watch to fail', () => denied.state.errors > 0);
      assert.equal(denied.state.instances, null);
      denied.stop();
      await r.close();
    } finally {
      await authed.close();
      await anonymous.close();
      await etcd.etcdctl('--user', 'root:secret', 'auth', 'disable');
    }
  });
});
