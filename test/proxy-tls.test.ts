/**
 * TLS through the grpc-ha proxy: mTLS on the listener (ALPN h2, client certificates checked
 * against a CA) and TLS to the backends, with certificates made by openssl for the test; and
 * handshakes that never finish are dropped in time while a TLS client keeps calling.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { EchoClient, echoServiceDefinition } from '../src/example/echo-service.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { connect, type Socket } from 'node:net';
import { startExampleServer } from '../src/example/example-server.js';
import { makeCerts } from './support/certs.js';
import { eventually, proxyFor, rejection, steadyClient, unary } from './support/proxy.js';

describe('proxy: TLS', () => {
  let dir: string;
  let backend: grpc.Server;
  let backendAddress: string;
  let proxy: Proxy;
  const file = (name: string) => readFileSync(path.join(dir, name));

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-proxy-tls-'));
    makeCerts(dir);
    // A TLS-only backend: the proxy must speak TLS to it.
    backend = new grpc.Server();
    backend.addService(echoServiceDefinition, {
      unary: (call: grpc.ServerUnaryCall<{ message: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { message: call.request.message, serverId: 'tls-backend' }),
    } as unknown as grpc.UntypedServiceImplementation);
    const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: file('server.crt'), private_key: file('server.key') }]);
    const port = await new Promise<number>((resolve, reject) => backend.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    backendAddress = `127.0.0.1:${port}`;
    proxy = await proxyFor({
      tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), clientCa: path.join(dir, 'ca.crt') },
      clusters: { echo: { target: backendAddress, tls: { ca: path.join(dir, 'ca.crt'), serverName: 'localhost' } } },
    });
  });
  after(async () => {
    await proxy.close(100);
    backend.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves mTLS clients over TLS to a TLS backend', async () => {
    const client = new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createSsl(file('ca.crt'), file('client.key'), file('client.crt')));
    const reply = await unary(client, { message: 'secure' });
    assert.deepEqual([reply.message, reply.serverId], ['secure', 'tls-backend']);
    client.close();
  });

  it('refuses a client without a certificate', async () => {
    const client = new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createSsl(file('ca.crt')));
    const error = await rejection(unary(client, { message: 'x' }, { deadlineMs: 3000 }));
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    client.close();
  });

  it('refuses a plaintext client', async () => {
    const client = new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
    const error = await rejection(unary(client, { message: 'x' }, { deadlineMs: 3000 }));
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    client.close();
  });
});

describe('proxy: TLS handshakes that never finish', () => {
  it('drops sockets whose handshake does not end within handshakeTimeoutMs of the accept, even trickling, and keeps serving', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-proxy-tls-hs-'));
    makeCerts(dir);
    const file = (name: string) => readFileSync(path.join(dir, name));
    const backend = await startExampleServer({ id: 'b' });
    const proxy = await proxyFor({
      tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') },
      limits: { handshakeTimeoutMs: 300 },
      clusters: { echo: { target: backend.address } },
    }).catch(async (error: unknown) => {
      await backend.stop(100);
      throw error;
    });
    const client = new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createSsl(file('ca.crt')));
    const steady = steadyClient(() => unary(client));
    const sockets: Socket[] = [];
    const trickle = setInterval(() => {
      // A TLS record header announcing 512 octets, then one octet at a time: each byte restarts an
      // inactivity timer (Node's own handshakeTimeout), never the absolute one.
      for (const s of sockets.slice(0, 20)) if (!s.destroyed) s.write(Buffer.from([0]));
    }, 100);
    try {
      const started = Date.now();
      for (let i = 0; i < 120; i++) {
        const s = connect(proxy.port, '127.0.0.1');
        s.on('error', () => {});
        if (i < 20) s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
        sockets.push(s);
      }
      await eventually(() => sockets.every((s) => s.destroyed || s.readableEnded), 3000, 'every unfinished handshake dropped');
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2500, `dropped after ${elapsed} ms`);
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
      const result = await steady.stop();
      client.close();
      await proxy.close(100);
      await backend.stop(100);
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(result.failures, [], 'the steady client lost calls');
      assert.ok(result.calls > 0);
    }
  });
});
