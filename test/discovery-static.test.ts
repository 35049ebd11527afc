/**
 * Static discovery: the Registry contract over the in-memory registry
 * (test/support/registry-contract.ts), and its own extras: an address list with weights in the
 * target, a watched JSON file with a service config, an empty service failing calls fast with a
 * clear reason, and bad targets rejected at channel creation with the field named.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { StaticRegistry } from '../src/discovery/static-registry.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { captureLogs, spread, tempDir, unary, waitFor } from './support/discovery.js';
import { registryContract } from './support/registry-contract.js';

registerResolvers();

describe('static discovery', { timeout: 30_000 }, () => {
  const tmp = tempDir('grpc-ha-static');
  const logs = captureLogs();
  const servers: ExampleServer[] = [];
  const clients: EchoClient[] = [];
  const client = (target: string, options = policyChannelOptions('round_robin')) => {
    const c = new EchoClient(target, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };
  before(async () => {
    for (const id of ['a', 'b']) servers.push(await startExampleServer({ id }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    await memory.close();
    logs.restore();
    tmp.remove();
  });

  // In memory: register() is seen by this process's watchers; channels read the target or a file.
  const memory = new StaticRegistry();
  registryContract({ registry: memory, create: () => new StaticRegistry(), sharedStorage: false });

  it('balances over an address list by the weights in the target', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const echo = client(`static:///${a.address};weight=3,${b.address}`, policyChannelOptions('static_weighted_round_robin'));
    const counts = await spread(echo, 200);
    // 3:1, give or take the first calls made while only one connection was ready.
    const toA = counts.get('a') ?? 0;
    assert.ok(toA >= 140 && toA <= 160 && counts.get('b')! >= 40, JSON.stringify([...counts]));
  });

  it('follows a JSON file as it changes, with its service config', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const file = path.join(tmp.dir, 'services.json');
    writeFileSync(file, JSON.stringify({ echo: { instances: [a.address] } }));
    const echo = client(`static:///echo?file=${file}`, {});
    assert.equal((await spread(echo, 5)).get('a'), 5);
    writeFileSync(file, JSON.stringify({ echo: { instances: [a.address, { address: b.address }], serviceConfig: { loadBalancingConfig: [{ round_robin: {} }] } } }));
    await waitFor('both to answer', async () => (await spread(echo, 10)).size === 2, 3000, 0);
    writeFileSync(file, '{ broken');
    await waitFor('the bad file to be logged', () => logs.has('error', /static file .*not JSON/));
    assert.equal((await spread(echo, 10)).size, 2, 'the last good content stays');
  });

  it('fails calls at once, naming the service, when it has no instances', async () => {
    const file = path.join(tmp.dir, 'empty.json');
    writeFileSync(file, JSON.stringify({ empty: { instances: [] } }));
    // (grpc-js's own round_robin goes IDLE on an empty list and queues calls until their deadline.)
    const echo = client(`static:///empty?file=${file}`, policyChannelOptions('random'));
    const started = performance.now();
    await assert.rejects(unary(echo, 5000), /UNAVAILABLE.*no instances of empty in static file/);
    assert.ok(performance.now() - started < 2000, 'no waiting for the deadline');
  });

  it('rejects bad targets when the channel is created, naming what is wrong', () => {
    const bad: [string, RegExp][] = [
      ['static:///127.0.0.1', /must be host:port/],
      ['static:///127.0.0.1:1;weight=-1', /weight must be a finite number > 0/],
      ['static:///127.0.0.1:1;color=red', /unknown parameter "color"/],
      ['static:///svc?file=relative.json', /file must be an absolute path/],
      ['etcd://127.0.0.1:2379/svc?dc=x', /unknown parameter "dc"; etcd targets take tag/],
      ['etcd://nowhere/svc', /registry address must be host:port/],
      ['consul://127.0.0.1:8500/svc?dc=', /dc must not be empty/],
      ['file:///', /service name must not be "\." or "\.\." nor start or end with "\/"/],
    ];
    for (const [target, error] of bad) assert.throws(() => new EchoClient(target, credentials.createInsecure()), error, target);
  });
});
