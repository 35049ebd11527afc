// Real example servers and real grpc-js clients on 127.0.0.1: the fixture every other test relies on.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { GrpcHaError } from '../src/core/errors.js';
import { ECHO_SERVICE_NAME, EchoClient, type EchoReply } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer, type ExampleServerOptions } from '../src/example/example-server.js';
import { CLI } from './support/run-cli.js';

const TEST_TIMEOUT = { timeout: 15_000 };
const deadline = (ms = 5_000): Partial<grpc.CallOptions> => ({ deadline: Date.now() + ms });

/** Starts a server and a client to it, both closed when test `t` ends. */
async function fixture(t: TestContext, options: ExampleServerOptions = {}): Promise<{ server: ExampleServer; client: EchoClient }> {
  const server = await startExampleServer(options);
  const client = new EchoClient(server.address, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    await server.stop(200);
  });
  return { server, client };
}

function unary(client: EchoClient, message: string, payload?: Buffer): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    client.unary({ message, payload }, new grpc.Metadata(), deadline(), (error, reply) => (error ? reject(error) : resolve(reply!)));
  });
}

function collect<T>(stream: NodeJS.ReadableStream): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (item: T) => items.push(item));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });
}

async function expectStatus(promise: Promise<unknown>, code: grpc.status): Promise<grpc.ServiceError> {
  const error = await promise.then(
    () => assert.fail(`expected status ${code}, the call succeeded`),
    (e: unknown) => e as grpc.ServiceError,
  );
  assert.equal(error.code, code, `status: ${error.message}`);
  return error;
}

describe('example server: the four RPC kinds', TEST_TIMEOUT, () => {
  // One server shared by the suite, so the stats test sees every call made before it.
  let server: ExampleServer;
  let client: EchoClient;
  before(async () => {
    server = await startExampleServer({ id: 'b1' });
    client = new EchoClient(server.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.stop(200);
  });

  test('unary echoes message and payload with server_id', async () => {
    const payload = Buffer.alloc(64 * 1024, 7);
    const reply = await unary(client, 'hello', payload);
    assert.equal(reply.message, 'hello');
    assert.equal(reply.serverId, 'b1');
    assert.deepEqual(reply.payload, payload);
  });

  test('server stream sends `count` replies in order', async () => {
    const replies = await collect<EchoReply>(client.serverStream({ message: 'tick', count: 3 }, new grpc.Metadata(), deadline()));
    assert.deepEqual(
      replies.map((r) => r.message),
      ['tick:0', 'tick:1', 'tick:2'],
    );
    assert.ok(replies.every((r) => r.serverId === 'b1'));
    assert.deepEqual(await collect(client.serverStream({ message: 'none', count: 0 }, deadline())), []);
  });

  test('client stream replies once with the concatenation', async () => {
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.clientStream(new grpc.Metadata(), deadline(), (error, r) => (error ? reject(error) : resolve(r!)));
      for (const message of ['a', 'b', 'c']) call.write({ message });
      call.end();
    });
    assert.equal(reply.message, 'abc');
    assert.equal(reply.serverId, 'b1');
  });

  test('bidi stream echoes each message in order', async () => {
    const call = client.bidiStream(new grpc.Metadata(), deadline());
    const replies = collect<EchoReply>(call);
    for (const message of ['x', 'y', 'z']) call.write({ message, payload: Buffer.from(message) });
    call.end();
    const got = await replies;
    assert.deepEqual(
      got.map((r) => [r.message, r.payload.toString(), r.serverId]),
      [
        ['x', 'x', 'b1'],
        ['y', 'y', 'b1'],
        ['z', 'z', 'b1'],
      ],
    );
  });

  test('stats count calls per method', () => {
    assert.equal(server.stats.calls, 5);
    assert.deepEqual(server.stats.byMethod, { unary: 1, serverStream: 2, clientStream: 1, bidiStream: 1 });
    assert.equal(server.stats.failures, 0);
  });

  test('a malformed request becomes a status, and the server keeps serving', async (t) => {
    const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
    t.after(() => raw.close());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const call = new Promise((resolve, reject) => {
      raw.makeUnaryRequest(
        '/grpcha.example.v1.Echo/Unary',
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbage,
        new grpc.Metadata(),
        deadline(),
        (error, value) => (error ? reject(error) : resolve(value)),
      );
    });
    await expectStatus(call, grpc.status.INTERNAL);
    assert.equal((await unary(client, 'still up')).message, 'still up');
  });
});

