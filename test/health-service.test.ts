/** The server-side grpc.health.v1 helper: Check and Watch answer per service, and flip on demand. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentials, makeGenericClientConstructor, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { addHealthService } from '../src/server/health-service.js';

const HealthClient = makeGenericClientConstructor(healthService as never, 'Health');
type Client = InstanceType<typeof HealthClient> & {
  check(req: { service: string }, cb: (e: ServiceError | null, r?: { status: string }) => void): void;
  watch(req: { service: string }): NodeJS.EventEmitter & { cancel(): void };
};

async function serve() {
  const server = new Server();
  const health = addHealthService(server, { services: ['greeter.Greeter'] });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure()) as Client;
  const check = (service: string) =>
    new Promise<string>((resolve, reject) => client.check({ service }, (e, r) => (e ? reject(e) : resolve(r!.status))));
  return { server, health, client, check };
}

describe('addHealthService', () => {
  it('reports the server ("") and each service, and flips one or all', async () => {
    const { server, health, client, check } = await serve();
    try {
      assert.equal(await check(''), 'SERVING');
      assert.equal(await check('greeter.Greeter'), 'SERVING');
      await assert.rejects(check('other.Service'), (e: ServiceError) => e.code === 5, 'unknown service: NOT_FOUND');
      health.setNotServing('greeter.Greeter');
      assert.equal(await check('greeter.Greeter'), 'NOT_SERVING');
      assert.equal(await check(''), 'SERVING');
      health.setNotServing();
      assert.equal(await check(''), 'NOT_SERVING');
      health.setServing();
      assert.deepEqual([...health.statuses()], [['', 'SERVING'], ['greeter.Greeter', 'SERVING']]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('Watch streams every change; enterShutdown makes everything NOT_SERVING for good', async () => {
    const { server, health, client, check } = await serve();
    const seen: string[] = [];
    const call = client.watch({ service: 'greeter.Greeter' });
    call.on('data', (r: { status: string }) => seen.push(r.status));
    call.on('error', () => {});
    try {
      const until = async (n: number) => {
        for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 5));
      };
      await until(1);
      health.setNotServing('greeter.Greeter');
      await until(2);
      health.setServing('greeter.Greeter');
      await until(3);
      health.enterShutdown();
      await until(4);
      health.setServing();
      assert.deepEqual(seen, ['SERVING', 'NOT_SERVING', 'SERVING', 'NOT_SERVING']);
      assert.equal(await check(''), 'NOT_SERVING');
    } finally {
      call.cancel();
      client.close();
      server.forceShutdown();
    }
  });
});
