/**
 * serve() starts completely or leaves nothing behind: a taken gRPC port, a taken admin port or a
 * failed registration is one GrpcHaError(START_FAILED) naming the step (and host:port), with no
 * server, admin server or signal handler left — so a process whose start failed exits by itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setLogger, setLogVerbosity, logVerbosity } from '@grpc/grpc-js';
import { GrpcHaError } from '../src/core/errors.js';
import { echoServiceDefinition } from '../src/example/echo-service.js';
import { createEchoService } from '../src/example/example-server.js';
import { serve } from '../src/server/ha-server.js';
import { freePort } from './support/etcd.js';

const INDEX = fileURLToPath(new URL('../src/index.js', import.meta.url));
const services = () => [{ definition: echoServiceDefinition, implementation: createEchoService({ id: 'x' }).implementation }];

/** A plain TCP listener holding a loopback port. */
async function occupy(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Whether a port on 127.0.0.1 can be bound now (nothing was left listening on it). */
async function bindable(port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}

function startFailed(...parts: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof GrpcHaError, String(e));
    assert.equal(e.code, 'START_FAILED', e.message);
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" does not say ${part}`);
    return true;
  };
}

describe('serve() starts completely or not at all', () => {
  const held: { close(): Promise<void> }[] = [];
  after(() => Promise.all(held.map((h) => h.close())));

  it('a taken gRPC port is one error naming host:port, without grpc-js logging its own', async () => {
    const taken = await occupy();
    held.push(taken);
    const logged: string[] = [];
    setLogger({ error: (...args: unknown[]) => logged.push(args.join(' ')) } as Partial<Console>);
    setLogVerbosity(logVerbosity.ERROR);
    const signals = process.listenerCount('SIGTERM');
    try {
      await assert.rejects(serve({ services: services(), port: taken.port }), startFailed(`cannot bind 127.0.0.1:${taken.port}`, 'in use'));
    } finally {
      setLogger(console);
    }
    assert.deepEqual(logged, [], 'grpc-js printed nothing');
    assert.equal(process.listenerCount('SIGTERM'), signals, 'no signal handler left');
  });

  it('a taken admin port closes the gRPC server it had bound, and says so', async () => {
    const taken = await occupy();
    held.push(taken);
    const port = await freePort();
    const signals = process.listenerCount('SIGTERM');
    await assert.rejects(
      serve({ services: services(), port, admin: { port: taken.port } }),
      startFailed(`admin: cannot listen on 127.0.0.1:${taken.port}`, `gRPC server on 127.0.0.1:${port} was closed`),
    );
    assert.equal(process.listenerCount('SIGTERM'), signals, 'no signal handler left');
    assert.ok(await bindable(port), 'the gRPC port is free again');
  });

  it('a failed registration closes the server and names the step', async () => {
    const port = await freePort();
    const signals = process.listenerCount('SIGTERM');
    const register = () => Promise.reject(new Error('registry says no'));
    await assert.rejects(serve({ services: services(), port, register, drainNoticeMs: 0 }), startFailed(`registering 127.0.0.1:${port} failed`, 'registry says no'));
    assert.equal(process.listenerCount('SIGTERM'), signals, 'no signal handler left');
    assert.ok(await bindable(port), 'the gRPC port is free again');
  });

  it('a process whose serve() failed exits by itself (nothing keeps it alive)', { timeout: 20_000 }, async () => {
    const taken = await occupy();
    held.push(taken);
    // The README's observability snippet with the admin port taken, in a process of its own.
    const script = `
      import { serve } from ${JSON.stringify(INDEX)};
      import { echoServiceDefinition } from ${JSON.stringify(fileURLToPath(new URL('../src/example/echo-service.js', import.meta.url)))};
      try {
        await serve({ services: [{ definition: echoServiceDefinition, implementation: {} }], admin: { port: ${taken.port} } });
      } catch (error) {
        console.log(error.code, error.message);
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.once('exit', resolve)),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000)),
    ]);
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 0, `the process exits by itself: ${out}`);
    assert.match(out, /^START_FAILED serve: the admin server did not start/m);
  });
});
