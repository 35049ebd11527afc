/**
 * The xDS control plane against a client no one here wrote: Debian's python3-grpcio (1.51, gRPC
 * C-core 29) dialling xds:///echo with a bootstrap that names the control plane. Backends are
 * real grpc-js servers registered in the embedded file registry; the control plane watches it
 * through its own registry client, as a separate process would.
 *
 * What 1.51 does here, found by running it: ADS state of the world, round robin, EDS health
 * (UNHEALTHY and DRAINING endpoints dropped), localities from zones; custom LB policies (A52)
 * only with GRPC_EXPERIMENTAL_XDS_CUSTOM_LB_CONFIG=true; ring hash crashes it on the first pick
 * (grpc/grpc#31766), so the control plane leaves ring hash out for C-core 1.50/1.51.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { Registration } from '../src/discovery/registry.js';
import { spawnBackend, type BackendProcess } from '../src/example/backend-process.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { startXdsServer, type XdsServer } from '../src/xds/xds-server.js';
import { tempDir, waitFor } from './support/discovery.js';
import { startPythonXdsClient, writeBootstrap, type PyCall, type PyXdsClient } from './support/xds-peers.js';

const servedBy = (calls: readonly PyCall[], id: string) => calls.filter((c) => c.server === id).length;

describe('xDS control plane with a Python (grpcio 1.51) client', () => {
  const tmp = tempDir('grpc-ha-xds-py');
  const registry = new FileRegistry({ dir: tmp.dir, ttlMs: 2000 });
  const backends: ExampleServer[] = [];
  const registrations: Registration[] = [];
  let cp: XdsServer;
  let client: PyXdsClient;
  let bootstrap: string;

  before(async () => {
    for (const [i, zone] of ['a', 'a', 'b'].entries()) {
      const b = await startExampleServer({ id: `b${i + 1}` });
      backends.push(b);
      registrations.push(registry.register({ service: 'echo', address: b.address, zone }));
    }
    await Promise.all(registrations.map((r) => r.ready));
    cp = await startXdsServer({ registry: `file:///?dir=${tmp.dir}`, lingerMs: 1000 });
    bootstrap = writeBootstrap(tmp.dir, cp.address, 'py-1');
    client = await startPythonXdsClient(bootstrap, 'xds:///echo');
  });

  after(async () => {
    await client?.stop();
    await cp?.close();
    await Promise.all(registrations.map((r) => r.close()));
    await registry.close();
    await Promise.all(backends.map((b) => b.stop(0)));
    tmp.remove();
  });

  it('spreads calls over the three registered backends', async () => {
    await waitFor('calls on b1, b2 and b3', () => ['b1', 'b2', 'b3'].every((id) => servedBy(client.calls, id) >= 5), 10_000);
    const clients = cp.view.clients();
    assert.equal(clients.length, 1);
    assert.equal(clients[0]!.nodeId, 'py-1');
    assert.equal(clients[0]!.locality?.zone, 'test-zone');
    assert.match(clients[0]!.userAgent, /C-core .*Python 1\.51/);
    const endpoints = clients[0]!.subscriptions.find((s) => s.type === 'endpoints')!;
    assert.deepEqual(endpoints.names, ['echo']);
    assert.equal(endpoints.ackedVersion, endpoints.sentVersion, 'the client ACKed the last EDS response');
  });

  it('sends calls to a fourth backend once it registers', async () => {
    const b4 = await startExampleServer({ id: 'b4' });
    backends.push(b4);
    const since = Date.now();
    registrations.push(registry.register({ service: 'echo', address: b4.address, zone: 'b' }));
    await waitFor('a call on b4', () => servedBy(client.after(since), 'b4') > 0, 10_000);
  });

  it('stops sending to a backend that turns NOT_SERVING, without errors', async () => {
    const b2 = backends[1]!;
    const since = Date.now();
    b2.setServing(false);
    // Stopping within about a second is measured by `npm run bench -- xds`; here: it stops.
    await waitFor('3 s of calls after NOT_SERVING', () => client.after(since + 3000).length >= 50, 15_000);
    const late = client.after(since + 3000);
    assert.equal(servedBy(late, 'b2'), 0, 'no call on the NOT_SERVING backend 3 s later');
    assert.deepEqual(late.filter((c) => c.error), []);
    const published = cp.view.services()[0]!.endpoints.find((e) => e.address === b2.address);
    assert.equal(published?.published, 'UNHEALTHY');
    assert.match(published?.condition ?? '', /NOT_SERVING/);
    b2.setServing(true);
    await waitFor('b2 back', () => servedBy(client.after(Date.now() - 500), 'b2') > 0, 10_000);
  });

  it('stops sending to a backend that is SIGKILLed and deregistered', async () => {
    const victim: BackendProcess = await spawnBackend({ id: 'victim' });
    const registration = registry.register({ service: 'echo', address: victim.address });
    try {
      const joined = Date.now();
      await waitFor('a call on the victim', () => servedBy(client.after(joined), 'victim') > 0, 10_000);
      const killed = Date.now();
      await victim.stop('SIGKILL');
      await registration.close();
      await waitFor('3 s of calls after the kill', () => client.after(killed + 3000).length >= 50, 15_000);
      const late = client.after(killed + 3000);
      assert.equal(servedBy(late, 'victim'), 0);
      assert.deepEqual(late.filter((c) => c.error), []);
    } finally {
      await victim.stop('SIGKILL');
      await registration.close();
    }
  });

  it('gives C-core 1.51 round robin instead of ring hash, which would crash it', async () => {
    await registry.putServiceConfig('echo', { loadBalancingConfig: [{ ring_hash: { requestHashHeader: 'x-user' } }] });
    const ring = await startPythonXdsClient(writeBootstrap(tmp.dir, cp.address, 'py-ring'), 'xds:///echo', { keys: ['alice'] });
    try {
      await waitFor('30 calls of py-ring', () => ring.calls.length >= 30, 10_000);
      assert.equal(ring.child.exitCode, null, 'the client is alive');
      assert.deepEqual(ring.calls.filter((c) => c.error), []);
      // Round robin: one key still reaches several backends.
      assert.ok(new Set(ring.calls.map((c) => c.server)).size > 1);
      const view = cp.view.clients().find((c) => c.nodeId === 'py-ring')!;
      assert.match(view.limits.join(' '), /ring_hash left out: .*grpc\/grpc#31766/);
    } finally {
      await ring.stop();
      await registry.deleteServiceConfig('echo');
    }
  });

  it('falls back from peak_ewma and least_request to round robin, with and without A52; NACKs a Cluster it rejects and keeps the last good one', async () => {
    // 1.51 reads load_balancing_policy (A52) only with this switch.
    const a52 = await startPythonXdsClient(writeBootstrap(tmp.dir, cp.address, 'py-a52'), 'xds:///echo', {
      env: { GRPC_EXPERIMENTAL_XDS_CUSTOM_LB_CONFIG: 'true' },
    });
    try {
      const cluster = () => cp.view.clients().find((c) => c.nodeId === 'py-a52')?.subscriptions.find((s) => s.type === 'cluster');
      await registry.putServiceConfig('echo', { loadBalancingConfig: [{ peak_ewma: {} }, { round_robin: {} }] });
      await waitFor('the peak_ewma Cluster ACKed', () => cp.view.services()[0]!.policies[0] === 'peak_ewma' && cluster()?.ackedVersion === cluster()?.sentVersion && (cluster()?.responses ?? 0) > 0, 10_000);
      let since = Date.now();
      await waitFor('calls after the peak_ewma Cluster', () => a52.after(since).length >= 30 && client.after(since).length >= 30, 10_000);
      for (const c of [a52, client]) {
        assert.deepEqual(c.after(since).filter((x) => x.error), []);
        assert.ok(new Set(c.after(since).map((x) => x.server)).size >= 3, 'round robin over the backends');
      }
      // least_request: a TypedStruct it does not know, then WrrLocality{LeastRequest, RoundRobin}:
      // it has no least request either and takes the round robin inside, without a NACK.
      await registry.putServiceConfig('echo', { loadBalancingConfig: [{ least_request: {} }] });
      await waitFor('the least_request Cluster ACKed', () => cp.view.services()[0]!.policies[0] === 'least_request' && cluster()?.ackedVersion === cluster()?.sentVersion, 10_000);
      assert.equal(cluster()!.nacks, 0);
      since = Date.now();
      await waitFor('calls after the least_request Cluster', () => a52.after(since).length >= 20, 10_000);
      assert.deepEqual(a52.after(since).filter((x) => x.error), []);
      // A policy it knows (weighted_target_experimental) with a config it refuses: A52 says NACK.
      await registry.putServiceConfig('echo', { loadBalancingConfig: [{ weighted_target_experimental: { targets: 'not an object' } }, { round_robin: {} }] });
      await waitFor('a NACK of the Cluster', () => (cluster()?.nacks ?? 0) > 0, 10_000);
      assert.match(cluster()!.lastNack!.message, /weighted_target.*targets/);
      assert.notEqual(cluster()!.ackedVersion, cluster()!.sentVersion);
      assert.equal(cp.view.counters().nacks['cluster'], 1);
      since = Date.now();
      await waitFor('calls after the NACK', () => a52.after(since).length >= 20, 10_000);
      assert.deepEqual(a52.after(since).filter((c) => c.error), [], 'the last good Cluster stays in use');
    } finally {
      await a52.stop();
      await registry.deleteServiceConfig('echo');
    }
  });
});
