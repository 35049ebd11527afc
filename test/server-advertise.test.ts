/**
 * Registration never publishes a wildcard: a server binding 0.0.0.0 registers an address clients
 * can dial (an interface address, or the one given by the advertiseAddress option or
 * GRPC_HA_ADVERTISE_ADDRESS), and a client calls it through the registry; bad values name the
 * option or the variable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createClient } from '../src/client/create-client.js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { registrar } from '../src/discovery/registrar.js';
import { spawnBackend } from '../src/example/backend-process.js';
import { echoServiceDefinition, EchoClient } from '../src/example/echo-service.js';
import { createEchoService } from '../src/example/example-server.js';
import { advertiseSetting } from '../src/server/advertised-address.js';
import { serve } from '../src/server/ha-server.js';
import { unary, waitFor } from './support/discovery.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-advertise-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const services = (id: string) => [{ definition: echoServiceDefinition, implementation: createEchoService({ id }).implementation }];

/** The instances of `service` in the test's file registry, once there are `count`. */
async function registered(service: string, count = 1): Promise<readonly ServiceInstance[]> {
  const registry = new FileRegistry({ dir });
  let seen: readonly ServiceInstance[] = [];
  const stop = registry.watch({ service }, { instances: (i) => (seen = i), config: () => undefined, error: () => undefined });
  try {
    await waitFor(`${count} instance(s) of ${service}`, () => seen.length >= count);
    return seen;
  } finally {
    stop();
    await registry.close();
  }
}

describe('advertised address', () => {
  it("binding 0.0.0.0 registers an interface address, not the wildcard, and a client calls through it", async () => {
    const instance = await serve({ services: services('wild'), host: '0.0.0.0', handleSignals: false, register: registrar(new FileRegistry({ dir }), { service: 'wild' }) });
    const client = createClient(EchoClient, `file:///wild?dir=${encodeURIComponent(dir)}`);
    try {
      assert.equal(instance.address, `0.0.0.0:${instance.port}`, 'address is as bound');
      const [entry] = await registered('wild');
      assert.equal(entry!.address, instance.advertisedAddress);
      assert.doesNotMatch(entry!.address, /^(0\.0\.0\.0|\[::\]):/);
      assert.equal((await unary(client)).serverId, 'wild', `called ${entry!.address} found in the registry`);
    } finally {
      client.close();
      await instance.shutdown({ force: true });
    }
  });

  it('the advertiseAddress option wins over the bound host; a host alone takes the bound port', async () => {
    const instance = await serve({ services: services('opt'), host: '0.0.0.0', advertiseAddress: '127.0.0.1', handleSignals: false, register: registrar(new FileRegistry({ dir }), { service: 'opt' }) });
    try {
      assert.equal(instance.advertisedAddress, `127.0.0.1:${instance.port}`);
      assert.equal((await registered('opt'))[0]!.address, `127.0.0.1:${instance.port}`);
    } finally {
      await instance.shutdown({ force: true });
    }
  });

  it('a process given GRPC_HA_ADVERTISE_ADDRESS (as a pod gets its IP) registers that address', async () => {
    const backend = await spawnBackend({
      host: '0.0.0.0',
      service: 'env',
      registry: `file:///?dir=${encodeURIComponent(dir)}`,
      env: { GRPC_HA_ADVERTISE_ADDRESS: '127.0.0.1' },
    });
    const client = createClient(EchoClient, `file:///env?dir=${encodeURIComponent(dir)}`);
    try {
      await backend.registered;
      assert.equal((await registered('env'))[0]!.address, `127.0.0.1:${backend.port}`);
      assert.ok((await unary(client)).serverId);
    } finally {
      client.close();
      await backend.stop('SIGKILL');
    }
  });

  it('rejects a wildcard or malformed address to advertise, naming the option or the variable, before binding', async () => {
    await assert.rejects(serve({ services: services('x'), advertiseAddress: '0.0.0.0', handleSignals: false }), (e: Error & { code?: string }) =>
      e.code === 'INVALID_CONFIG' && /^server: advertiseAddress must be an address clients can dial, not a wildcard/.test(e.message),
    );
    await assert.rejects(serve({ services: services('x'), advertiseAddress: '10.0.0.7:99999', handleSignals: false }), /server: advertiseAddress must be a host or host:port .*got "10\.0\.0\.7:99999"/);
    assert.throws(() => advertiseSetting(undefined, { GRPC_HA_ADVERTISE_ADDRESS: '[::]:50051' }), /^GrpcHaError: server: environment variable GRPC_HA_ADVERTISE_ADDRESS must be an address clients can dial, not a wildcard/);
    assert.equal(advertiseSetting('10.0.0.9', { GRPC_HA_ADVERTISE_ADDRESS: '10.0.0.7' })?.host, '10.0.0.9', 'the option wins over the variable');
  });
});
