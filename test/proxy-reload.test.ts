/**
 * Reload of everything on SIGHUP, on a real `grpc-ha proxy --config` process: a new listen
 * address is bound before the old listener drains, TLS certificates rotated in place (and a
 * client CA added) apply to new connections at the same address, and calls in flight on the old
 * listener finish. In process: an unchanged listener is kept (no GOAWAY), changed limits reach
 * new connections, and an address that cannot be bound changes nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { parseProxyConfig } from '../src/proxy/proxy-config.js';
import { startProxy } from '../src/proxy/proxy.js';
import { eventually, unary } from './support/proxy.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface ProxyProcess {
  child: ChildProcess;
  events: Record<string, unknown>[];
  stderr: string[];
  stop(): Promise<number | null>;
}

async function startCli(configPath: string): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [CLI, 'proxy', '--config', configPath, '--grace', '5s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  createInterface({ input: child.stdout! }).on('line', (l) => events.push(JSON.parse(l) as Record<string, unknown>));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await eventually(() => events.some((e) => e.event === 'listening') || child.exitCode !== null, 10_000, 'listening');
  assert.ok(events.some((e) => e.event === 'listening'), stderr.join('\n'));
  return {
    child,
    events,
    stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Sends SIGHUP and resolves with the next reload event. */
async function hup(p: ProxyProcess): Promise<Record<string, unknown>> {
  const seen = p.events.length;
  p.child.kill('SIGHUP');
  await eventually(() => p.events.slice(seen).some((e) => String(e.event).startsWith('reload')), 5000, 'a reload event');
  return p.events.slice(seen).find((e) => String(e.event).startsWith('reload'))!;
}

/** A port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A bidi call whose replies are collected; `finish()` ends it and resolves with its status. */
function openBidi(client: EchoClient) {
  const call = client.bidiStream();
  const replies: string[] = [];
  call.on('data', (r: { serverId: string }) => replies.push(r.serverId));
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    replies,
    send: async (message: string) => {
      const n = replies.length;
      call.write({ message });
      await eventually(() => replies.length > n, 3000, `reply to ${message}`);
    },
    finish: () => {
      call.end();
      return status;
    },
  };
}

function makeCert(dir: string, name: string, ca: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'san.ext');
}

describe('proxy reload on SIGHUP (grpc-ha proxy process)', () => {
  let backend: ExampleServer;
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  before(async () => {
    backend = await startExampleServer({ id: 'a' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-proxy-reload-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=grpc-ha reload CA', '-days', '2');
    writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const name of ['server1', 'server2', 'client']) makeCert(dir, name, 'ca');
  });
  after(async () => {
    await backend.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves to a new listen address: the new listener serves at once, the old one drains its call in flight', async () => {
    const [first, second] = [await freePort(), await freePort()];
    const config = file('move.yaml');
    const yaml = (port: number) => `listen: 127.0.0.1:${port}\nadmin: { listen: "off" }\nclusters:\n  echo:\n    target: ${backend.address}\n`;
    writeFileSync(config, yaml(first));
    const p = await startCli(config);
    const oldClient = new EchoClient(`127.0.0.1:${first}`, grpc.credentials.createInsecure());
    try {
      const bidi = openBidi(oldClient);
      await bidi.send('before');

      writeFileSync(config, yaml(second));
      const reloaded = await hup(p);
      assert.deepEqual(reloaded, { event: 'reloaded', port: second, adminPort: null });
      const newClient = new EchoClient(`127.0.0.1:${second}`, grpc.credentials.createInsecure());
      assert.equal((await unary(newClient)).serverId, 'a');
      newClient.close();

      await bidi.send('after');
      const status = await bidi.finish();
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.deepEqual(bidi.replies, ['a', 'a'], 'the call in flight on the old listener finished there');
      // The old address no longer accepts connections.
      await eventually(
        () =>
          new Promise<boolean>((resolve) => {
            const s = net.connect(first, '127.0.0.1');
            s.once('connect', () => (s.destroy(), resolve(false)));
            s.once('error', () => resolve(true));
          }),
        3000,
        'the old listener closed',
      );
      assert.equal(await p.stop(), 0);
    } finally {
      oldClient.close();
      await p.stop();
    }
  });

  it('rotates the TLS certificate in place and adds a client CA at the same address, new connections get them, the call in flight finishes', async () => {
    const port = await freePort();
    copyFileSync(file('server1.crt'), file('live.crt'));
    copyFileSync(file('server1.key'), file('live.key'));
    const config = file('tls.yaml');
    const yaml = (clientCa: boolean) =>
      `listen: 127.0.0.1:${port}\nadmin: { listen: "off" }\ntls: { cert: live.crt, key: live.key${clientCa ? ', clientCa: ca.crt' : ''} }\nclusters:\n  echo:\n    target: ${backend.address}\n`;
    writeFileSync(config, yaml(false));
    const p = await startCli(config);
    const fingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(file('ca.crt')), ALPNProtocols: ['h2'] }, () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.once('error', reject);
      });
    const cert = (name: string) => new X509Certificate(readFileSync(file(`${name}.crt`))).fingerprint256;
    const serverCreds = grpc.credentials.createSsl(readFileSync(file('ca.crt')));
    const client = new EchoClient(`127.0.0.1:${port}`, serverCreds);
    try {
      assert.equal(await fingerprint(), cert('server1'));
      const bidi = openBidi(client);
      await bidi.send('before');

      copyFileSync(file('server2.crt'), file('live.crt'));
      copyFileSync(file('server2.key'), file('live.key'));
      assert.deepEqual(await hup(p), { event: 'reloaded', port, adminPort: null });
      assert.equal(await fingerprint(), cert('server2'), 'a new connection gets the new certificate');
      await bidi.send('after');
      assert.equal((await bidi.finish()).code, grpc.status.OK);

      // A key that does not match its certificate is refused before anything changes.
      copyFileSync(file('server1.key'), file('live.key'));
      const refused = await hup(p);
      assert.equal(refused.event, 'reload-failed');
      assert.match(String(refused.error), /tls\.cert and tls\.key \(live\.crt, live\.key\) cannot be used together: .*key values mismatch/);
      assert.equal(await fingerprint(), cert('server2'), 'the listener kept its certificate');
      copyFileSync(file('server2.key'), file('live.key'));

      writeFileSync(config, yaml(true));
      assert.equal((await hup(p)).event, 'reloaded');
      const anonymous = new EchoClient(`127.0.0.1:${port}`, serverCreds);
      await assert.rejects(unary(anonymous, { message: 'x' }, { deadlineMs: 2000 }), 'a client without a certificate is refused once clientCa is set');
      anonymous.close();
      const mtls = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(readFileSync(file('ca.crt')), readFileSync(file('client.key')), readFileSync(file('client.crt'))));
      assert.equal((await unary(mtls)).serverId, 'a');
      mtls.close();
      assert.equal(await p.stop(), 0);
    } finally {
      client.close();
      await p.stop();
    }
  });
});

