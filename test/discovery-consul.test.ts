/**
 * The Consul registry against a FAKE Consul agent (test/support/fake-consul.ts: no Consul can be
 * installed here): TTL-check registration and discovery on `consul://` targets with tags and
 * datacenter, a killed server dropping out of ?passing, re-registration after the agent forgot
 * the service, indexes going backwards and stuck at 0 (rate limit), an agent outage, a live
 * service config from KV, and ACL tokens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { ConsulRegistry } from '../src/discovery/consul-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { spawnRegisteredBackend } from './support/registered-backend-process.js';
import { registerResolvers, registryChannelOptions } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { captureLogs, spread, unary, waitFor } from './support/discovery.js';
import { FakeConsul } from './support/fake-consul.js';

registerResolvers();

describe('consul registry (fake agent)', { timeout: 60_000 }, () => {
  const consul = new FakeConsul({ minDeregisterAfterMs: 0 });
  let registry: ConsulRegistry;
  const logs = captureLogs();
  const servers: ExampleServer[] = [];
  const clients: EchoClient[] = [];
  const client = (target: string, options = policyChannelOptions('round_robin')) => {
    const c = new EchoClient(target, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };
  const watchList = (reg: ConsulRegistry, query: { service: string; tags?: string[]; datacenter?: string }) => {
    const state = { instances: null as readonly ServiceInstance[] | null, errors: [] as string[] };
    const stop = reg.watch(query, { instances: (i) => (state.instances = i), config: () => undefined, error: (e) => state.errors.push(e.message) });
    return { state, stop };
  };

  before(async () => {
    await consul.start();
    registry = new ConsulRegistry({ address: consul.address, check: { type: 'ttl', ttlS: 1 }, deregisterCriticalAfterS: 1, waitS: 2, minQueryIntervalMs: 50, backoff: { initialMs: 50, maxMs: 500 } });
    for (const id of ['a', 'b', 'c']) servers.push(await startExampleServer({ id }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await registry.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    await consul.stop();
    logs.restore();
  });

  it('registers with a passing TTL check; clients balance by weight and filter by tag', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'echo', address: a.address, weight: 3, tags: ['primary'], zone: 'z1', labels: { team: 'x' } });
    const rb = registry.register({ service: 'echo', address: b.address, weight: 1 });
    await Promise.all([ra.ready, rb.ready]);
    assert.equal(consul.checkStatus(`service:${ra.instance.instanceId}`), 'passing');
    const stored = consul.listServices().find((s) => s.ID === ra.instance.instanceId)!;
    assert.deepEqual(stored.Meta, { team: 'x', zone: 'z1', weight: '3' });
    assert.deepEqual(stored.Tags, ['primary']);

    const echo = client(`consul://${consul.address}/echo`, policyChannelOptions('static_weighted_round_robin'));
    const counts = await spread(echo, 400);
    const shareA = (counts.get('a') ?? 0) / 400;
    assert.ok(shareA > 0.7 && shareA < 0.8, `weight 3:1 gives a ${shareA}: ${JSON.stringify([...counts])}`);

    const tagged = client(`consul://${consul.address}/echo?tag=primary&dc=dc1`);
    assert.equal((await spread(tagged, 10)).get('a'), 10);
    await ra.close();
    await rb.close();
    assert.equal(consul.listServices().length, 0, 'closing deregistered both');
  });

  it('fails calls with the reason for an unknown datacenter', async () => {
    const echo = client(`consul://${consul.address}/echo?dc=mars`);
    await assert.rejects(unary(echo), /No path to datacenter/);
  });

  it('a killed server drops out of ?passing after its TTL and is reaped', async () => {
    const backend = await spawnRegisteredBackend({ service: 'kill', registry: 'consul', consulAddr: consul.address, checkTtlS: 1, id: 'doomed' });
    await backend.registered;
    const { state, stop } = watchList(registry, { service: 'kill' });
    await waitFor('the instance', () => state.instances?.length === 1);
    await backend.stop('SIGKILL');
    const elapsed = await waitFor('the TTL check to fail', () => state.instances?.length === 0, 5000);
    assert.ok(elapsed < 2500, `dropped after ${elapsed.toFixed(0)} ms with a 1 s TTL`);
    stop();
  });

  it('registers again when the agent forgot the service', async () => {
    const r = registry.register({ service: 'forgotten', address: servers[0]!.address });
    await r.ready;
    consul.forgetService(r.instance.instanceId);
    await waitFor('the service to be back', () => consul.listServices().some((s) => s.ID === r.instance.instanceId), 3000);
    await r.close();
  });

  it('resets its index when Consul indexes go backwards', async () => {
    const { state, stop } = watchList(registry, { service: 'rewind' });
    const r1 = registry.register({ service: 'rewind', address: servers[0]!.address });
    await waitFor('the first instance', () => state.instances?.length === 1);
    consul.rewindIndex(2);
    const r2 = registry.register({ service: 'rewind', address: servers[1]!.address });
    // The watch blocks on its old, higher index until `wait` (2 s) runs out, then sees the lower one and resets.
    await waitFor('the instance registered after the rewind', () => state.instances?.length === 2, 6000);
    stop();
    await r1.close();
    await r2.close();
  });

  it('rate-limits its blocking loop when the index does not move', async () => {
    const limited = new ConsulRegistry({ address: consul.address, minQueryIntervalMs: 100 });
    consul.zeroIndex = true;
    try {
      const before = consul.requests.get('GET /v1/health/service') ?? 0;
      const { stop } = watchList(limited, { service: 'spin' });
      await new Promise((r) => setTimeout(r, 1000));
      stop();
      const queries = (consul.requests.get('GET /v1/health/service') ?? 0) - before;
      assert.ok(queries >= 5 && queries <= 12, `${queries} queries in 1 s at one per 100 ms`);
    } finally {
      consul.zeroIndex = false;
      await limited.close();
    }
  });

  it('keeps the last endpoints through an agent outage, logs it, and recovers', async () => {
    const r = registry.register({ service: 'outage', address: servers[0]!.address });
    await r.ready;
    const echo = client(`consul://${consul.address}/outage`);
    assert.equal((await unary(echo)).serverId, 'a');
    await consul.stop();
    const downUntil = Date.now() + 1500;
    while (Date.now() < downUntil) {
      assert.equal((await unary(echo)).serverId, 'a');
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor('the outage to be logged', () => logs.has('error', /watching outage failed: .*unreachable.*keeping the last known instances/));
    await consul.start();
    await waitFor('the recovery to be logged', () => logs.has('error', /watching outage recovered after/), 5000);
    // The 1 s TTL ran out during the outage; the registration passes (or re-registers) again.
    await waitFor('the check to pass again', () => consul.checkStatus(`service:${r.instance.instanceId}`) === 'passing', 5000);
    await waitFor('calls to reach a', async () => (await spread(echo, 1)).get('a') === 1, 5000);
    await r.close();
  });

  it('applies a service config document from Consul KV live', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'configured', address: a.address });
    const rb = registry.register({ service: 'configured', address: b.address });
    await Promise.all([ra.ready, rb.ready]);
    const echo = client(`consul://${consul.address}/configured`, registryChannelOptions(registry));
    await waitFor('both instances', async () => (await spread(echo, 1)).size === 1, 3000);
    assert.equal((await spread(echo, 10)).size, 1, 'pick_first by default');
    await registry.putServiceConfig('configured', { loadBalancingConfig: [{ round_robin: {} }] });
    await waitFor('round_robin to spread calls', async () => (await spread(echo, 10)).size === 2, 5000, 0);
    await registry.deleteServiceConfig('configured');
    await waitFor('pick_first again', async () => (await spread(echo, 10)).size === 1, 5000, 0);
    await ra.close();
    await rb.close();
  });

  it('sends the ACL token and reports a refusal', async () => {
    const secured = new FakeConsul({ token: 'secret' });
    await secured.start();
    const good = new ConsulRegistry({ address: secured.address, token: 'secret' });
    const bad = new ConsulRegistry({ address: secured.address, token: 'wrong', backoff: { initialMs: 50, maxMs: 200 } });
    try {
      const r = good.register({ service: 'acl', address: servers[0]!.address });
      assert.equal(await r.ready, true);
      const ok = watchList(good, { service: 'acl' });
      await waitFor('the instance', () => ok.state.instances?.length === 1);
      ok.stop();
      const denied = watchList(bad, { service: 'acl' });
      await waitFor('a refusal', () => denied.state.errors.some((e) => /403/.test(e)));
      denied.stop();
      await r.close();
    } finally {
      await good.close();
      await bad.close();
      await secured.stop();
    }
  });

  it("registers with Consul's gRPC health check: NOT_SERVING takes the instance out", async () => {
    const server = await startExampleServer({ id: 'grpc-checked' });
    const grpcChecked = new ConsulRegistry({ address: consul.address, check: { type: 'grpc', intervalS: 1 }, waitS: 2, minQueryIntervalMs: 50 });
    try {
      const r = grpcChecked.register({ service: 'grpc-checked', address: server.address });
      await r.ready;
      const { state, stop } = watchList(grpcChecked, { service: 'grpc-checked' });
      await waitFor('the first probe to pass', () => state.instances?.length === 1, 3000);
      server.setServing(false);
      await waitFor('NOT_SERVING to fail the check', () => state.instances?.length === 0, 3000);
      stop();
      await r.close();
    } finally {
      await grpcChecked.close();
      await server.stop(0);
    }
  });

  it('rejects labels that are not valid Consul Meta keys', () => {
    assert.throws(() => registry.register({ service: 'x', address: '127.0.0.1:1', labels: { 'a.b': 'c' } }), /labels key "a.b" must match/);
  });
});
