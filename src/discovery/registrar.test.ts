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
});
