/**
 * The xDS protocol as the control plane speaks it, driven by a scripted ADS client on a real
 * grpc-js channel: per-client subscriptions, versions and nonces, ACK, NACK, stale nonces,
 * reconnects, pushes on registry and health changes, DRAINING, bad input, and TLS/mTLS on the
 * listener (the Python and grpc-js clients here cannot dial an xDS server over TLS: neither
 * 1.51 nor grpc-js-xds 1.14 has the bootstrap "tls" channel credentials of gRFC A65).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { Registration } from '../src/discovery/registry.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { startXdsServer, type XdsServer } from '../src/xds/xds-server.js';
import { AdsClient, type ReceivedResponse } from './support/ads-client.js';
import { makeCerts } from './support/certs.js';
import { tempDir, waitFor } from './support/discovery.js';

type Endpoints = { endpoints: { locality: { zone: string }; load_balancing_weight: { value: number }; lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } }; health_status: string; load_balancing_weight: { value: number } }[] }[] };

/** "ip:port" → health status of an EDS response. */
function statuses(response: ReceivedResponse): Map<string, string> {
  const out = new Map<string, string>();
  for (const locality of (response.resources[0] as Endpoints).endpoints) {
    for (const e of locality.lb_endpoints) out.set(`${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`, e.health_status);
  }
  return out;
}

const ALL = ['listener', 'route', 'cluster', 'endpoints'] as const;

