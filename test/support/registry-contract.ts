/**
 * The behaviours every grpc-ha Registry promises (src/discovery/registry.ts), as one table run
 * over each registry: test/discovery-<kind>.test.ts calls `registryContract` with a harness for
 * its registry, then tests that registry's own extras. A row that needs what a registry does not
 * have (a channel target, an outage to cause, a process to kill) exists only where the harness
 * provides it. The harness is given when the tests are defined, before the registry exists: its
 * fields that name live things (the registry, an address) are getters read when a row runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials, type ChannelOptions } from '@grpc/grpc-js';
import type { Registry, RegistrationState } from '../../src/discovery/registry.js';
import type { ServiceInstance } from '../../src/discovery/instance.js';
import { spawnBackend } from '../../src/example/backend-process.js';
import { EchoClient } from '../../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../../src/example/example-server.js';
import { policyChannelOptions } from '../../src/grpc/service-config.js';
import { captureLogs, spread, unary, waitFor } from './discovery.js';

/** What the contract needs to drive one kind of registry. */
export interface RegistryHarness {
  /** The registry under test (the contract does not close it). */
  readonly registry: Registry;
  /** Another client of the same registry, which the contract closes. */
  create(): Registry;
  /** Whether registries from create() share what they store with `registry` (false: in-memory). */
  readonly sharedStorage: boolean;
  /** The channel target of `service` in this registry; absent when channels cannot follow register(). */
  readonly target?: (service: string) => string;
  /** Writes a service config document behind the registry's back, unvalidated. */
  readonly writeRawConfig?: (service: string, text: string) => Promise<void>;
  /** A backend process registered through `grpc-ha serve-example --registry uri`, then SIGKILLed. */
  readonly killed?: {
    /** The registry as `--registry` takes it. */
    readonly uri: string;
    /** `--registry-ttl`, ms. */
    readonly ttlMs?: number;
    /** The entry must be gone within [min, max] ms of the kill. */
    readonly goneWithinMs: readonly [number, number];
  };
  /** An outage of the registry: while down, clients keep their endpoints; afterwards all recovers. */
  readonly outage?: {
    begin(): Promise<void>;
    end(): Promise<void>;
    /** How long it stays down, ms. */
    readonly downMs: number;
    /** Whether registrations outlive it only by registering anew (e.g. etcd leases expire). */
    readonly registrationsLapse: boolean;
  };
}

