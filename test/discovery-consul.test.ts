/**
 * The Consul registry against a FAKE Consul agent (test/support/fake-consul.ts: no Consul can be
 * installed here): the Registry contract (test/support/registry-contract.ts: a killed server
 * drops out of ?passing when its TTL check fails; an agent outage), and its own extras: what is
 * stored (TTL check, Meta, Tags), tag and datacenter targets, re-registration after the agent
 * forgot the service, indexes going backwards and stuck at 0 (rate limit), ACL tokens, Consul's
 * gRPC health check, and Meta key rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { ConsulRegistry } from '../src/discovery/consul-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { registerResolvers, registryChannelOptions } from '../src/grpc/resolver.js';
import { onEvent, type HaEvent } from '../src/observe/events.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { spread, unary, waitFor } from './support/discovery.js';
import { FakeConsul } from './support/fake-consul.js';
import { registryContract } from './support/registry-contract.js';

registerResolvers();

describe('consul registry (fake agent)', { timeout: 60_000 }, () => {
  const consul = new FakeConsul({ minDeregisterAfterMs: 0 });
  let registry: ConsulRegistry;
  const options = () => ({ address: consul.address, check: { type: 'ttl', ttlS: 1 }, deregisterCriticalAfterS: 1, waitS: 2, minQueryIntervalMs: 50, backoff: { initialMs: 50, maxMs: 500 } }) as const;
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
    registry = new ConsulRegistry(options());
    for (const id of ['a', 'b', 'c']) servers.push(await startExampleServer({ id }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await registry.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    await consul.stop();
  });

  registryContract({
    get registry() {
      return registry;
    },
    create: () => new ConsulRegistry(options()),
    sharedStorage: true,
    target: (service) => `consul://${consul.address}/${service}`,
    // The KV endpoint itself, past putServiceConfig's validation.
    writeRawConfig: async (service, text) => {
      const response = await fetch(`http://${consul.address}${registry.kvPath(service)}`, { method: 'PUT', body: text });
      assert.equal(response.status, 200);
    },
    killed: {
      get uri() {
        return `consul://${consul.address}`;
      },
      ttlMs: 1000,
      goneWithinMs: [0, 2500],
    },
    outage: { begin: () => consul.stop(), end: () => consul.start(), downMs: 1500, registrationsLapse: false },
  });

  it('stores a passing TTL check, Meta and Tags; a target filters by tag and datacenter', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const ra = registry.register({ service: 'echo', address: a.address, weight: 3, tags: ['primary'], zone: 'z1', labels: { team: 'x' } });
    const rb = registry.register({ service: 'echo', address: b.address, weight: 1 });
    await Promise.all([ra.ready, rb.ready]);
    assert.equal(consul.checkStatus(`service:${ra.instance.instanceId}`), 'passing');
    const stored = consul.listServices().find((s) => s.ID === ra.instance.instanceId)!;
    assert.deepEqual(stored.Meta, { team: 'x', zone: 'z1', weight: '3' });
    assert.deepEqual(stored.Tags, ['primary']);

    const tagged = client(`consul://${consul.address}/echo?tag=primary&dc=dc1`);
    assert.equal((await spread(tagged, 10)).get('a'), 10);
    await ra.close();
    await rb.close();
    assert.equal(consul.listServices().filter((s) => s.Service === 'echo').length, 0, 'closing deregistered both');
  });

  it('fails calls with the reason for an unknown datacenter', async () => {
    const echo = client(`consul://${consul.address}/echo?dc=mars`);
    await assert.rejects(unary(echo), /No path to datacenter/);
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

  it('an agent that hangs mid blocking query is reported unreachable after wait + margin; calls keep their endpoints; recovery is reported', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    // Long TTLs: the registrations are not what this is about.
    const owner = new ConsulRegistry({ ...options(), check: { type: 'ttl', ttlS: 60 } });
    const watcher = new ConsulRegistry({ ...options(), waitS: 1, requestTimeoutMs: 500 });
    const events: HaEvent[] = [];
    const stopEvents = onEvent((e) => e.service === 'hang' && e.event.startsWith('registry_') && events.push(e));
    try {
      await Promise.all([owner.register({ service: 'hang', address: a.address }).ready, owner.register({ service: 'hang', address: b.address }).ready]);
      const echo = client(`consul://${consul.address}/hang`, registryChannelOptions(watcher, policyChannelOptions('round_robin')));
      await waitFor('both instances', async () => (await spread(echo, 6)).size === 2);
      await new Promise((r) => setTimeout(r, 200)); // the next blocking query is in flight
      let failed = 0;
      consul.hang();
      const hungAt = performance.now();
      try {
        while (!events.some((e) => e.event === 'registry_unreachable') && performance.now() - hungAt < 6000) {
          await unary(echo).catch(() => failed++);
          await new Promise((r) => setTimeout(r, 20));
        }
        const after = performance.now() - hungAt;
        // The bound: wait 1 s × 17/16 + requestTimeoutMs 0.5 s = 1.56 s after the query began.
        assert.ok(events.some((e) => e.event === 'registry_unreachable'), `no registry_unreachable within ${Math.round(after)} ms`);
        assert.match(events[0]!.reason ?? '', /unreachable: no answer within 1563 ms \(a blocking query: wait 1 s/);
      } finally {
        consul.resume();
      }
      await waitFor('registry_recovered', () => events.some((e) => e.event === 'registry_recovered'), 8000);
      for (let i = 0; i < 10; i++) await unary(echo).catch(() => failed++);
      assert.equal(failed, 0);
      assert.deepEqual(events.map((e) => e.event), ['registry_unreachable', 'registry_recovered']);
    } finally {
      stopEvents();
      await watcher.close();
      await owner.close();
    }
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
