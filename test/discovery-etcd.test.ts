/**
 * The etcd registry against a real etcd (Debian's etcd-server) on free loopback ports: the
 * Registry contract (test/support/registry-contract.ts: a killed server vanishes with its lease;
 * etcd restarted mid-test, down longer than twice the lease: clients keep their endpoints,
 * servers register anew, watches resume), and its own extras: the Go naming format both ways
 * (etcdctl writes an entry the way Go's endpoints.Manager does), a compacted watch revision, and
 * user/password authentication.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { EtcdRegistry } from '../src/discovery/etcd-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { spread, unary, waitFor } from './support/discovery.js';
import { startEtcd, type TestEtcd } from './support/etcd.js';
import { registryContract } from './support/registry-contract.js';

registerResolvers();

const FAST = { backoff: { initialMs: 50, maxMs: 500 } } as const;

describe('etcd registry', { timeout: 90_000 }, () => {
  let etcd: TestEtcd;
  let registry: EtcdRegistry;
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
  });

  registryContract({
    get registry() {
      return registry;
    },
    create: () => new EtcdRegistry({ endpoints: [etcd.endpoint], leaseTtlS: 2, ...FAST }),
    sharedStorage: true,
    target: (service) => `etcd://${etcd.endpoint}/${service}`,
    writeRawConfig: async (service, text) => void (await etcd.etcdctl('put', registry.configKey(service), text)),
    killed: {
      get uri() {
        return `etcd://${etcd.endpoint}`;
      },
      ttlMs: 2000,
      goneWithinMs: [500, 4000],
    },
    outage: {
      begin: () => etcd.stop(),
      end: () => etcd.start(),
      // Longer than twice the 2 s lease: etcd3 gives the lease up and the server must register anew.
      downMs: 5000,
      registrationsLapse: true,
    },
  });

  it("registers in the Go naming format; closing revokes the lease and its key", async () => {
    const a = servers[0]!;
    const ra = registry.register({ service: 'echo', address: a.address, weight: 3, zone: 'z1' });
    assert.equal(await ra.ready, true);
    const stored = JSON.parse(await etcd.etcdctl('get', `echo/${a.address}`, '--print-value-only')) as Record<string, unknown>;
    assert.deepEqual(stored, { Op: 0, Addr: a.address, Metadata: { instanceId: ra.instance.instanceId, weight: 3, zone: 'z1' } });
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
