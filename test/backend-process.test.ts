import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { spawnBackend, spawnBackendGroup } from '../src/example/backend-process.js';
import { EchoClient, type EchoReply } from '../src/example/echo-service.js';

function call(address: string): Promise<EchoReply> {
  const c = new EchoClient(address, credentials.createInsecure());
  return new Promise<EchoReply>((resolve, reject) =>
    c.unary({ message: 'x' }, { deadline: Date.now() + 5000 }, (err: ServiceError | null, r) => (err ? reject(err) : resolve(r!))),
  ).finally(() => c.close());
}

describe('backend processes', () => {
  it('a group runs several servers with their own ids and latencies in one process, and stops cleanly', async () => {
    const group = await spawnBackendGroup([{ id: 'one' }, { id: 'two', latencyMs: 30 }]);
    try {
      assert.equal(group.servers.length, 2);
      assert.equal((await call(group.servers[0]!.address)).serverId, 'one');
      const t0 = performance.now();
      assert.equal((await call(group.servers[1]!.address)).serverId, 'two');
      assert.ok(performance.now() - t0 >= 30);
    } finally {
      assert.equal(await group.stop(), 0);
    }
  });

  it('a single backend killed with SIGKILL reports the signal and refuses calls afterwards', async () => {
    const backend = await spawnBackend({ id: 'victim' });
    assert.equal((await call(backend.address)).serverId, 'victim');
    assert.equal(await backend.stop('SIGKILL'), 'SIGKILL');
    await assert.rejects(call(backend.address), (e: ServiceError) => e.code === 14);
  });
});
