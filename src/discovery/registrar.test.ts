import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registrar } from './registrar.js';
import { StaticRegistry } from './static-registry.js';
import type { ServiceInstance } from './instance.js';

describe('registrar (the register hook of serve() and runWorkers())', () => {
  it('registers the bound address with the metadata and deregisters on demand', async () => {
    const registry = new StaticRegistry();
    let seen: readonly ServiceInstance[] = [];
    const stop = registry.watch({ service: 'greeter' }, { instances: (i) => (seen = i), config: () => undefined, error: () => undefined });
    const hook = registrar(registry, { service: 'greeter', weight: 2, zone: 'a' });
    const registration = await hook({ address: '127.0.0.1:50051' });
    assert.equal(registration.state.t, 'registered');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen.map((i) => [i.address, i.weight, i.zone]), [['127.0.0.1:50051', 2, 'a']]);
    await registration.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(seen.length, 0);
    stop();
  });

  it('rejects bad metadata when the hook is built', () => {
    assert.throws(() => registrar(new StaticRegistry(), { service: 'greeter', weight: -1 }), /weight must be a finite number > 0/);
  });

  it('refuses a wildcard address, from the hook or from register() itself, naming the option to set', async () => {
    const registry = new StaticRegistry();
    const rule = /address must be an address clients can dial, not a wildcard \(0\.0\.0\.0 or ::\).*advertiseAddress.*GRPC_HA_ADVERTISE_ADDRESS/;
    for (const address of ['0.0.0.0:50051', '[::]:50051']) {
      await assert.rejects(registrar(registry, { service: 'greeter' })({ address }), rule, address);
      assert.throws(() => registry.register({ service: 'greeter', address }), rule, address);
    }
  });
});
