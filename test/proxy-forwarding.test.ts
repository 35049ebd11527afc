/**
 * The grpc-ha proxy forwarding real grpc-js calls to real grpc-js servers on 127.0.0.1: all four
 * RPC kinds, metadata and trailers byte for byte, 16 MiB messages, long bidi streams, deadlines,
 * cancellation, and every way a call can fail in the proxy (no route, no backend, limits, a
 * backend that resets or dies).
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import { spawnBackend } from '../src/example/backend-process.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import type { Proxy } from '../src/proxy/proxy.js';
import {
  echoClient,
  eventually,
  proxyFor,
  rejection,
  RawClient,
  startRawServer,
  unary,
  BIG_OPTIONS,
  type RawClientInstance,
} from './support/proxy.js';

describe('proxy: forwarding', () => {
  let servers: ExampleServer[] = [];
  let proxy: Proxy;
  const big = { 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 };

  before(async () => {
    servers = await Promise.all([0, 1, 2].map((i) => startExampleServer({ id: `b${i}`, serverOptions: big })));
    proxy = await proxyFor({ clusters: { echo: { target: servers.map((s) => s.address).join(','), policy: 'round_robin' } } });
  });
  after(async () => {
    await proxy.close(100);
    await Promise.all(servers.map((s) => s.stop(100)));
  });

  it('forwards unary calls and spreads them over every backend', async () => {
    const client = echoClient(proxy);
    const ids = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const reply = await unary(client, { message: `m${i}` });
      assert.equal(reply.message, `m${i}`);
      ids.add(reply.serverId);
    }
    assert.deepEqual([...ids].sort(), ['b0', 'b1', 'b2']);
    client.close();
  });

  it('forwards server-streaming, client-streaming and bidi calls in order', async () => {
    const client = echoClient(proxy);
    const got: string[] = [];
    for await (const r of client.serverStream({ message: 's', count: 50 })) got.push((r as { message: string }).message);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `s:${i}`));

    const joined = await new Promise<string>((resolve, reject) => {
      const call = client.clientStream((e: grpc.ServiceError | null, r?: { message: string }) => (e ? reject(e) : resolve(r!.message)));
      for (const m of ['a', 'b', 'c']) call.write({ message: m });
      call.end();
    });
    assert.equal(joined, 'abc');

    const bidi = client.bidiStream();
    const echoed: string[] = [];
    bidi.on('data', (r: { message: string }) => echoed.push(r.message));
    for (let i = 0; i < 20; i++) bidi.write({ message: `x${i}` });
    bidi.end();
    await new Promise((resolve, reject) => bidi.on('end', resolve).on('error', reject));
    assert.deepEqual(echoed, Array.from({ length: 20 }, (_, i) => `x${i}`));
    client.close();
  });

  it('passes a 16 MiB message each way byte for byte, without buffering it whole', async () => {
    const client = echoClient(proxy);
    const payload = randomBytes(16 * 1024 * 1024);
    const reply = await unary(client, { message: 'big', payload }, { deadlineMs: 30_000 });
    assert.equal(reply.payload.length, payload.length);
    assert.ok(reply.payload.equals(payload), '16 MiB payload changed on the way');
    client.close();
  });

  it('keeps a long bidi stream going: 5000 messages, with 1 MiB ones in between', async () => {
    const client = echoClient(proxy);
    const bidi = client.bidiStream();
    let received = 0;
    let bytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      bidi.on('data', (r: { message: string; payload: Buffer }) => {
        assert.equal(r.message, String(received));
        received++;
        bytes += r.payload.length;
      });
      bidi.on('end', resolve);
      bidi.on('error', reject);
    });
    const mb = randomBytes(1 << 20);
    for (let i = 0; i < 5000; i++) {
      const ok = bidi.write({ message: String(i), payload: i % 500 === 0 ? mb : Buffer.alloc(0) });
      if (!ok) await new Promise((r) => bidi.once('drain', r));
    }
    bidi.end();
    await done;
    assert.equal(received, 5000);
    assert.equal(bytes, 10 << 20);
    client.close();
  });

  it('answers a service it has no route for with UNIMPLEMENTED', async () => {
    const only = await proxyFor({
      clusters: { echo: { target: servers[0]!.address } },
      routes: [{ service: 'grpcha.example.v1.Other', cluster: 'echo' }],
    });
    const client = echoClient(only);
    const error = await rejection(unary(client));
    assert.equal(error.code, grpc.status.UNIMPLEMENTED);
    assert.match(error.details, /no route for service grpcha\.example\.v1\.Echo/);
    client.close();
    await only.close(100);
  });

  it('answers UNAVAILABLE with the reason when no backend can take the call', async () => {
    const dead = await proxyFor({ clusters: { echo: { target: '127.0.0.1:1', connectTimeoutMs: 500 } } });
    const client = echoClient(dead);
    const started = Date.now();
    const error = await rejection(unary(client, { message: 'x' }, { deadlineMs: 10_000 }));
    assert.equal(error.code, grpc.status.UNAVAILABLE);
    assert.match(error.details, /cluster echo: no backend available; 1 backend: 1 unreachable \(last error: 127\.0\.0\.1:1: .*ECONNREFUSED/);
    assert.ok(Date.now() - started < 3000, 'the call must fail fast, not hang');
    client.close();
    await dead.close(100);
  });
});

describe('proxy: metadata, trailers, deadlines and cancellation', () => {
  let raw: Awaited<ReturnType<typeof startRawServer>>;
  let proxy: Proxy;
  let client: RawClientInstance;
  const seen: { metadata?: grpc.Metadata; deadline?: grpc.Deadline; cancelled: number } = { cancelled: 0 };

  before(async () => {
    raw = await startRawServer({
      unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        seen.metadata = call.metadata;
        seen.deadline = call.getDeadline();
        const echoed = new grpc.Metadata();
        for (const [k, v] of Object.entries(call.metadata.getMap())) if (k.startsWith('x-')) echoed.set(`echo-${k}`, v);
        call.sendMetadata(echoed);
        const trailers = new grpc.Metadata();
        trailers.set('trailer-bin', Buffer.from([0, 255, 1, 254]));
        trailers.add('trailer-multi', 'one');
        trailers.add('trailer-multi', 'two');
        if (call.request.toString() === 'fail') {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'nope: ünïcode % 100', metadata: trailers });
        } else {
          callback(null, call.request, trailers);
        }
      },
      serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        // Streams until cancelled: the proxy must pass the client's cancellation on.
        const timer = setInterval(() => call.write(Buffer.from('tick')), 10);
        call.on('cancelled', () => {
          clearInterval(timer);
          seen.cancelled++;
        });
      },
    });
    proxy = await proxyFor({ clusters: { raw: { target: raw.address } } });
    client = new RawClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure(), BIG_OPTIONS) as RawClientInstance;
  });
  after(async () => {
    client.close();
    await proxy.close(100);
    await raw.stop();
  });

  const call = (body: Buffer, metadata = new grpc.Metadata(), deadlineMs = 5000) =>
    new Promise<{ reply?: Buffer; error?: grpc.ServiceError; headers: grpc.Metadata; trailers: grpc.Metadata }>((resolve) => {
      let headers = new grpc.Metadata();
      const c = (client.unary as (...a: unknown[]) => grpc.ClientUnaryCall)(
        body,
        metadata,
        { deadline: Date.now() + deadlineMs },
        (error: grpc.ServiceError | null, reply: Buffer) => {
          if (error) resolve({ error, headers, trailers: error.metadata });
          else c.once('status', (s: grpc.StatusObject) => resolve({ reply, headers, trailers: s.metadata }));
        },
      );
      c.on('metadata', (m: grpc.Metadata) => (headers = m));
    });

  it('passes metadata, binary metadata, repeated values, headers and trailers through unchanged', async () => {
    const md = new grpc.Metadata();
    md.set('x-text', 'hello world');
    md.set('x-data-bin', Buffer.from([0, 1, 2, 253, 254, 255]));
    const body = randomBytes(1000);
    const r = await call(body, md);
    assert.ok(r.reply!.equals(body));
    assert.deepEqual(seen.metadata!.get('x-text'), ['hello world']);
    assert.deepEqual(seen.metadata!.get('x-data-bin'), [Buffer.from([0, 1, 2, 253, 254, 255])]);
    assert.deepEqual(r.headers.get('echo-x-text'), ['hello world']);
    assert.deepEqual(r.trailers.get('trailer-bin'), [Buffer.from([0, 255, 1, 254])]);
  });

  it('forwards repeated header fields as separate fields, in order, in both directions', async () => {
    // grpc-js itself joins repeated fields on receipt, so this looks at the wire with bare HTTP/2.
    const backend = http2.createServer();
    let requestRaw: string[] = [];
    backend.on('stream', (stream: http2.ServerHttp2Stream, _h: unknown, _f: number, raw: string[]) => {
      requestRaw = raw;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-h': ['1,2', '3'] }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-t': ['a', 'b,c'] }));
      stream.resume();
      stream.on('end', () => stream.end(Buffer.from([0, 0, 0, 0, 0])));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const p = await proxyFor({ clusters: { raw: { target: `127.0.0.1:${(backend.address() as { port: number }).port}` } } });
    const session = http2.connect(`http://127.0.0.1:${p.port}`);
    const req = session.request({
      ':method': 'POST',
      ':path': '/test.raw.v1.Raw/Unary',
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-m': ['a,b', 'c', 'd'],
    });
    const pairs = (raw: string[], name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1] === name);
    const responseRaw = new Promise<string[]>((r) => req.on('response', (_h: unknown, _f: number, raw: string[]) => r(raw)));
    const trailersRaw = new Promise<string[]>((r) => req.on('trailers', (_h: unknown, _f: number, raw: string[]) => r(raw)));
    req.resume();
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    assert.deepEqual(pairs(await responseRaw, 'x-h'), ['1,2', '3']);
    assert.deepEqual(pairs(await trailersRaw, 'x-t'), ['a', 'b,c']);
    assert.deepEqual(pairs(requestRaw, 'x-m'), ['a,b', 'c', 'd']);
    session.close();
    await p.close(100);
    await new Promise((r) => backend.close(r));
  });

  it('passes a backend error status, its message and its trailers through', async () => {
    const r = await call(Buffer.from('fail'));
    assert.equal(r.error!.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(r.error!.details, 'nope: ünïcode % 100');
    assert.deepEqual(r.trailers.get('trailer-bin'), [Buffer.from([0, 255, 1, 254])]);
  });

  it('passes grpc-timeout to the backend, so it sees the client deadline', async () => {
    await call(Buffer.from('x'), new grpc.Metadata(), 3000);
    const deadline = seen.deadline instanceof Date ? seen.deadline.getTime() : Number(seen.deadline);
    assert.ok(Number.isFinite(deadline), `backend got no deadline: ${String(seen.deadline)}`);
    const left = deadline - Date.now();
    assert.ok(left > 1000 && left <= 3000, `deadline ${left} ms away`);
  });

  it('turns a client cancellation (RST_STREAM) into a cancellation at the backend', async () => {
    const before = seen.cancelled;
    const stream = (client.serverStream as (...a: unknown[]) => grpc.ClientReadableStream<Buffer>)(Buffer.from('go'), new grpc.Metadata(), {});
    stream.on('error', () => {});
    await new Promise((r) => stream.once('data', r));
    stream.cancel();
    await eventually(() => seen.cancelled === before + 1, 3000, 'backend cancellation');
  });

  it('ends a call at its deadline with DEADLINE_EXCEEDED and cancels the backend', async () => {
    const before = seen.cancelled;
    const stream = (client.serverStream as (...a: unknown[]) => grpc.ClientReadableStream<Buffer>)(Buffer.from('go'), new grpc.Metadata(), {
      deadline: Date.now() + 300,
    });
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      stream.on('data', () => {});
      stream.on('error', () => {});
      stream.on('status', resolve);
    });
    assert.equal(status.code, grpc.status.DEADLINE_EXCEEDED);
    await eventually(() => seen.cancelled === before + 1, 3000, 'backend cancellation');
  });
});

describe('proxy: backends that fail', () => {
  it('maps a backend RST_STREAM to the gRPC status of PROTOCOL-HTTP2.md', async () => {
    // A bare HTTP/2 backend that resets every stream with the code in the path.
    const backend = http2.createServer();
    backend.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      stream.close(Number(String(headers['x-rst'])));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as { port: number }).port;
    const proxy = await proxyFor({ clusters: { echo: { target: `127.0.0.1:${port}` } } });
    const client = echoClient(proxy);
    const cases: [number, grpc.status][] = [
      [http2.constants.NGHTTP2_REFUSED_STREAM, grpc.status.UNAVAILABLE],
      [http2.constants.NGHTTP2_CANCEL, grpc.status.CANCELLED],
      [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, grpc.status.RESOURCE_EXHAUSTED],
      [http2.constants.NGHTTP2_INADEQUATE_SECURITY, grpc.status.PERMISSION_DENIED],
      [http2.constants.NGHTTP2_INTERNAL_ERROR, grpc.status.INTERNAL],
    ];
    for (const [rst, expected] of cases) {
      const md = new grpc.Metadata();
      md.set('x-rst', String(rst));
      const error = await rejection(unary(client, { message: 'x' }, { metadata: md }));
      assert.equal(error.code, expected, `RST ${rst} gave ${error.code}: ${error.details}`);
      assert.match(error.details, /reset the stream with/);
    }
    client.close();
    await proxy.close(100);
    await new Promise((r) => backend.close(r));
  });

  it('sends a refused stream (never processed, RFC 9113 §8.7) to another backend, whatever its method', async () => {
    const refusing = http2.createServer();
    let refused = 0;
    refusing.on('stream', (stream) => {
      refused++;
      stream.on('error', () => {});
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const good = await startExampleServer({ id: 'good' });
    const target = `127.0.0.1:${(refusing.address() as { port: number }).port},${good.address}`;
    const proxy = await proxyFor({
      clusters: { echo: { target, policy: 'round_robin', retry: { attempts: 2, idempotentMethods: ['/grpcha.example.v1.Echo/Unary'] } } },
    });
    const client = echoClient(proxy);
    for (let i = 0; i < 6; i++) assert.equal((await unary(client)).serverId, 'good');
    assert.ok(refused >= 2, 'the refusing backend was never tried');
    // ServerStream is not listed as idempotent, but "REFUSED_STREAM ... indicates that the stream
    // is closed prior to any processing having occurred" (RFC 9113 §8.7): it is sent again too.
    const before = refused;
    for (let i = 0; i < 4; i++) {
      const replies = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const s = client.serverStream({ message: 'x', count: 1 });
        s.on('data', (r: { serverId: string }) => got.push(r.serverId));
        s.on('error', reject);
        s.on('end', () => resolve(got));
      });
      assert.deepEqual(replies, ['good']);
    }
    assert.ok(refused > before, 'no server stream was refused');
    assert.ok(proxy.state().calls.retries >= 3);
    client.close();
    await proxy.close(100);
    await good.stop(100);
    await new Promise((r) => refusing.close(r));
  });

  it('gives UNAVAILABLE to the calls of a backend killed mid-stream, and only to those', async () => {
    const doomed = await spawnBackend({ id: 'doomed', latencyMs: 50 });
    const healthy = await startExampleServer({ id: 'healthy', latencyMs: 20 });
    const proxy = await proxyFor({ clusters: { echo: { target: `${doomed.address},${healthy.address}`, policy: 'round_robin' } } });
    const client = echoClient(proxy);
    // Open server streams until one lands on each backend.
    const streams: { id: string; status: Promise<grpc.StatusObject> }[] = [];
    for (let i = 0; i < 4; i++) {
      const s = client.serverStream({ message: 'long', count: 1000 });
      const id = await new Promise<string>((resolve) => s.once('data', (r: { serverId: string }) => resolve(r.serverId)));
      s.on('data', () => {});
      s.on('error', () => {});
      streams.push({ id, status: new Promise((resolve) => s.on('status', resolve)) });
    }
    assert.ok(streams.some((s) => s.id === 'doomed') && streams.some((s) => s.id === 'healthy'));
    await doomed.stop('SIGKILL');
    for (const s of streams.filter((x) => x.id === 'doomed')) {
      const status = await s.status;
      assert.equal(status.code, grpc.status.UNAVAILABLE);
      assert.match(status.details, /connection to backend 127\.0\.0\.1:\d+ lost/);
    }
    // New calls go to the survivor; the survivor's streams are untouched.
    for (let i = 0; i < 4; i++) assert.equal((await unary(client)).serverId, 'healthy');
    const survivor = streams.find((s) => s.id === 'healthy')!;
    const raced = await Promise.race([survivor.status.then(() => 'ended'), new Promise((r) => setTimeout(() => r('running'), 200))]);
    assert.equal(raced, 'running', 'a stream on the healthy backend ended too');
    client.close();
    await proxy.close(100);
    await healthy.stop(100);
  });

  it('limits calls per backend and queues at most maxPending, failing the rest with the reason', async () => {
    const slow = await startExampleServer({ id: 'slow', latencyMs: 300 });
    const proxy = await proxyFor({ clusters: { echo: { target: slow.address, maxConcurrentStreamsPerBackend: 1, maxPending: 1 } } });
    const client = echoClient(proxy);
    await unary(client); // connected
    const results = await Promise.allSettled([unary(client), unary(client), unary(client)]);
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(ok, 2, 'one call runs, one waits for it');
    assert.equal(rejected.length, 1);
    assert.equal((rejected[0]!.reason as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    assert.match((rejected[0]!.reason as grpc.ServiceError).details, /1 calls already waiting for a backend \(maxPending 1\); 1 backend: 1 at maxConcurrentStreamsPerBackend \(1\)/);
    client.close();
    await proxy.close(100);
    await slow.stop(100);
  });

  it('follows a registry target: backends that register are used, deregistered ones dropped', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-ha-proxy-registry-'));
    const registry = new FileRegistry({ dir });
    const a = await startExampleServer({ id: 'reg-a' });
    const b = await startExampleServer({ id: 'reg-b' });
    const ra = registry.register({ service: 'echo', address: a.address });
    const rb = registry.register({ service: 'echo', address: b.address });
    const proxy = await proxyFor({ clusters: { echo: { target: `file:///echo?dir=${dir}`, policy: 'round_robin' } } });
    const client = echoClient(proxy);
    try {
      const ready = () => proxy.state().clusters[0]!.backends.filter((x) => x.state === 'ready').length;
      await eventually(() => ready() === 2, 10_000, 'both registered backends ready');
      const ids = new Set<string>();
      for (let i = 0; i < 4; i++) ids.add((await unary(client)).serverId);
      assert.deepEqual([...ids].sort(), ['reg-a', 'reg-b']);
      await ra.close();
      await eventually(() => ready() === 1, 10_000, 'reg-a dropped');
      for (let i = 0; i < 3; i++) assert.equal((await unary(client)).serverId, 'reg-b');
    } finally {
      client.close();
      await proxy.close(100);
      await ra.close();
      await rb.close();
      await registry.close();
      await Promise.all([a.stop(100), b.stop(100)]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('routes by service to different clusters', async () => {
    const a = await startExampleServer({ id: 'cluster-a' });
    const b = await startExampleServer({ id: 'cluster-b' });
    const proxy = await proxyFor({
      clusters: { a: { target: a.address }, b: { target: b.address } },
      routes: [
        { prefix: '/grpcha.example.v1.Echo/Server', cluster: 'b' },
        { service: 'grpcha.example.v1.Echo', cluster: 'a' },
      ],
    });
    const client = echoClient(proxy);
    assert.equal((await unary(client)).serverId, 'cluster-a');
    // Exact service routes win over prefixes (checked first), by design.
    for await (const r of client.serverStream({ message: 'x', count: 1 })) assert.equal((r as { serverId: string }).serverId, 'cluster-a');
    client.close();
    await proxy.close(100);
    await Promise.all([a.stop(100), b.stop(100)]);
  });
});
