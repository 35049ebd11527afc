/**
 * RFC 9113 §8 at the proxy, with real peers: a request carrying a second `:path` (the route
 * bypass that reached a grpcio backend's unrouted method), requests missing or repeating
 * pseudo-header fields, and backends that answer with malformed response headers (python3-h2
 * with its checks off). "Intermediaries ... MUST NOT forward a malformed request or response" -
 * RFC 9113 §8.1.1: the request's stream is reset with PROTOCOL_ERROR and reaches no backend; a
 * malformed response becomes INTERNAL with the reason. A steady client calls through the same
 * proxy during every attack, and every one of its calls must succeed.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Proxy } from '../src/proxy/proxy.js';
import { eventually, frame, FRAME, grpcRequestHeaders, headerBlock, PREFACE, proxyFor, RawConnection, rejection, steadyClient, unaryCaller } from './support/proxy.js';
import { requirePython, runPython, startPythonServer, type PythonServer } from './support/python-peer.js';

const C = http2.constants;
const ECHO = '/grpcha.example.v1.Echo/Unary';
const SECRET = '/admin.Secret/Delete';
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

describe('proxy: malformed requests never reach a backend', () => {
  let backend: PythonServer | undefined;
  let proxy: Proxy;

  before(async () => {
    requirePython('grpc', 'h2');
    // grpcio (C core) executes whichever :path it reads last: the backend a bypass would reach.
    backend = await startPythonServer('grpc_peer.py', ['serve']);
    proxy = await proxyFor({
      clusters: { echo: { target: `127.0.0.1:${backend!.port}` } },
      routes: [{ service: 'grpcha.example.v1.Echo', cluster: 'echo' }],
    });
  });

  after(async () => {
    await proxy?.close(100);
    await backend?.stop();
  });

  const executed = () => backend!.lines.filter((l) => l.event === 'call').map((l) => l.method);

  it('resets a request with a second :path (route bypass) with PROTOCOL_ERROR; the backend executes nothing', async () => {
    const steady = unaryCaller(`127.0.0.1:${proxy.port}`, ECHO);
    const good = steadyClient(() => steady.call(Buffer.from('steady')));
    try {
      const before = executed().length;
      const bypass = await runPython('h2_peer.py', ['duplicate-path', String(proxy.port), ECHO, SECRET]);
      assert.deepEqual(bypass, { reset: C.NGHTTP2_PROTOCOL_ERROR });
      // The same request with only the second path is refused as unrouted.
      const direct = unaryCaller(`127.0.0.1:${proxy.port}`, SECRET);
      const error = await rejection(direct.call(Buffer.alloc(0)));
      direct.close();
      assert.equal(error.code, grpc.status.UNIMPLEMENTED);
      assert.match(error.details, /no route for service admin\.Secret/);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(!executed().includes(SECRET), `the backend executed ${SECRET}`);
      assert.ok(executed().slice(before).every((m) => m === ECHO), `unexpected calls: ${executed().slice(before).join(', ')}`);
    } finally {
      const result = await good.stop();
      steady.close();
      assert.deepEqual(result.failures, [], 'the steady client lost calls');
      assert.ok(result.calls > 0);
    }
  });

  it('resets every malformed request with PROTOCOL_ERROR on its stream and keeps the connection', async () => {
    const cases: [string, [string, string][]][] = [
      ['no :method (was answered HTTP 415)', grpcRequestHeaders(ECHO).filter(([n]) => n !== ':method')],
      ['no :path', grpcRequestHeaders(ECHO).filter(([n]) => n !== ':path')],
      ['no :scheme', grpcRequestHeaders(ECHO).filter(([n]) => n !== ':scheme')],
      ['a second :method', [[':method', 'POST'], ...grpcRequestHeaders(ECHO)]],
      ['a second :authority', [...grpcRequestHeaders(ECHO).slice(0, 4), [':authority', 'other'], ...grpcRequestHeaders(ECHO).slice(4)]],
      ['a :status', [[':status', '200'], ...grpcRequestHeaders(ECHO)]],
      ['a pseudo-header after a regular field', [...grpcRequestHeaders(ECHO), [':authority', 'late']]],
      ['connection: keep-alive', grpcRequestHeaders(ECHO, [['connection', 'keep-alive']])],
      ['te: gzip', [...grpcRequestHeaders(ECHO).filter(([n]) => n !== 'te'), ['te', 'gzip']]],
      ['a value with CR LF', grpcRequestHeaders(ECHO, [['x-a', 'v\r\nx-injected: 1']])],
    ];
    const c = await RawConnection.open(proxy.port);
    c.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    const before = executed().length;
    cases.forEach(([, headers], i) => c.write(frame(FRAME.HEADERS, 0x4 | 0x1, 1 + 2 * i, headerBlock(headers))));
    await eventually(() => c.resets().size === cases.length, 3000, 'a reset per malformed request');
    cases.forEach(([what], i) => assert.equal(c.resets().get(1 + 2 * i), C.NGHTTP2_PROTOCOL_ERROR, what));
    assert.ok(!c.frames.some((f) => f.type === FRAME.HEADERS), 'a malformed request was answered (HTTP 415 or a gRPC status)');
    // A well-formed request on the same connection is still served.
    const id = 1 + 2 * cases.length;
    c.write(frame(FRAME.HEADERS, 0x4, id, headerBlock(grpcRequestHeaders(ECHO))));
    c.write(frame(FRAME.DATA, 0x1, id, EMPTY_MESSAGE));
    await eventually(() => c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === id && f.flags & 0x1), 3000, 'the good request answered');
    assert.equal(c.closed, false);
    c.close();
    assert.equal(executed().length - before, 1, 'only the well-formed request reached the backend');
  });
});

describe('proxy: malformed responses are never forwarded', () => {
  let bad: PythonServer | undefined;
  let good: PythonServer | undefined;
  let proxy: Proxy | undefined;

  before(async () => {
    requirePython('grpc', 'h2');
    bad = await startPythonServer('h2_peer.py', ['serve', 'malformed']);
    good = await startPythonServer('grpc_peer.py', ['serve']);
    proxy = await proxyFor({
      clusters: { bad: { target: `127.0.0.1:${bad.port}` }, echo: { target: `127.0.0.1:${good.port}` } },
      routes: [{ service: 'malformed.v1.Svc', cluster: 'bad' }, { service: '*', cluster: 'echo' }],
    });
  });

  after(async () => {
    await proxy?.close(100);
    await Promise.all([bad?.stop(), good?.stop()]);
  });

  const flaws: [string, RegExp][] = [
    ['uppercase', /malformed response: uppercase field name "Content-Type"/],
    ['no-status', /malformed response: no :status/],
    ['connection', /malformed response: connection-specific field connection/],
  ];
  for (const [flaw, reason] of flaws) {
    it(`answers INTERNAL with the reason when the backend's response has ${flaw}`, async () => {
      const steady = unaryCaller(`127.0.0.1:${proxy!.port}`, ECHO);
      const steadyRun = steadyClient(() => steady.call(Buffer.from('steady')));
      const client = unaryCaller(`127.0.0.1:${proxy!.port}`, `/malformed.v1.Svc/${flaw}`);
      try {
        for (let i = 0; i < 3; i++) {
          const error = await rejection(client.call(Buffer.from('x')));
          assert.equal(error.code, grpc.status.INTERNAL, `${error.code} ${error.details}`);
          assert.match(error.details, reason);
        }
        assert.ok(bad!.lines.some((l) => l.path === `/malformed.v1.Svc/${flaw}`), 'the request never reached the backend');
      } finally {
        client.close();
        const result = await steadyRun.stop();
        steady.close();
        assert.deepEqual(result.failures, []);
      }
    });
  }
});
