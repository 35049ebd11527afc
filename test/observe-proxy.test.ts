/**
 * The proxy's admin port serves grpc-ha's /metrics with per-cluster, per-backend series that
 * move as real calls go through the proxy, and the dashboard page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import type { Proxy } from '../src/proxy/proxy.js';
import { echoClient, proxyFor, unary } from './support/proxy.js';

describe('proxy admin: /metrics and the dashboard', () => {
  let servers: ExampleServer[] = [];
  let proxy: Proxy;
  before(async () => {
    servers = await Promise.all([0, 1].map((i) => startExampleServer({ id: `p${i}` })));
    proxy = await proxyFor({
      admin: { listen: '127.0.0.1:0' },
      clusters: { echo: { target: servers.map((s) => s.address).join(','), policy: 'round_robin' } },
    });
  });
  after(async () => {
    await proxy.close();
    await Promise.all(servers.map((s) => s.stop(0)));
  });

  it('counts the requests forwarded to each backend, and shows its clusters on the dashboard', async () => {
    const metrics = async () => (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
    const total = (text: string) =>
      servers.reduce((n, s) => {
        const line = text.split('\n').find((l) => l.startsWith(`grpc_ha_proxy_backend_requests_total{cluster="echo",backend="${s.address}"}`));
        return n + (line ? Number(line.split(' ').pop()) : 0);
      }, 0);
    const before = total(await metrics());
    const c = echoClient(proxy);
    try {
      for (let i = 0; i < 10; i++) await unary(c);
    } finally {
      c.close();
    }
    const text = await metrics();
    assert.equal(total(text) - before, 10);
    for (const s of servers) assert.match(text, new RegExp(`grpc_ha_proxy_backend_healthy\\{cluster="echo",backend="${s.address.replace(/\./g, '\\.')}"\\} 1`));
    const page = await fetch(`http://127.0.0.1:${proxy.adminPort}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /grpc-ha dashboard/);
    assert.equal((await fetch(`http://127.0.0.1:${proxy.adminPort}/healthz`)).status, 200);
    // The dashboard shows each cluster like a channel: its backends as endpoint cards.
    const state = (await (await fetch(`http://127.0.0.1:${proxy.adminPort}/api/state`)).json()) as {
      channels: { service: string; endpoints: { endpoint: string; health: string; finished: number }[] }[];
    };
    const cluster = state.channels.find((c) => c.service === 'cluster echo');
    assert.deepEqual(cluster?.endpoints.map((e) => e.endpoint).sort(), servers.map((s) => s.address).sort());
    assert.ok(cluster.endpoints.every((e) => e.health === 'healthy'));
    assert.equal(cluster.endpoints.reduce((n, e) => n + e.finished, 0) - before, 10);
  });
});
