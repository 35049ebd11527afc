/**
 * A newcomer's mistakes get an error that names the field and the valid choices, instead of
 * passing silently (README "Resilient clients"; issue 14): misspelt options, idempotent method
 * names that match nothing, retry together with hedging, policy names and fields, and targets
 * with a typo in the scheme or a service where the authority goes. And what a newcomer leaves
 * out is done for them: the resolvers a target needs, and health checking of the client's own
 * service.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createClient, type CreateClientOptions } from '../src/client/create-client.js';
import { GrpcHaError } from '../src/core/errors.js';
import { parseDiscoveryTarget } from '../src/discovery/target.js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import { ECHO_SERVICE_NAME, EchoClient, type EchoReply } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions, type LoadBalancingConfigEntry, type PolicyName } from '../src/grpc/service-config.js';

function rejects(run: () => unknown, code: string, ...parts: string[]): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof GrpcHaError, `not a GrpcHaError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" does not say ${part}`);
    return true;
  });
}

const client = (options: Record<string, unknown>, target = 'ipv4:127.0.0.1:1') => () => createClient(EchoClient, target, options as CreateClientOptions).close();

describe('createClient rejects what would silently do nothing', () => {
  it('an unknown option, with the closest one and the list', () => {
    rejects(client({ idempotant: [ECHO_SERVICE_NAME] }), 'INVALID_CONFIG', 'unknown option idempotant', 'did you mean "idempotent"?', 'deadlineMs, idempotent, retry');
    rejects(client({ deadlinems: 500 }), 'INVALID_CONFIG', 'unknown option deadlinems', 'did you mean "deadlineMs"?');
    rejects(client({ retry: { maxAtempts: 3 } }), 'INVALID_CONFIG', 'unknown field maxAtempts in retry', 'did you mean "maxAttempts"?', 'retry takes maxAttempts');
  });

  it('idempotent names that match no method of the client, naming the valid ones', () => {
    const valid = `"${ECHO_SERVICE_NAME}", "${ECHO_SERVICE_NAME}/Unary"`;
    rejects(client({ idempotent: [`${ECHO_SERVICE_NAME}.Unary`] }), 'INVALID_CONFIG', `did you mean "${ECHO_SERVICE_NAME}/Unary"?`, valid);
    rejects(client({ idempotent: ['Echo/Unary'] }), 'INVALID_CONFIG', 'idempotent.0 "Echo/Unary" matches no service Echo', `did you mean "${ECHO_SERVICE_NAME}/Unary"?`);
    rejects(client({ idempotent: [ECHO_SERVICE_NAME, `${ECHO_SERVICE_NAME}/Unray`] }), 'INVALID_CONFIG', `idempotent.1`, `no method Unray in ${ECHO_SERVICE_NAME}`);
    // The forms the selector grammar allows all pass.
    for (const ok of [ECHO_SERVICE_NAME, `${ECHO_SERVICE_NAME}/Unary`, `/${ECHO_SERVICE_NAME}/Unary`, `/${ECHO_SERVICE_NAME}/*`]) client({ idempotent: [ok] })();
  });

  it('hedging together with retry', () => {
    rejects(client({ retry: { maxAttempts: 3 }, hedging: { delayMs: 20 } }), 'INVALID_CONFIG', 'hedging and retry are both set', 'gRFC A6');
    client({ hedging: { delayMs: 20 } })(); // hedging alone replaces the default retries
  });

  it('an unknown policy or policy field, with the closest name', () => {
    rejects(client({ policy: 'peak-ewma' }), 'INVALID_CONFIG', 'unknown load balancing policy "peak-ewma"', 'did you mean "peak_ewma"?', 'least_request, peak_ewma, ring_hash');
    rejects(() => policyChannelOptions('fastest' as PolicyName), 'INVALID_CONFIG', 'unknown load balancing policy "fastest"', 'round_robin');
    rejects(
      client({ policy: { peak_ewma: { decay: 1000 } } }),
      'INVALID_CONFIG',
      'peak_ewma: unknown field decay; did you mean "decayMs"?',
      'decayMs, defaultRttMs, failurePenalty',
    );
    rejects(() => policyChannelOptions({ least_request: { slowStart: { windowMS: 5000 } } } as unknown as LoadBalancingConfigEntry), 'INVALID_CONFIG', 'unknown field windowMS in slowStart; did you mean "windowMs"?');
  });

  it('a target with a misspelt scheme, or the service where the authority goes', () => {
    rejects(client({}, 'flie:///inventory'), 'INVALID_ADDRESS', 'no resolver for scheme "flie"', 'did you mean "file"?', 'dns, ipv4, ipv6, unix, file, etcd, consul, static');
    rejects(client({}, 'file://inventory'), 'INVALID_ADDRESS', 'file targets take no authority; did you mean "file:///inventory"?');
    rejects(client({}, 'etcd://inventory'), 'INVALID_ADDRESS', 'did you mean "etcd:///inventory"?');
    // What grpc-js resolves itself still passes: host:port, dns:, ipv4:, unix:.
    for (const ok of ['localhost:50051', '127.0.0.1:50051', 'dns:///localhost:50051', 'ipv4:127.0.0.1:1', 'unix:///tmp/x.sock']) client({}, ok)();
  });

  it('policy names and fields are typed: tsc rejects what the run-time check rejects', () => {
    // These lines compile only because tsc reports each error @ts-expect-error expects; the calls
    // are never made. A policy name or field that compiled would break the build here.
    const typed = (): unknown[] => [
      // @ts-expect-error "peak-ewma" is not a policy name
      createClient(EchoClient, 'ipv4:127.0.0.1:1', { policy: 'peak-ewma' }),
      // @ts-expect-error decay is not a peak_ewma field (decayMs is)
      createClient(EchoClient, 'ipv4:127.0.0.1:1', { policy: { peak_ewma: { decay: 1000 } } }),
      // @ts-expect-error idempotant is not an option
      createClient(EchoClient, 'ipv4:127.0.0.1:1', { idempotant: [] }),
      policyChannelOptions({ ring_hash: { requestHashHeader: 'x-user-id', minRingSize: 64 } }), // a valid one compiles
    ];
    assert.equal(typeof typed, 'function');
  });

  it('parseDiscoveryTarget takes a target as text', () => {
    const t = parseDiscoveryTarget('etcd://127.0.0.1:2379/shop/inventory');
    assert.equal(t.scheme, 'etcd');
    assert.equal(t.query.service, 'shop/inventory');
    assert.equal(t.text, 'etcd://127.0.0.1:2379/shop/inventory');
  });
});

describe('createClient does what a newcomer leaves out', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-mistakes-'));
  const servers: ExampleServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers the file resolver itself, and health-checks the client service by default', async () => {
    const registry = new FileRegistry({ dir });
    const [a, b] = await Promise.all([startExampleServer({ id: 'a' }), startExampleServer({ id: 'b' })]);
    servers.push(a!, b!);
    const registrations = [registry.register({ service: 'echo', address: a!.address }), registry.register({ service: 'echo', address: b!.address })];
    await Promise.all(registrations.map((r) => r.ready));
    // No registerResolvers() or registerPolicies() anywhere in this file: createClient does it.
    const c = createClient(EchoClient, `file:///echo?dir=${encodeURIComponent(dir)}`);
    try {
      const call = () => new Promise<EchoReply>((resolve, reject) => c.unary({ message: 'hi' }, (e, r) => (e ? reject(e) : resolve(r!))));
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await call()).serverId);
      assert.deepEqual([...seen].sort(), ['a', 'b']);
      // Health checking is on, for the client's own service: NOT_SERVING takes b out at once.
      b!.setServing(false);
      await new Promise((r) => setTimeout(r, 200));
      const after: string[] = [];
      for (let i = 0; i < 20; i++) after.push((await call()).serverId);
      assert.deepEqual([...new Set(after)], ['a'], 'no call reaches the NOT_SERVING backend');
    } finally {
      c.close();
      await Promise.all(registrations.map((r) => r.close()));
      await registry.close();
    }
  });
});