describe('example server: defaults and options', TEST_TIMEOUT, () => {
  test('id defaults to the bound address', async (t) => {
    const { server, client } = await fixture(t);
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    assert.equal(server.id, server.address);
    assert.equal((await unary(client, 'm')).serverId, server.address);
  });

  test('invalid options are rejected with INVALID_CONFIG', async () => {
    for (const options of [{ latencyMs: -1 }, { port: 70_000 }, { failure: { code: 0, rate: 1 } }, { failure: { code: 14, rate: 2 } }]) {
      await assert.rejects(startExampleServer(options), (e: unknown) => e instanceof GrpcHaError && e.code === 'INVALID_CONFIG');
    }
  });

  test('stop is idempotent', async () => {
    const server = await startExampleServer();
    await Promise.all([server.stop(100), server.stop(100)]);
    await server.stop();
  });
});

describe('example server: latency', TEST_TIMEOUT, () => {
  test('each unary call waits at least latencyMs, and setLatency changes it', async (t) => {
    const { server, client } = await fixture(t, { latencyMs: 40 });
    let start = performance.now();
    await unary(client, 'slow');
    assert.ok(performance.now() - start >= 40, `took ${performance.now() - start}ms`);
    server.setLatency(120);
    start = performance.now();
    await unary(client, 'slower');
    assert.ok(performance.now() - start >= 120, `took ${performance.now() - start}ms`);
  });

  test('each streamed reply waits latencyMs', async (t) => {
    const { client } = await fixture(t, { latencyMs: 30 });
    const start = performance.now();
    const replies = await collect<EchoReply>(client.serverStream({ message: 's', count: 3 }, deadline()));
    assert.equal(replies.length, 3);
    assert.ok(performance.now() - start >= 90, `took ${performance.now() - start}ms`);

    const bidiStart = performance.now();
    const call = client.bidiStream(deadline());
    const echoed = collect<EchoReply>(call);
    call.write({ message: 'b' });
    call.end();
    assert.equal((await echoed).length, 1);
    assert.ok(performance.now() - bidiStart >= 30, `took ${performance.now() - bidiStart}ms`);
  });
});

