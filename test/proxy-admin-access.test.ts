/**
 * Who may read the proxy's admin endpoint: bound off loopback it needs `admin.token` (the rule
 * and the message of the library's admin server, one implementation), every route but /healthz
 * then asks for the token; without a token, only requests whose Host names a loopback address or
 * the bound host are answered, so a page that rebinds its DNS name to 127.0.0.1 reads nothing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { startAdminServer } from '../src/observe/admin-server.js';
import { parseProxyConfig } from '../src/proxy/proxy-config.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { proxyFor } from './support/proxy.js';
import { runCli } from './support/run-cli.js';

/** GET `path` on 127.0.0.1:`port` with the given headers (Host included: fetch cannot set it). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });
}

const NEEDS_TOKEN = /^admin: token is required when host is 0\.0\.0\.0 \(not a loopback address\)$/;

describe('proxy admin: binding off loopback requires a token', () => {
  it('refuses admin.listen 0.0.0.0 without admin.token, with the library admin server\'s message', async () => {
    const config = { admin: { listen: '0.0.0.0:9901' }, clusters: { a: { target: '127.0.0.1:1' } } };
    const proxyError = (() => {
      try {
        parseProxyConfig(config);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    })();
    assert.match(proxyError.replace(/^proxy config: /, ''), NEEDS_TOKEN);
    await assert.rejects(startAdminServer({ host: '0.0.0.0' }), (e: Error) => NEEDS_TOKEN.test(e.message));
    assert.equal(parseProxyConfig({ ...config, admin: { listen: '0.0.0.0:9901', token: 't' } }).admin?.token, 't');
    assert.equal(parseProxyConfig({ ...config, admin: { listen: ':9901' } }).admin?.host, '127.0.0.1', '":port" binds loopback');
  });

  it('makes `grpc-ha proxy --admin 0.0.0.0:PORT` exit 2 saying a token is required', async () => {
    const run = await runCli(['proxy', '--listen', '127.0.0.1:0', '--target', '127.0.0.1:1', '--admin', '0.0.0.0:0']);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /admin: token is required when host is 0\.0\.0\.0 \(not a loopback address\); set admin\.token in a --config file/);
  });
});

describe('proxy admin: token and Host checks', () => {
  let backend: ExampleServer | undefined;
  let open: Proxy | undefined;
  let guarded: Proxy | undefined;

  before(async () => {
    backend = await startExampleServer({ id: 'a' });
    open = await proxyFor({ admin: { listen: '127.0.0.1:0' }, clusters: { echo: { target: backend.address } } });
    guarded = await proxyFor({ admin: { listen: '0.0.0.0:0', token: 's3cret-token' }, clusters: { echo: { target: backend.address } } });
  });

  after(async () => {
    await Promise.all([open?.close(100), guarded?.close(100)]);
    await backend?.stop(100);
  });

  it('answers /state, /metrics and the dashboard off loopback only with the token; /healthz without', async () => {
    const port = guarded!.adminPort!;
    for (const path of ['/state', '/metrics', '/api/state', '/']) {
      assert.equal((await get(port, path)).status, 401, `${path} without a token`);
      assert.equal((await get(port, path, { authorization: 'Bearer s3cret-tokeX' })).status, 401, `${path} with a wrong token`);
      assert.equal((await get(port, path, { authorization: 'Bearer s3cret' })).status, 401, `${path} with a prefix of the token`);
      assert.equal((await get(port, path, { authorization: 'Bearer s3cret-token' })).status, 200, `${path} with the token`);
    }
    assert.equal((await get(port, '/state?token=s3cret-token')).status, 200);
    assert.equal((await get(port, '/healthz')).status, 200, 'liveness probes need no token');
  });

  it('refuses requests whose Host is not loopback or the bound host when there is no token (DNS rebinding)', async () => {
    const port = open!.adminPort!;
    for (const path of ['/state', '/metrics', '/api/state', '/', '/healthz']) {
      const rebound = await get(port, path, { host: `evil.example:${port}` });
      assert.equal(rebound.status, 403, `${path} with Host evil.example`);
      assert.doesNotMatch(rebound.body, /clusters|grpc_ha/);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`]) {
      assert.equal((await get(port, '/state', { host })).status, 200, `Host ${host}`);
    }
  });

  it('applies the same Host check to the library admin server (one implementation)', async () => {
    const admin = await startAdminServer();
    try {
      assert.equal((await get(admin.port, '/api/state', { host: 'evil.example' })).status, 403);
      assert.equal((await get(admin.port, '/api/state', { host: `127.0.0.1:${admin.port}` })).status, 200);
    } finally {
      await admin.close();
    }
  });
});
