/**
 * The behaviours every read-only InstanceSource promises (DNS, Kubernetes: sources nothing
 * registers in, so the Registry contract's register() rows do not apply), as one table run over
 * each: test/discovery-<kind>.test.ts calls `sourceContract` with a harness that publishes
 * instances its own way (DNS records rewritten, EndpointSlices applied), then tests its extras.
 * Real grpc-js clients and servers: the servers share one port on 127.0.0.2.. as pods do.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials, type ChannelOptions } from '@grpc/grpc-js';
import type { InstanceSource } from '../../src/discovery/registry.js';
import { EchoClient } from '../../src/example/echo-service.js';
import type { ExampleServer } from '../../src/example/example-server.js';
import { POLICY_NAMES } from '../../src/grpc/register-policies.js';
import { registryChannelOptions } from '../../src/grpc/resolver.js';
import { policyChannelOptions } from '../../src/grpc/service-config.js';
import { recentEvents } from '../../src/observe/events.js';
import { callLoop } from './call-loop.js';
import { captureLogs, spread, unary, waitFor } from './discovery.js';
import { startOnOnePort } from './same-port-servers.js';

/** What the contract needs to drive one kind of source. */
export interface SourceHarness {
  /** A fresh source with the test's settings, which the contract closes. */
  create(): InstanceSource;
  /** The channel target of `service`, whose instances listen on `port`. */
  target(service: string, port: number): string;
  /** The query `service` of that target (what watches and events name). */
  queryService(service: string, port: number): string;
  /** Makes `hosts` (each listening on `port`) the instances of `service`. */
  publish(service: string, hosts: readonly string[], port: number): Promise<void>;
  /** A change reaches channels within this long, ms (DNS: the TTL + 1 s). */
  readonly followWithinMs: number;
  /** An outage of the source, and how its log line reads. */
  readonly outage: { begin(): Promise<void>; end(): Promise<void>; readonly logged: RegExp };
}

/** Defines the table's rows for the source `h` drives. */
export function sourceContract(h: SourceHarness): void {
  describe('the InstanceSource contract', () => {
    const logs = captureLogs();
    let servers: ExampleServer[];
    let port: number;
    let hostOf: (id: string) => string;
    let source: InstanceSource;
    const clients: EchoClient[] = [];
    const client = (service: string, options: ChannelOptions = policyChannelOptions('round_robin')) => {
      const made = new EchoClient(h.target(service, port), credentials.createInsecure(), registryChannelOptions(source, options));
      clients.push(made);
      return made;
    };

    before(async () => {
      ({ port, servers, hostOf } = await startOnOnePort(['a', 'b', 'c']));
      source = h.create();
    });
    after(async () => {
      for (const made of clients) made.close();
      await source.close();
      await Promise.all(servers.map((s) => s.stop(0)));
      logs.restore();
    });

    it('channels send calls to a published instance and stop sending to a withdrawn one within the bound, with no failed call', async () => {
      await h.publish('follow', [hostOf('a')], port);
      const echo = client('follow');
      await waitFor('a to answer', async () => (await spread(echo, 3)).get('a') === 3, 5000, 0);
      const loop = callLoop(echo);
      try {
        const added = performance.now();
        await h.publish('follow', [hostOf('a'), hostOf('b')], port);
        await waitFor('b to answer', () => loop.replies.has('b'), h.followWithinMs + 2000, 5);
        const addMs = loop.replies.get('b')!.first - added;
        assert.ok(addMs <= h.followWithinMs, `b got its first call ${addMs.toFixed(0)} ms after it was published (bound ${h.followWithinMs} ms)`);

        const removed = performance.now();
        await h.publish('follow', [hostOf('b')], port);
        const limit = removed + h.followWithinMs;
        await waitFor('a to stop getting calls', () => performance.now() > limit + 300 && loop.repliesSince('a', limit) === 0, h.followWithinMs + 3000, 20);
        const lastMs = loop.replies.get('a')!.last - removed;
        assert.ok(lastMs <= h.followWithinMs, `a got a call ${lastMs.toFixed(0)} ms after it was withdrawn`);
      } finally {
        await loop.stop();
      }
      assert.deepEqual(loop.failures.map((f) => f.message), [], 'no call failed while instances changed');
    });

    it('runs every grpc-ha policy over it', async () => {
      await h.publish('policies', [hostOf('a'), hostOf('b'), hostOf('c')], port);
      for (const policy of POLICY_NAMES) {
        const echo = client('policies', policyChannelOptions(policy));
        // Batches of 8 concurrent calls: load-aware policies (peak_ewma) keep a lone fast endpoint
        // when calls come one at a time; ring_hash without a hash key picks at random.
        const counts = new Map<string, number>();
        for (let batch = 0; batch < 5; batch++) {
          const ids = await Promise.all(Array.from({ length: 8 }, () => unary(echo).then((r) => r.serverId, () => 'error')));
          for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        assert.equal(counts.get('error'), undefined, `${policy}: ${JSON.stringify([...counts])}`);
        assert.ok(counts.size >= 2, `${policy} used ${counts.size} of 3 instances: ${JSON.stringify([...counts])}`);
      }
    });

    it('keeps the last endpoints through an outage with 0 failed calls, reports its start and end, and follows changes after', async () => {
      await h.publish('outage', [hostOf('a'), hostOf('b')], port);
      const echo = client('outage');
      await waitFor('both to answer', async () => (await spread(echo, 8)).size === 2, 5000, 0);
      const loop = callLoop(echo);
      try {
        await h.outage.begin();
        try {
          await waitFor('the outage to be logged', () => logs.has('error', h.outage.logged), h.followWithinMs + 5000);
          const since = performance.now();
          await new Promise((r) => setTimeout(r, h.followWithinMs + 500));
          assert.ok(loop.repliesSince('a', since) > 0 && loop.repliesSince('b', since) > 0, 'both kept getting calls');
        } finally {
          await h.outage.end();
        }
        await waitFor('the recovery to be logged', () => logs.has('error', /recovered after/), 10_000);
        await h.publish('outage', [hostOf('c')], port);
        await waitFor('the change after the outage', () => loop.replies.has('c'), h.followWithinMs + 5000);
      } finally {
        await loop.stop();
      }
      assert.deepEqual(loop.failures.map((f) => f.message), [], 'no call failed');
      const events = recentEvents().filter((e) => e.service === h.queryService('outage', port)).map((e) => e.event);
      assert.ok(events.includes('registry_unreachable') && events.includes('registry_recovered'), JSON.stringify(events));
    });

    it('tells watches at once that there is no service config document, and close() ends them', async () => {
      await h.publish('closing', [hostOf('a')], port);
      const other = h.create();
      const state = { configs: [] as (string | null)[], lists: 0 };
      other.watch({ service: h.queryService('closing', port) }, { instances: () => state.lists++, config: (d) => state.configs.push(d), error: () => undefined });
      await waitFor('the first list', () => state.lists > 0, 5000);
      assert.deepEqual(state.configs, [null]);
      await other.close();
      const heard = state.lists;
      await h.publish('closing', [hostOf('a'), hostOf('b')], port);
      await new Promise((r) => setTimeout(r, h.followWithinMs));
      assert.equal(state.lists, heard, 'a closed source still reports');
    });
  });
}