describe('proxy reload of the listener (in process)', () => {
  let backend: ExampleServer;
  before(async () => {
    backend = await startExampleServer({ id: 'a' });
  });
  after(async () => {
    await backend.stop(0);
  });

  it('keeps an unchanged listener and its connections; applies changed limits to new connections; rejects an address in use and keeps serving; starts the admin endpoint', async () => {
    const logs: string[] = [];
    const base = { listen: '127.0.0.1:0', admin: { listen: 'off' as const }, clusters: { echo: { target: backend.address } } };
    const proxy = await startProxy(parseProxyConfig(base), { log: (m) => logs.push(m) });
    const port = proxy.port;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    let goaway = false;
    session.on('goaway', () => (goaway = true));
    await eventually(() => session.remoteSettings.maxConcurrentStreams !== undefined && session.connecting === false, 3000, 'settings');
    try {
      await proxy.reload(parseProxyConfig({ ...base, clusters: { echo: { target: backend.address, policy: 'round_robin' } } }));
      assert.equal(proxy.port, port);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(goaway, false, 'a reload that leaves the listener alone does not touch its connections');

      await proxy.reload(parseProxyConfig({ ...base, listen: `127.0.0.1:${port}`, limits: { maxConcurrentStreams: 7 } }));
      assert.equal(proxy.port, port);
      await eventually(() => goaway, 3000, 'GOAWAY to the old connection');
      const fresh = http2.connect(`http://127.0.0.1:${port}`);
      fresh.on('error', () => {});
      await eventually(() => fresh.remoteSettings.maxConcurrentStreams === 7, 3000, 'the new SETTINGS_MAX_CONCURRENT_STREAMS');
      fresh.close();

      const blocker = net.createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
      const taken = (blocker.address() as net.AddressInfo).port;
      await assert.rejects(
        proxy.reload(parseProxyConfig({ ...base, listen: `127.0.0.1:${taken}`, clusters: { echo: { target: '127.0.0.1:1' } } })),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`),
      );
      await new Promise((r) => blocker.close(r));
      assert.equal(proxy.port, port);
      assert.equal(proxy.adminPort, null);

      // The admin endpoint is switched on (and could move) by a reload as well.
      await proxy.reload(parseProxyConfig({ ...base, listen: `127.0.0.1:${port}`, limits: { maxConcurrentStreams: 7 }, admin: { listen: '127.0.0.1:0' } }));
      assert.equal(proxy.port, port, 'only the admin endpoint changed: the listener stays');
      const health = await fetch(`http://127.0.0.1:${proxy.adminPort}/healthz`);
      assert.equal(health.status, 200);
      const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      assert.equal((await unary(client)).serverId, 'a', 'a rejected reload changes nothing, clusters included');
      client.close();
    } finally {
      session.destroy();
      await proxy.close(100);
    }
  });
});