describe('example server: failures', TEST_TIMEOUT, () => {
  test('rate 1 fails every call with the status; setFailure(null) heals', async (t) => {
    const { server, client } = await fixture(t, { id: 'bad', failure: { code: grpc.status.UNAVAILABLE, rate: 1 } });
    const error = await expectStatus(unary(client, 'x'), grpc.status.UNAVAILABLE);
    assert.deepEqual(error.metadata.get('x-server-id'), ['bad']);
    await expectStatus(collect(client.serverStream({ message: 'x', count: 2 }, deadline())), grpc.status.UNAVAILABLE);
    server.setFailure({ code: grpc.status.RESOURCE_EXHAUSTED, rate: 1, message: 'busy' });
    const busy = await expectStatus(unary(client, 'x'), grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(busy.details, 'busy');
    server.setFailure(null);
    assert.equal((await unary(client, 'ok')).message, 'ok');
    assert.equal(server.stats.failures, 3);
  });

  test('a fractional rate draws from the injected random source', async (t) => {
    const draws = [0.1, 0.9, 0.49, 0.5];
    const { client } = await fixture(t, { failure: { code: grpc.status.ABORTED, rate: 0.5 }, random: () => draws.shift()! });
    await expectStatus(unary(client, '1'), grpc.status.ABORTED);
    await unary(client, '2');
    await expectStatus(unary(client, '3'), grpc.status.ABORTED);
    await unary(client, '4');
  });
});

describe('example server: health', TEST_TIMEOUT, () => {
  const HealthClient = grpc.makeClientConstructor(healthService as grpc.ServiceDefinition, 'Health');

  function check(client: grpc.Client, service: string): Promise<string> {
    return new Promise((resolve, reject) => {
      (client as unknown as Record<string, (...args: unknown[]) => void>).check(
        { service },
        new grpc.Metadata(),
        deadline(),
        (error: grpc.ServiceError | null, reply: { status: string }) => (error ? reject(error) : resolve(reply.status)),
      );
    });
  }

  test('Check reflects setServing for "" and the Echo service', async (t) => {
    const { server } = await fixture(t);
    const health = new HealthClient(server.address, grpc.credentials.createInsecure());
    t.after(() => health.close());
    assert.equal(await check(health, ''), 'SERVING');
    assert.equal(await check(health, ECHO_SERVICE_NAME), 'SERVING');
    server.setServing(false);
    assert.equal(await check(health, ''), 'NOT_SERVING');
    assert.equal(await check(health, ECHO_SERVICE_NAME), 'NOT_SERVING');
    server.setServing(true);
    assert.equal(await check(health, ECHO_SERVICE_NAME), 'SERVING');
  });

  test('serving: false starts NOT_SERVING; health: false has no health service', async (t) => {
    const { server: down } = await fixture(t, { serving: false });
    const { server: bare } = await fixture(t, { health: false });
    const downHealth = new HealthClient(down.address, grpc.credentials.createInsecure());
    const bareHealth = new HealthClient(bare.address, grpc.credentials.createInsecure());
    t.after(() => {
      downHealth.close();
      bareHealth.close();
    });
    assert.equal(await check(downHealth, ''), 'NOT_SERVING');
    await expectStatus(check(bareHealth, ''), grpc.status.UNIMPLEMENTED);
  });
});

describe('grpc-ha serve-example', { timeout: 30_000 }, () => {
  function run(t: TestContext, args: string[]) {
    assert.ok(existsSync(CLI), `missing ${CLI}`);
    const child = spawn(process.execPath, [CLI, 'serve-example', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRPC_HA_LOG_LEVEL: 'warn' } });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // 'close' rather than 'exit': it waits for stderr to be fully read.
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    return { child, exited, stderr: () => stderr };
  }

  test('prints the listening line, serves, and exits 0 on SIGTERM', async (t) => {
    const { child, exited } = run(t, ['--port', '0', '--id', 'cli-1', '--latency', '1ms', '--drain-notice', '0ms']);
    const lines = createInterface({ input: child.stdout });
    const [first] = (await once(lines, 'line')) as [string];
    const listening = JSON.parse(first) as { event: string; port: number; id: string };
    assert.equal(listening.event, 'listening');
    assert.equal(listening.id, 'cli-1');
    assert.ok(Number.isInteger(listening.port) && listening.port > 0);

    const client = new EchoClient(`127.0.0.1:${listening.port}`, grpc.credentials.createInsecure());
    t.after(() => client.close());
    const reply = await unary(client, 'via cli');
    assert.deepEqual([reply.message, reply.serverId], ['via cli', 'cli-1']);

    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });

  test('--not-serving starts NOT_SERVING', async (t) => {
    const { child } = run(t, ['--not-serving', '--drain-notice', '0ms']);
    const [first] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const { address } = JSON.parse(first) as { address: string };
    const health = new (grpc.makeClientConstructor(healthService as grpc.ServiceDefinition, 'Health'))(address, grpc.credentials.createInsecure());
    t.after(() => health.close());
    const status = await new Promise<string>((resolve, reject) =>
      (health as unknown as Record<string, (...args: unknown[]) => void>).check({ service: ECHO_SERVICE_NAME }, new grpc.Metadata(), deadline(), (e: grpc.ServiceError | null, r: { status: string }) =>
        e ? reject(e) : resolve(r.status),
      ),
    );
    assert.equal(status, 'NOT_SERVING');
  });

  test('bad arguments: one stderr line and exit 2', async (t) => {
    const clashes = [['--servers', '[{"id":"a"}]', '--id', 'b'], ['--servers', '[]'], ['--service', 'echo'], ['--workers', '2', '--control']];
    // All at once: seven Node start-ups one after the other outlast the suite's limit on a loaded machine.
    const runs = [['--port', 'abc'], ['--fail-rate', '3'], ['--bogus'], ...clashes].map((args) => run(t, args));
    for (const { exited, stderr } of runs) {
      assert.deepEqual(await exited, [2, null], stderr());
      assert.equal(stderr().trim().split('\n').length, 1, stderr());
      assert.match(stderr(), /^grpc-ha: /);
    }
  });
});