describe('xDS protocol', () => {
  const tmp = tempDir('grpc-ha-xds-protocol');
  const registry = new FileRegistry({ dir: tmp.dir });
  const servers: ExampleServer[] = [];
  const registrations: Registration[] = [];
  const clients: AdsClient[] = [];
  let cp: XdsServer;

  const connect = (nodeId: string, service: string, options: { credentials?: grpc.ChannelCredentials; address?: string } = {}) => {
    const c = new AdsClient(options.address ?? cp.address, { nodeId, ...(options.credentials && { credentials: options.credentials }) });
    clients.push(c);
    for (const type of ALL) c.subscribe(type, [service]);
    return c;
  };

  before(async () => {
    for (const [i, zone] of ['a', 'b'].entries()) {
      const s = await startExampleServer({ id: `s${i}` });
      servers.push(s);
      registrations.push(registry.register({ service: 'echo', address: s.address, zone, weight: i + 1 }));
    }
    const other = await startExampleServer({ id: 'other' });
    servers.push(other);
    registrations.push(registry.register({ service: 'other', address: other.address }));
    await Promise.all(registrations.map((r) => r.ready));
    cp = await startXdsServer({ registry: `file:///?dir=${tmp.dir}`, drainingHoldMs: 5000, lingerMs: 500 });
  });

  after(async () => {
    for (const c of clients) c.close();
    await cp?.close();
    await Promise.all(registrations.map((r) => r.close()));
    await registry.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    tmp.remove();
  });

  it('answers every type with the resources asked for, named after the service, zones as localities', async () => {
    const a = connect('a', 'echo');
    const eds = await a.next('endpoints');
    const [assignment] = eds.resources as unknown as (Endpoints & { cluster_name: string })[];
    assert.equal(assignment!.cluster_name, 'echo');
    assert.deepEqual(assignment!.endpoints.map((l) => [l.locality.zone, l.load_balancing_weight.value, l.lb_endpoints.map((e) => [e.health_status, e.load_balancing_weight.value])]), [
      ['a', 1, [['HEALTHY', 1]]],
      ['b', 2, [['HEALTHY', 2]]],
    ]);
    const listener = (await a.next('listener')).resources[0] as { name: string; api_listener: unknown };
    assert.equal(listener.name, 'echo');
    const route = (await a.next('route')).resources[0] as { name: string; virtual_hosts: { routes: { route: { cluster: string } }[] }[] };
    assert.equal(route.virtual_hosts[0]!.routes.at(-1)!.route.cluster, 'echo');
    const cluster = (await a.next('cluster')).resources[0] as { name: string; type: string; lb_policy: string };
    assert.deepEqual([cluster.name, cluster.type, cluster.lb_policy], ['echo', 'EDS', 'ROUND_ROBIN']);
  });

  it('keeps subscriptions per client: a change reaches only the clients of that service', async () => {
    const a = connect('a2', 'echo');
    const b = connect('b2', 'other');
    await a.next('endpoints');
    const bFirst = await b.next('endpoints');
    assert.deepEqual([...statuses(bFirst).values()], ['HEALTHY']);
    const seenA = a.responses.length;
    const seenB = b.responses.length;
    const s = await startExampleServer({ id: 'new' });
    servers.push(s);
    const registration = registry.register({ service: 'echo', address: s.address });
    registrations.push(registration);
    const pushed = await a.next('endpoints', (r) => statuses(r).get(s.address) === 'HEALTHY', 5000, seenA);
    assert.ok(Number(pushed.version) > 1 && pushed.nonce !== '');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(b.responses.length, seenB, 'the client of "other" heard nothing');
    assert.equal(a.responses.slice(seenA).filter((r) => r.type !== 'endpoints').length, 0, 'only EDS changed');
  });

  it('publishes NOT_SERVING as UNHEALTHY and a deregistered instance still up as DRAINING', async () => {
    const a = connect('a3', 'echo');
    await a.next('endpoints');
    const s = servers[0]!;
    let seen = a.responses.length;
    s.setServing(false);
    await a.next('endpoints', (r) => statuses(r).get(s.address) === 'UNHEALTHY', 5000, seen);
    s.setServing(true);
    await a.next('endpoints', (r) => statuses(r).get(s.address) === 'HEALTHY', 5000, seen);
    seen = a.responses.length;
    await registrations[0]!.close();
    await a.next('endpoints', (r) => statuses(r).get(s.address) === 'DRAINING', 5000, seen);
    await s.stop(0);
    await a.next('endpoints', (r) => !statuses(r).has(s.address), 5000, seen);
  });

  it('sends nothing again after an ACK; records a NACK and sends the next version only after a change', async () => {
    const c = connect('nacker', 'other');
    await c.next('cluster');
    await new Promise((r) => setTimeout(r, 100));
    const acked = c.responses.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.responses.length, acked, 'no response after the ACKs');
    c.nackNextResponse('cluster', 'cannot use this cluster');
    await registry.putServiceConfig('other', { loadBalancingConfig: [{ least_request: { choiceCount: 3 } }] });
    const rejected = await c.next('cluster', () => true, 5000, acked);
    await waitFor('the NACK recorded', () => (cp.view.clients().find((v) => v.nodeId === 'nacker')?.subscriptions.find((s) => s.type === 'cluster')?.nacks ?? 0) === 1);
    const view = cp.view.clients().find((v) => v.nodeId === 'nacker')!.subscriptions.find((s) => s.type === 'cluster')!;
    assert.deepEqual([view.lastNack?.message, view.lastNack?.nonce, view.ackedVersion], ['cannot use this cluster', rejected.nonce, '1']);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.responses.filter((r) => r.type === 'cluster').length, 2, 'the rejected version is not sent again');
    await registry.putServiceConfig('other', { loadBalancingConfig: [{ round_robin: {} }] });
    const next = await c.next('cluster', (r) => r.nonce !== rejected.nonce, 5000, acked);
    assert.ok(Number(next.version) > Number(rejected.version));
    await registry.deleteServiceConfig('other');
  });

  it('translates the service config: policy list with fallbacks, outlier detection, retries, timeouts, hash policy', async () => {
    await registry.putServiceConfig('other', {
      loadBalancingConfig: [
        { peak_ewma: { decayMs: 5000, outlierEjection: { failurePercentage: { threshold: 60 }, maxEjectionPercent: 50 } } },
        { ring_hash: { requestHashHeader: 'x-user', minRingSize: 256 } },
      ],
      methodConfig: [
        { name: [{ service: 'grpcha.example.v1.Echo', method: 'Unary' }], timeout: '1.5s', retryPolicy: { maxAttempts: 3, initialBackoff: '0.1s', maxBackoff: '1s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE', 'ABORTED'] } },
      ],
    });
    const c = connect('translator', 'other');
    const cluster = (await c.next('cluster', (r) => JSON.stringify(r.resources).includes('peak_ewma'))).resources[0] as {
      lb_policy: string;
      ring_hash_lb_config: unknown;
      load_balancing_policy: { policies: { typed_extension_config: { name: string; typed_config: { type_url: string } } }[] };
      outlier_detection: { failure_percentage_threshold: { value: number }; enforcing_failure_percentage: { value: number }; enforcing_success_rate: { value: number }; max_ejection_percent: { value: number } };
    };
    assert.deepEqual(cluster.load_balancing_policy.policies.map((p) => [p.typed_extension_config.name, p.typed_extension_config.typed_config.type_url]), [
      ['peak_ewma', 'type.googleapis.com/xds.type.v3.TypedStruct'],
      ['ring_hash', 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash'],
      ['round_robin', 'type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality'],
    ]);
    assert.equal(cluster.lb_policy, 'ROUND_ROBIN', 'clients before A52 get round robin: the first policy is not ring hash');
    assert.deepEqual(
      [cluster.outlier_detection.failure_percentage_threshold.value, cluster.outlier_detection.enforcing_failure_percentage.value, cluster.outlier_detection.enforcing_success_rate.value, cluster.outlier_detection.max_ejection_percent.value],
      [60, 100, 0, 50],
    );
    const route = (await c.next('route', (r) => JSON.stringify(r.resources).includes('/grpcha.example.v1.Echo/Unary'))).resources[0] as {
      virtual_hosts: { routes: { match: { path?: string; prefix?: string }; route: { max_stream_duration?: { max_stream_duration: { seconds: number; nanos: number } }; retry_policy?: { retry_on: string; num_retries: { value: number } }; hash_policy: { header: { header_name: string } }[] } }[] }[];
    };
    const [unary, rest] = route.virtual_hosts[0]!.routes;
    assert.equal(unary!.match.path, '/grpcha.example.v1.Echo/Unary');
    assert.deepEqual(unary!.route.max_stream_duration!.max_stream_duration, { seconds: 1, nanos: 500_000_000 });
    assert.deepEqual([unary!.route.retry_policy!.retry_on, unary!.route.retry_policy!.num_retries.value], ['unavailable', 2]);
    assert.equal(rest!.match.prefix, '');
    assert.equal(rest!.route.retry_policy, null);
    assert.equal(rest!.route.hash_policy[0]!.header.header_name, 'x-user');
    const notes = cp.view.services().find((s) => s.service === 'other')!.notes;
    assert.match(notes.join(' '), /aborted is not retryable through xDS/);
    await registry.deleteServiceConfig('other');
  });

  it('ignores a stale nonce, an unknown type and a name that cannot be a service; the stream stays up', async () => {
    const c = connect('odd', 'other');
    const first = await c.next('listener');
    c.sendRaw({ type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener', resource_names: ['other', '..'], response_nonce: 'stale-nonce' });
    c.sendRaw({ type_url: 'type.googleapis.com/envoy.type.v3.Unknown', resource_names: ['x'] });
    c.subscribe('listener', ['other', '..', '/bad']);
    await new Promise((r) => setTimeout(r, 300));
    const listeners = c.responses.filter((r) => r.type === 'listener');
    assert.equal(listeners.length, 1, 'the same set again: nothing to send');
    assert.equal(listeners[0], first);
    c.subscribe('listener', ['other', 'echo']);
    const both = await c.next('listener', (r) => r.resources.length === 2);
    assert.deepEqual(both.resources.map((r) => r['name']).sort(), ['echo', 'other']);
  });

  it('serves at most 100 names of a type to one client', async () => {
    const c = new AdsClient(cp.address, { nodeId: 'greedy' });
    clients.push(c);
    c.subscribe('listener', Array.from({ length: 150 }, (_, i) => `svc-${i}`));
    const response = await c.next('listener');
    assert.equal(response.resources.length, 100);
    c.close();
  });

  it('gives a reconnecting client the current state at once', async () => {
    const first = connect('again', 'other');
    await first.next('endpoints');
    first.close();
    const second = connect('again', 'other');
    const eds = await second.next('endpoints');
    assert.equal(statuses(eds).size, 1);
    await waitFor('one stream of node "again"', () => cp.view.clients().filter((v) => v.nodeId === 'again').length === 1);
  });

  it('serves over TLS, and with a client CA refuses clients without a certificate (mTLS)', async () => {
    const dir = path.join(tmp.dir, 'certs');
    makeCerts(dir);
    const read = (name: string) => readFileSync(path.join(dir, name));
    const secure = await startXdsServer({
      registry: `file:///?dir=${tmp.dir}`,
      tls: { cert: read('server.crt'), key: read('server.key'), clientCa: read('ca.crt') },
    });
    try {
      const withCert = connect('mtls', 'other', { address: secure.address, credentials: grpc.credentials.createSsl(read('ca.crt'), read('client.key'), read('client.crt')) });
      assert.equal(statuses(await withCert.next('endpoints')).size, 1);
      const without = connect('no-cert', 'other', { address: secure.address, credentials: grpc.credentials.createSsl(read('ca.crt')) });
      const status = await without.ended;
      assert.equal(status.code, grpc.status.UNAVAILABLE);
      assert.equal(without.responses.length, 0);
    } finally {
      await secure.close();
    }
  });
});