/** Defines the table's rows for the registry `h` drives. */
export function registryContract(h: RegistryHarness): void {
  describe('the Registry contract', () => {
    const logs = captureLogs();
    const servers: ExampleServer[] = [];
    const clients: EchoClient[] = [];
    let a: ExampleServer;
    let b: ExampleServer;
    let c: ExampleServer;
    const client = (service: string, options: ChannelOptions = policyChannelOptions('round_robin')) => {
      const made = new EchoClient(h.target!(service), credentials.createInsecure(), options);
      clients.push(made);
      return made;
    };
    const watchList = (registry: Registry, service: string, tags?: string[]) => {
      const state = { instances: null as readonly ServiceInstance[] | null, configs: [] as (string | null)[], errors: 0, calls: 0 };
      const stop = registry.watch(tags ? { service, tags } : { service }, {
        instances: (i) => {
          state.instances = i;
          state.calls++;
        },
        config: (document) => {
          state.configs.push(document);
          state.calls++;
        },
        error: () => state.errors++,
      });
      return { state, stop };
    };

    before(async () => {
      for (const id of ['a', 'b', 'c']) servers.push(await startExampleServer({ id }));
      [a, b, c] = servers as [ExampleServer, ExampleServer, ExampleServer];
    });
    after(async () => {
      for (const made of clients) made.close();
      await Promise.all(servers.map((s) => s.stop(0)));
      logs.restore();
    });

    it('registers an instance with its metadata; a watcher sees every field', async () => {
      const r = h.registry.register({ service: 'meta', address: a.address, weight: 3, zone: 'z1', version: 'v2', labels: { team: 'x' }, tags: ['primary'] });
      assert.equal(await r.ready, true);
      assert.equal(r.state.t, 'registered');
      const { state, stop } = watchList(h.registry, 'meta');
      try {
        await waitFor('the instance', () => state.instances?.length === 1);
        const seen = state.instances![0]!;
        assert.deepEqual(
          { ...seen, labels: { ...seen.labels } },
          { service: 'meta', instanceId: r.instance.instanceId, address: a.address, weight: 3, zone: 'z1', version: 'v2', labels: { team: 'x' }, tags: ['primary'] },
        );
      } finally {
        stop();
        await r.close();
      }
      assert.equal(r.state.t, 'closed');
    });

    it('a watcher sees a registration and a deregistration within 250 ms', async () => {
      const { state, stop } = watchList(h.registry, 'latency');
      try {
        await waitFor('the first answer', () => state.instances !== null);
        for (let trial = 0; trial < 3; trial++) {
          const r = h.registry.register({ service: 'latency', address: `127.0.0.1:${40000 + trial}` });
          await r.ready;
          const added = await waitFor('the instance', () => state.instances!.length === 1, 1000, 2);
          await r.close();
          const removed = await waitFor('its removal', () => state.instances!.length === 0, 1000, 2);
          assert.ok(added < 250 && removed < 250, `trial ${trial}: seen after ${added.toFixed(0)} ms, gone after ${removed.toFixed(0)} ms`);
        }
      } finally {
        stop();
      }
    });

    it('a watch with tags sees only the instances carrying all of them', async () => {
      const tagged = h.registry.register({ service: 'tagged', address: a.address, tags: ['primary', 'eu'] });
      const other = h.registry.register({ service: 'tagged', address: b.address, tags: ['eu'] });
      await Promise.all([tagged.ready, other.ready]);
      const all = watchList(h.registry, 'tagged');
      const primary = watchList(h.registry, 'tagged', ['primary', 'eu']);
      try {
        await waitFor('both instances', () => all.state.instances?.length === 2);
        await waitFor('the tagged instance', () => primary.state.instances !== null);
        assert.deepEqual(primary.state.instances!.map((i) => i.address), [a.address]);
      } finally {
        all.stop();
        primary.stop();
        await Promise.all([tagged.close(), other.close()]);
      }
    });

    it('a service config document reaches watchers; writes are validated; deleting it reports null', async () => {
      const { state, stop } = watchList(h.registry, 'documented');
      try {
        await waitFor('the first answer', () => state.configs.length > 0);
        assert.equal(state.configs.at(-1), null, 'no document yet');
        const document = { loadBalancingConfig: [{ round_robin: {} }] };
        await h.registry.putServiceConfig('documented', document);
        await waitFor('the document', () => typeof state.configs.at(-1) === 'string');
        assert.deepEqual(JSON.parse(state.configs.at(-1)!), document);
        await assert.rejects(h.registry.putServiceConfig('documented', '{"loadBalancingConfig": 5}'), /service config of documented/);
        await h.registry.deleteServiceConfig('documented');
        await waitFor('the deletion', () => state.configs.at(-1) === null);
      } finally {
        stop();
      }
    });

    it('rejects a bad registration, naming the field, before anything is written', () => {
      assert.throws(() => h.registry.register({ service: 'x', address: 'localhost' }), /address must be host:port/);
      assert.throws(() => h.registry.register({ service: 'x', address: '127.0.0.1:1', weight: 0 }), /weight must be a finite number > 0/);
      assert.throws(() => h.registry.register({ service: '', address: '127.0.0.1:1' }), /service must not be empty/);
    });

    it('close() deregisters what it registered and ends its watches', async () => {
      const other = h.create();
      const r = other.register({ service: 'closing', address: a.address });
      assert.equal(await r.ready, true);
      const mine = watchList(other, 'closing');
      const observer = h.sharedStorage ? watchList(h.registry, 'closing') : null;
      try {
        await waitFor('the instance', () => mine.state.instances?.length === 1 && (observer === null || observer.state.instances?.length === 1));
        await other.close();
        assert.equal(r.state.t, 'closed');
        if (observer) await waitFor('the instance to leave the registry', () => observer.state.instances?.length === 0);
        const calls = mine.state.calls;
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(mine.state.calls, calls, 'a closed registry still reports to its watches');
      } finally {
        mine.stop();
        observer?.stop();
      }
    });

    // Channels name a static registry's instances in their target or a file, not through register().
    if (!h.target) return;

    it('channels follow instances as they register and deregister, and weights reach the policy', async () => {
      const ra = h.registry.register({ service: 'echo', address: a.address, weight: 3 });
      const rb = h.registry.register({ service: 'echo', address: b.address, weight: 1 });
      await Promise.all([ra.ready, rb.ready]);
      const echo = client('echo', policyChannelOptions('static_weighted_round_robin'));
      const counts = await spread(echo, 400);
      assert.equal(counts.get('error'), undefined);
      const shareA = (counts.get('a') ?? 0) / 400;
      assert.ok(shareA > 0.7 && shareA < 0.8, `weight 3:1 gives a ${shareA} of calls: ${JSON.stringify([...counts])}`);

      const rc = h.registry.register({ service: 'echo', address: c.address });
      await waitFor('c to get calls', async () => (await unary(echo)).serverId === 'c', 3000, 0);
      await ra.close();
      await rb.close();
      await waitFor('only c answers', async () => (await spread(echo, 20)).get('c') === 20, 3000, 0);
      await rc.close();
    });

    it("a document changes channels' policy live; an invalid one is ignored and the last good one kept", async () => {
      const ra = h.registry.register({ service: 'configured', address: a.address });
      const rb = h.registry.register({ service: 'configured', address: b.address });
      await Promise.all([ra.ready, rb.ready]);
      // No policy in the channel options: grpc-js's default pick_first sends everything to one backend.
      const echo = client('configured', {});
      await waitFor('both instances', async () => (await spread(echo, 1)).size === 1, 3000);
      assert.equal((await spread(echo, 10)).size, 1, 'pick_first by default');
      await h.registry.putServiceConfig('configured', { loadBalancingConfig: [{ round_robin: {} }] });
      await waitFor('round_robin to spread calls', async () => (await spread(echo, 10)).size === 2, 5000, 0);
      if (h.writeRawConfig) {
        // A second channel of the same service: the rejection is logged once for the process, not per channel.
        const second = client('configured', {});
        await waitFor('round_robin on the second channel too', async () => (await spread(second, 10)).size === 2, 5000, 0);
        await h.writeRawConfig('configured', JSON.stringify({ loadBalancingConfig: [{ least_request: { choiceCount: 1 } }] }));
        const rejection = /ignoring invalid service config of configured.*choiceCount.*keeping the last good one/;
        await waitFor('the rejection to be logged', () => logs.has('error', rejection));
        assert.equal((await spread(echo, 10)).size, 2, 'the last good document stays');
        assert.equal((await spread(second, 10)).size, 2, 'on both channels');
        assert.equal(logs.lines.filter((l) => l.level === 'error' && rejection.test(l.message)).length, 1, 'logged once for both channels');
      }
      await h.registry.deleteServiceConfig('configured');
      await waitFor("pick_first again, the channel's own", async () => (await spread(echo, 10)).size === 1, 5000, 0);
      await ra.close();
      await rb.close();
    });

    const killed = h.killed;
    if (killed) {
      it("a killed server's entry goes away by itself, and calls go to the survivor", async () => {
        const backend = await spawnBackend({ id: 'doomed', service: 'kill', registry: killed.uri, ...(killed.ttlMs !== undefined && { registryTtlMs: killed.ttlMs }) });
        try {
          await backend.registered;
          const survivor = h.registry.register({ service: 'kill', address: a.address });
          await survivor.ready;
          const { state, stop } = watchList(h.registry, 'kill');
          const echo = client('kill');
          await waitFor('both backends to answer', async () => (await spread(echo, 10)).size === 2, 5000, 0);
          await backend.stop('SIGKILL');
          const elapsed = await waitFor('the dead entry to vanish', () => state.instances?.length === 1 && state.instances[0]!.address === a.address, killed.goneWithinMs[1] + 2000, 5);
          const [min, max] = killed.goneWithinMs;
          assert.ok(elapsed >= min && elapsed < max, `gone after ${elapsed.toFixed(0)} ms, expected ${min}..${max} ms`);
          await waitFor('calls to reach only the survivor', async () => (await spread(echo, 20)).get('a') === 20, 3000, 0);
          stop();
          await survivor.close();
        } finally {
          await backend.stop('SIGKILL');
        }
      });
    }

    const outage = h.outage;
    if (outage) {
      it('keeps the last endpoints through an outage, logs it, and recovers: registrations return, watches resume', async () => {
        const states: RegistrationState['t'][] = [];
        const r = h.registry.register({ service: 'outage', address: a.address }, { onStateChange: (s) => states.push(s.t) });
        await r.ready;
        const echo = client('outage');
        assert.equal((await unary(echo)).serverId, 'a');
        await outage.begin();
        try {
          const downUntil = Date.now() + outage.downMs;
          while (Date.now() < downUntil) {
            assert.equal((await unary(echo)).serverId, 'a', 'calls keep reaching the last known endpoint');
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          await waitFor('the outage to be logged', () => logs.has('error', /outage.*keeping the last known instances/));
        } finally {
          await outage.end();
        }
        await waitFor('the recovery to be logged', () => logs.has('error', /outage recovered after/), 10_000);
        await waitFor('the registration to be back', () => r.state.t === 'registered', 10_000, 50);
        if (outage.registrationsLapse) assert.ok(states.includes('registering'), `the registration went through registering again: ${states.join(' → ')}`);
        const fresh = watchList(h.registry, 'outage');
        await waitFor('a new watch to see the instance', () => fresh.state.instances?.length === 1, 10_000);
        fresh.stop();
        // The channel's watch resumed: an instance registered after the outage gets calls.
        const rb = h.registry.register({ service: 'outage', address: b.address });
        await rb.ready;
        await waitFor('b to get calls', async () => (await spread(echo, 10)).has('b'), 5000, 0);
        await r.close();
        await rb.close();
      });
    }
  });
}
