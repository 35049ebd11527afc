/**
 * The etcd registry at its edges, against a real etcd (Debian's etcd-server) started with
 * `--grpc-keepalive-min-time 500ms` so the keepalive bound of these tests can be short: more than
 * one gRPC message of values under a prefix, a value over the receive limit, a hung etcd
 * (SIGSTOP/SIGCONT), a registration right after an etcd restart, and bad entries logged once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { EtcdRegistry, type EtcdRegistryOptions } from '../src/discovery/etcd-registry.js';
import type { ServiceInstance } from '../src/discovery/instance.js';
import { registerResolvers, registryChannelOptions } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { onEvent, type HaEvent } from '../src/observe/events.js';
import { captureLogs, spread, unary, waitFor } from './support/discovery.js';
import { startEtcd, type TestEtcd } from './support/etcd.js';

registerResolvers();

const FAST = { backoff: { initialMs: 50, maxMs: 500 } } as const;
const entry = (addr: string, extra: object = {}) => JSON.stringify({ Op: 0, Addr: addr, Metadata: extra });

describe('etcd registry at its edges', { timeout: 90_000 }, () => {
  let etcd: TestEtcd;
  const servers: ExampleServer[] = [];
  const registries: EtcdRegistry[] = [];
  const clients: EchoClient[] = [];
  const registry = (options: EtcdRegistryOptions = {}) => {
    const r = new EtcdRegistry({ endpoints: [etcd.endpoint], ...FAST, ...options });
    registries.push(r);
    return r;
  };
  const client = (reg: EtcdRegistry, service: string) => {
    const c = new EchoClient(`etcd://${etcd.endpoint}/${service}`, credentials.createInsecure(), registryChannelOptions(reg, policyChannelOptions('round_robin')));
    clients.push(c);
    return c;
  };
  const watchList = (reg: EtcdRegistry, service: string, tags?: string[]) => {
    const state = { instances: null as readonly ServiceInstance[] | null, errors: [] as string[] };
    const stop = reg.watch({ service, ...(tags ? { tags } : {}) }, { instances: (i) => (state.instances = i), config: () => undefined, error: (e) => state.errors.push(e.message) });
    return { state, stop };
  };

  before(async () => {
    etcd = await startEtcd(['--grpc-keepalive-min-time', '500ms']);
    for (const id of ['a', 'b', 'c']) servers.push(await startExampleServer({ id }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(registries.map((r) => r.close()));
    await Promise.all(servers.map((s) => s.stop(0)));
    await etcd.destroy();
  });

  it('5 MB of values under a prefix resolve with a 4 MiB receive limit, and a running client follows changes', async () => {
    const [a, b, c] = servers as [ExampleServer, ExampleServer, ExampleServer];
    // grpc-js's default receive limit, which one Range answer of this prefix exceeds.
    const reg = registry({ maxReceiveBytes: 4 * 1024 * 1024 });
    const pad = 'x'.repeat(1_050_000); // etcd takes requests up to 1.5 MiB
    const owners = [a, b, c, a, b];
    for (const [i, owner] of owners.entries()) {
      await reg.client.put(`big/k${i}`).value(entry(owner.address, { instanceId: `k${i}`, labels: { pad } }));
    }
    const listed = watchList(reg, 'big');
    await waitFor('the 5.25 MB listing', () => listed.state.instances?.length === 5, 10_000);
    assert.deepEqual(listed.state.errors, []);
    const echo = client(reg, 'big');
    const before = await spread(echo, 12);
    assert.deepEqual([...before.keys()].sort(), ['a', 'b', 'c'], 'every instance of the big listing gets calls');
    await reg.client.delete().key('big/k1').exec();
    await reg.client.delete().key('big/k4').exec();
    await waitFor('b to leave the running client', async () => !(await spread(echo, 6)).has('b'));
    await reg.client.put('big/k5').value(entry(b.address, { instanceId: 'k5', labels: { pad } }));
    await waitFor('b to come back', async () => (await spread(echo, 6)).has('b'));
    listed.stop();
  });

  it('a value over the receive limit is an error naming the limit, not "unreachable"', async () => {
    const reg = registry({ maxReceiveBytes: 16_384 });
    await reg.client.put('huge/x').value(entry(servers[0]!.address, { labels: { pad: 'y'.repeat(20_000) } }));
    const listed = watchList(reg, 'huge');
    await waitFor('the listing to fail', () => listed.state.errors.length > 0);
    assert.match(listed.state.errors[0]!, /larger than the client's receive limit of 16384 bytes \(maxReceiveBytes\)/);
    assert.doesNotMatch(listed.state.errors[0]!, /unreachable/);
    listed.stop();
  });

  it('a hung etcd (SIGSTOP) is reported within the keepalive bound; calls keep going; its return is reported', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    // Plain keys (no lease): a lease could expire while etcd is frozen, and this is about the watch.
    await etcd.etcdctl('put', `hung/${a.address}`, entry(a.address));
    await etcd.etcdctl('put', `hung/${b.address}`, entry(b.address));
    const keepalive = { keepaliveMs: 1000, keepaliveTimeoutMs: 1000, requestTimeoutMs: 1000 };
    const reg = registry(keepalive);
    const echo = client(reg, 'hung');
    assert.deepEqual([...(await spread(echo, 6)).keys()].sort(), ['a', 'b']);
    const events: HaEvent[] = [];
    const stopEvents = onEvent((e) => e.service === 'hung' && e.event.startsWith('registry_') && events.push(e));
    const logs = captureLogs();
    let failed = 0;
    let calls = 0;
    etcd.pause();
    const frozenAt = performance.now();
    try {
      let reportedAfter = -1;
      // Calls all along: the client keeps its endpoints while the registry hangs.
      while (performance.now() - frozenAt < 8000) {
        await unary(echo, 2000).catch(() => failed++);
        calls++;
        if (reportedAfter < 0 && events.some((e) => e.event === 'registry_unreachable')) reportedAfter = performance.now() - frozenAt;
        if (reportedAfter >= 0 && performance.now() - frozenAt > reportedAfter + 500) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      // The bound is keepaliveMs + keepaliveTimeoutMs = 2 s; the rest is slack for a loaded machine.
      assert.ok(reportedAfter >= 0 && reportedAfter < 6000, `registry_unreachable ${reportedAfter} ms after SIGSTOP`);
    } finally {
      etcd.resume();
    }
    await waitFor('registry_recovered', () => events.some((e) => e.event === 'registry_recovered'), 8000);
    for (let i = 0; i < 10; i++, calls++) await unary(echo).catch(() => failed++);
    stopEvents();
    logs.restore();
    assert.equal(failed, 0, `${failed} of ${calls} calls failed`);
    assert.deepEqual(events.map((e) => e.event), ['registry_unreachable', 'registry_recovered']);
    const errors = logs.lines.filter((l) => l.level === 'error' && /watching hung/.test(l.message));
    assert.equal(errors.length, 2, `one line for the outage, one for the recovery: ${errors.map((l) => l.message).join(' | ')}`);
  });

  it('registrations made right after an etcd restart, or during it, reach a running watch within 1 s', async () => {
    const reg = registry({ backoff: {} }); // the default backoff, growing to 5 s
    const server = registry({ backoff: {} });
    const listed = watchList(reg, 'restart');
    await waitFor('the first answer', () => listed.state.instances !== null);
    await etcd.stop();
    // Made while etcd is down: its writes fail and are retried for the whole outage.
    const during = server.register({ service: 'restart', address: servers[1]!.address });
    await new Promise((r) => setTimeout(r, 4000)); // long enough for a 5 s-capped backoff to reach its seconds
    assert.equal(during.state.t, 'registering');
    await etcd.start();
    const backAt = performance.now();
    await reg.client.put(`restart/${servers[0]!.address}`).value(entry(servers[0]!.address));
    await waitFor('both registrations', () => listed.state.instances?.length === 2, 5000, 10);
    const after = performance.now() - backAt;
    assert.ok(after < 1000, `both seen ${Math.round(after)} ms after etcd was back`);
    listed.stop();
  });

  it('a bad entry is logged once per key and content, not per revision, list change or watch', async () => {
    const [a, b] = servers as [ExampleServer, ExampleServer];
    const reg = registry();
    const logs = captureLogs();
    try {
      await etcd.etcdctl('put', 'bad/garbage', 'not json');
      await etcd.etcdctl('put', 'bad/nowhere', entry('no-such-host.invalid:50051'));
      const plain = watchList(reg, 'bad');
      const tagged = watchList(reg, 'bad', ['t']); // another watch of the same prefix
      const one = client(reg, 'bad');
      const two = client(reg, 'bad');
      for (let i = 0; i < 10; i++) {
        await etcd.etcdctl('put', 'bad/garbage', 'not json'); // the same garbage, a new revision
        await etcd.etcdctl('put', `bad/${i % 2 ? a.address : b.address}`, entry(i % 2 ? a.address : b.address, { instanceId: `v${i}` })); // a list change
      }
      await waitFor('both clients to reach a backend', async () => (await Promise.all([unary(one), unary(two)])).length === 2, 5000).catch(() => false);
      await waitFor('the last list change', () => plain.state.instances?.some((i) => i.instanceId === 'v9') === true);
      const count = (re: RegExp) => logs.lines.filter((l) => l.level === 'error' && re.test(l.message)).length;
      assert.equal(count(/bad\/garbage/), 1);
      assert.equal(count(/cannot resolve no-such-host\.invalid/), 1);
      await etcd.etcdctl('put', 'bad/garbage', 'other garbage');
      await waitFor('the new content to be logged', () => count(/bad\/garbage/) === 2);
      plain.stop();
      tagged.stop();
    } finally {
      logs.restore();
    }
  });
});
