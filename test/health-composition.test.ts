/**
 * Health is composed once per channel: a grpc-ha policy inside `health_aware` runs as its bare
 * picker balancer under the one health layer, so the admin API sees one channel with both the
 * calls and the health of each endpoint; and a central service config that switches
 * `health_aware`'s child between a grpc-ha policy and a grpc-js one keeps every call going.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { registerPolicies } from '../src/grpc/register-policies.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { observedChannels, SERVICE_LABEL_OPTION, type ChannelState } from '../src/observe/channel-observer.js';
import { send, unary, waitFor } from './health-helpers.js';

/** The observed channels labelled `service`. */
const channelsOf = (service: string): ChannelState[] => [...observedChannels()].filter((c) => c.service === service).map((c) => c.state());

describe('health composed once', () => {
  let servers: ExampleServer[] = [];
  before(async () => {
    registerPolicies();
    registerResolvers();
    servers = await Promise.all(['c0', 'c1'].map((id) => startExampleServer({ id })));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  it('health_aware around least_request is one channel: the picker counts the calls, the layer tells the health', async () => {
    const service = 'composed-once';
    const policy = { health_aware: { childPolicy: [{ least_request: {} }] } };
    const c = new EchoClient(`ipv4:${servers.map((s) => s.address).join(',')}`, credentials.createInsecure(), {
      ...policyChannelOptions(policy),
      [SERVICE_LABEL_OPTION]: service,
    });
    try {
      const sent = await send(c, 20);
      assert.equal(sent.failed, 0, sent.errors.join('; '));
      const channels = channelsOf(service);
      assert.equal(channels.length, 1, `one observed channel, got ${channels.map((ch) => ch.policy).join(', ')}`);
      const [channel] = channels as [ChannelState];
      assert.equal(channel.policy, 'health_aware');
      assert.equal(channel.endpoints.reduce((n, e) => n + e.started, 0), 20);
      assert.deepEqual(channel.endpoints.map((e) => e.health), ['healthy', 'healthy']);
    } finally {
      c.close();
    }
  });

  it("a service config switching health_aware's child between grpc-ha and grpc-js policies loses no call", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-composition-'));
    const registry = new FileRegistry({ dir });
    const service = 'switching';
    const child = (entry: Record<string, unknown>) => ({ loadBalancingConfig: [{ health_aware: { childPolicy: [entry] } }] });
    const registrations = servers.map((s) => registry.register({ service, address: s.address }));
    await Promise.all(registrations.map((r) => r.ready));
    await registry.putServiceConfig(service, child({ least_request: {} }));
    const c = new EchoClient(`file:///${service}?dir=${encodeURIComponent(dir)}`, credentials.createInsecure(), { [SERVICE_LABEL_OPTION]: service });
    /** The endpoints of the channel, once it is there; never two channels. */
    const endpoints = () => {
      const channels = channelsOf(service);
      assert.ok(channels.length <= 1, `one observed channel throughout, got ${channels.length}`);
      return channels[0]?.endpoints ?? [];
    };
    const counted = () => endpoints().some((e) => e.started > 0);
    // Calls one after another all along; a bare picker balancer shows its call counts, a grpc-js child shows none.
    let running = true;
    let calls = 0;
    const failures: string[] = [];
    const load = (async () => {
      while (running) {
        await unary(c).then(
          () => calls++,
          (error: Error) => failures.push(error.message),
        );
      }
    })();
    try {
      await waitFor(counted, 'least_request to count calls');
      await registry.putServiceConfig(service, child({ round_robin: {} }));
      await waitFor(() => !counted(), 'round_robin to take over');
      const before = calls;
      await waitFor(() => calls > before + 10, 'calls through round_robin');
      await registry.putServiceConfig(service, child({ random: {} }));
      await waitFor(counted, 'random to take over');
    } finally {
      running = false;
      await load;
      c.close();
      await Promise.all(registrations.map((r) => r.close()));
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(failures, []);
  });
});
