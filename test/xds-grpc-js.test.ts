/**
 * The xDS control plane (`grpc-ha xds`, a separate process) against @grpc/grpc-js-xds, the gRPC
 * team's xDS client for grpc-js, with grpc-ha's policies registered in the client after it: the
 * client dials xds:///echo and gets endpoints, health and policy from the registry, including
 * grpc-ha's peak_ewma delivered as a custom policy (gRFC A52 TypedStruct) and ring hash driven by
 * the route's hash policy (A42). A policy config the client's own policy rejects is NACKed and
 * reported by the control plane, and the client keeps its last good Cluster.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as grpcJsXds from '@grpc/grpc-js-xds';
import { z } from 'zod';
import { randomPolicy } from '../src/core/policies/random.js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { Registration } from '../src/discovery/registry.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { registerPolicies as registerGrpcHaPolicies } from '../src/grpc/register-policies.js';
import { registerPolicy } from '../src/grpc/register-policy.js';
import { observedChannels } from '../src/observe/channel-observer.js';
import type { XdsClientView } from '../src/observe/xds-observer.js';
import { tempDir, waitFor } from './support/discovery.js';
import { bootstrapJson, spawnXdsControlPlane, type XdsProcess } from './support/xds-peers.js';

function call(client: EchoClient, key?: string): Promise<string> {
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set('x-user', key);
  return new Promise((resolve) =>
    client.unary({ message: 'x' }, metadata, { deadline: Date.now() + 3000 }, (error, reply) => resolve(error ? `error: ${error.details}` : reply!.serverId)),
  );
}

async function calls(client: EchoClient, n: number, key?: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = await call(client, key);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('xDS control plane with @grpc/grpc-js-xds and grpc-ha policies', () => {
  const tmp = tempDir('grpc-ha-xds-js');
  const registry = new FileRegistry({ dir: tmp.dir });
  const backends: ExampleServer[] = [];
  const registrations: Registration[] = [];
  let cp: XdsProcess;
  let client: EchoClient;

  const clients = async (): Promise<XdsClientView[]> => {
    const response = await fetch(`http://127.0.0.1:${cp.adminPort}/api/state`);
    const state = (await response.json()) as { xds: { clients: XdsClientView[] }[] };
    return state.xds[0]!.clients;
  };

  before(async () => {
    for (const id of ['b1', 'b2', 'b3']) {
      const b = await startExampleServer({ id });
      backends.push(b);
      registrations.push(registry.register({ service: 'echo', address: b.address }));
    }
    await Promise.all(registrations.map((r) => r.ready));
    cp = await spawnXdsControlPlane(['--listen', '127.0.0.1:0', '--registry', `file:///?dir=${tmp.dir}`, '--admin', '127.0.0.1:0'], { GRPC_HA_LOG_LEVEL: 'info' });
    // The bootstrap as an environment variable, read when the first xds: channel is made.
    process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = bootstrapJson(cp.address, 'node-js-1');
    grpcJsXds.register();
    // Registered after grpc-js-xds on purpose: grpc-ha's ring_hash then serves xDS clusters too.
    registerGrpcHaPolicies();
    // A policy whose config this client's version does not accept: the control plane passes it
    // as a typed struct like any custom policy, and the client must reject the Cluster (A52).
    registerPolicy({ ...randomPolicy, name: 'strict_test', schema: z.object({}) });
    client = new EchoClient('xds:///echo', grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await cp?.stop();
    await Promise.all(registrations.map((r) => r.close()));
    await registry.close();
    await Promise.all(backends.map((b) => b.stop(0)));
    tmp.remove();
  });

  it('spreads calls over the three registered backends', async () => {
    await waitFor('calls on all three', async () => (await calls(client, 9)).size === 3, 10_000);
    const [view] = await clients();
    assert.equal(view!.nodeId, 'node-js-1');
    assert.match(view!.userAgent, /gRPC Node Pure JS/);
    assert.deepEqual(view!.subscriptions.map((s) => s.type).sort(), ['cluster', 'endpoints', 'listener', 'route']);
  });

  it('sends calls to a fourth backend once it registers, and none to one that turns NOT_SERVING', async () => {
    const b4 = await startExampleServer({ id: 'b4' });
    backends.push(b4);
    registrations.push(registry.register({ service: 'echo', address: b4.address }));
    await waitFor('a call on b4', async () => (await calls(client, 4)).has('b4'), 10_000);
    backends[0]!.setServing(false);
    await waitFor('b1 out', async () => !(await calls(client, 8)).has('b1'), 10_000);
    const after = await calls(client, 24);
    assert.equal(after.has('b1'), false);
    assert.equal([...after.keys()].some((k) => k.startsWith('error')), false);
    backends[0]!.setServing(true);
    await waitFor('b1 back', async () => (await calls(client, 8)).has('b1'), 10_000);
  });

  it('runs grpc-ha peak_ewma and least_request, delivered as custom policies', async () => {
    await registry.putServiceConfig('echo', { loadBalancingConfig: [{ peak_ewma: { decayMs: 2000 } }, { round_robin: {} }] });
    const ewma = () => [...observedChannels()].map((c) => c.state()).find((s) => s.policy === 'peak_ewma' && s.endpoints.some((e) => e.started > 0));
    await waitFor('a peak_ewma channel taking calls over the 4 backends', async () => {
      await calls(client, 4);
      return ewma()?.endpoints.length === 4;
    }, 10_000);
    // least_request: grpc-ha's, from the TypedStruct before A48's LeastRequest (which grpc-js-xds lacks).
    await registry.putServiceConfig('echo', { loadBalancingConfig: [{ least_request: { choiceCount: 3 } }] });
    const leastRequest = () => [...observedChannels()].map((c) => c.state()).find((s) => s.policy === 'least_request' && s.endpoints.some((e) => e.started > 0));
    await waitFor('a least_request channel taking calls', async () => {
      await calls(client, 4);
      return leastRequest() !== undefined;
    }, 10_000);
    assert.equal((await clients())[0]!.subscriptions.find((s) => s.type === 'cluster')!.nacks, 0);
    await registry.deleteServiceConfig('echo');
  });

  it('keeps a key on one backend with ring_hash and the route hash policy', async () => {
    await registry.putServiceConfig('echo', { loadBalancingConfig: [{ ring_hash: { requestHashHeader: 'x-user', minRingSize: 64 } }] });
    const ring = () => [...observedChannels()].map((c) => c.state()).find((s) => s.policy === 'ring_hash' && s.endpoints.some((e) => e.started > 0));
    await waitFor('a ring_hash channel taking calls', async () => {
      await calls(client, 2, 'warmup');
      return ring() !== undefined;
    }, 10_000);
    const owners = new Set<string>();
    for (const key of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) {
      const served = await calls(client, 10, key);
      assert.equal(served.size, 1, `${key} stays on one backend: ${JSON.stringify([...served])}`);
      owners.add([...served.keys()][0]!);
    }
    assert.ok(owners.size > 1, 'keys spread over several backends');
    await registry.deleteServiceConfig('echo');
  });

  it('reports a Cluster the client rejects (NACK), and the client keeps the last good one', async () => {
    await waitFor('round robin again', async () => (await calls(client, 8)).size === 4, 10_000);
    // Written as another program would: putServiceConfig here would validate it against this
    // process's strict_test and refuse it. The control plane does not know strict_test and passes it on.
    const file = registry.configPath('echo');
    writeFileSync(`${file}.tmp`, JSON.stringify({ loadBalancingConfig: [{ strict_test: { fromTheFuture: 1 } }, { round_robin: {} }] }));
    renameSync(`${file}.tmp`, file);
    const cluster = async () => (await clients())[0]!.subscriptions.find((s) => s.type === 'cluster')!;
    await waitFor('a NACK', async () => (await cluster()).nacks > 0, 10_000);
    const nacked = await cluster();
    assert.match(nacked.lastNack!.message, /strict_test: unknown field fromTheFuture/);
    assert.match(cp.stderr(), /xds\.nack.*rejected the cluster response/);
    const served = await calls(client, 8);
    assert.equal(served.size, 4, 'the last good Cluster (round robin over 4) is still in use');
    await registry.deleteServiceConfig('echo');
    await waitFor('an ACK of the next Cluster', async () => {
      const c = await cluster();
      return c.ackedVersion === c.sentVersion;
    }, 10_000);
  });
});
