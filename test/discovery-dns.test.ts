/**
 * `ha-dns:` against a real DNS server (dnsmasq on a loopback port, records of TTL 1 s that the
 * tests rewrite) and real grpc-js clients and servers. The InstanceSource contract
 * (test/support/source-contract.ts): an added address gets calls within its TTL + 1 s, a removed
 * one stops getting them, every policy runs over it, a DNS outage (dnsmasq SIGKILLed) keeps the
 * last addresses with 0 failed calls and is reported as registry_unreachable /
 * registry_recovered. Its extras: look-ups on the TTL, SRV records balanced by their weights, a
 * name that does not exist and a server that is down fail calls with the reason, the proxy takes
 * it as a cluster target, and `grpc-ha resolve --watch` follows the records.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { DnsDiscovery } from '../src/discovery/dns/dns-discovery.js';
import { registerResolvers, registryChannelOptions } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { captureLogs, spread, unary, waitFor } from './support/discovery.js';
import { Dnsmasq, TEST_ZONE } from './support/dnsmasq.js';
import { proxyFor } from './support/proxy.js';
import { CLI } from './support/run-cli.js';
import { startOnOnePort } from './support/same-port-servers.js';
import { sourceContract } from './support/source-contract.js';

registerResolvers();

/** A UDP port nobody listens on (ICMP port unreachable: a DNS server that is down). */
async function closedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

const TTL_S = 1;
const ECHO = `echo.${TEST_ZONE}`;

describe('ha-dns discovery (real dnsmasq)', { timeout: 60_000 }, () => {
  let dns: Dnsmasq;
  let port: number;
  let servers: ExampleServer[];
  let hostOf: (id: string) => string;
  const logs = captureLogs();
  const clients: EchoClient[] = [];
  const client = (target: string, options = policyChannelOptions('round_robin')) => {
    const c = new EchoClient(target, credentials.createInsecure(), options);
    clients.push(c);
    return c;
  };

  before(async () => {
    ({ port, servers, hostOf } = await startOnOnePort(['a', 'b', 'c']));
    dns = await Dnsmasq.start({ ttlS: TTL_S, hosts: { [ECHO]: [hostOf('a')] } });
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop(0)));
    await dns.stop();
    logs.restore();
  });

  sourceContract({
    create: () => new DnsDiscovery({ servers: [dns.address] }),
    target: (service, port) => `ha-dns://${dns.address}/${service}.${TEST_ZONE}:${port}`,
    queryService: (service, port) => `${service}.${TEST_ZONE}:${port}`,
    publish: (service, hosts) => dns.setName(`${service}.${TEST_ZONE}`, hosts),
    followWithinMs: TTL_S * 1000 + 1000,
    outage: { begin: () => dns.kill(), end: () => dns.restart(), logged: /resolving outage\.grpc-ha\.test:\d+ failed: .*keeping the last known addresses/ },
  });

  it('looks a name up again on its TTL, not faster than minIntervalMs', async () => {
    const name = `ttl.${TEST_ZONE}`;
    await dns.setHosts({ [name]: [hostOf('a')], [ECHO]: [hostOf('a')] });
    const before = dns.queries(name);
    const source = new DnsDiscovery({ servers: [dns.address] });
    const stop = source.watch({ service: `${name}:${port}` }, { instances: () => undefined, config: () => undefined, error: () => undefined });
    await new Promise((r) => setTimeout(r, 3300));
    stop();
    await source.close();
    // One A and one AAAA question per lookup; lookups at 0, 1, 2 and 3 s with a 1 s TTL.
    const lookups = (dns.queries(name) - before) / 2;
    assert.ok(lookups >= 3 && lookups <= 5, `${lookups} lookups in 3.3 s with a TTL of 1 s`);
  });

  it('balances SRV records by their weights and follows changes to them', async () => {
    const weighted: ExampleServer[] = [await startExampleServer({ id: 'w3' }), await startExampleServer({ id: 'w1' }), await startExampleServer({ id: 'backup' })];
    try {
      const srvName = `_grpc._tcp.weighted.${TEST_ZONE}`;
      const local = `local.${TEST_ZONE}`;
      await dns.setHosts({ [local]: ['127.0.0.1'] });
      await dns.setSrv([
        { name: srvName, target: local, port: weighted[0]!.port, weight: 3 },
        { name: srvName, target: local, port: weighted[1]!.port, weight: 1 },
        // A higher priority is a backup: not used while priority 0 has targets.
        { name: srvName, target: local, port: weighted[2]!.port, priority: 10, weight: 100 },
      ]);
      const echo = client(`ha-dns://${dns.address}/${srvName}`, policyChannelOptions('static_weighted_round_robin'));
      const counts = await spread(echo, 200);
      const w3 = counts.get('w3') ?? 0;
      assert.ok(w3 >= 140 && w3 <= 160 && (counts.get('w1') ?? 0) >= 40 && !counts.has('backup'), JSON.stringify([...counts]));

      // The restart of dnsmasq that loads new SRV records is itself a short outage: nothing fails.
      await dns.setSrv([{ name: srvName, target: local, port: weighted[2]!.port, weight: 1 }]);
      await waitFor('the new SRV record to be followed', async () => (await spread(echo, 5)).get('backup') === 5, (TTL_S + 3) * 1000, 50);
    } finally {
      await Promise.all(weighted.map((s) => s.stop(0)));
    }
  });

  it('fails calls at once, naming the name, when it does not exist; rejects bad targets naming what is wrong', async () => {
    const echo = client(`ha-dns://${dns.address}/nothing.${TEST_ZONE}:${port}`, policyChannelOptions('random'));
    const started = performance.now();
    await assert.rejects(unary(echo, 5000), new RegExp(`UNAVAILABLE.*no instances of nothing\\.${TEST_ZONE.replace('.', '\\.')}`));
    assert.ok(performance.now() - started < 2000, 'no waiting for the deadline');

    // No DNS server at all: calls fail with the reason, not with "no instances".
    const nobody = client(`ha-dns://127.0.0.1:${await closedUdpPort()}/${ECHO}:${port}`, policyChannelOptions('random'));
    await assert.rejects(unary(nobody, 5000), /UNAVAILABLE.*A echo\.grpc-ha\.test: (ECONNREFUSED|ETIMEOUT)/);

    const bad: [string, RegExp][] = [
      ['ha-dns://dns.example.com/echo:50051', /ha-dns server "dns\.example\.com" must be an IP address/],
      ['ha-dns:///echo:0', /the port must be in 1\.\.65535/],
      ['ha-dns:///echo name:80', /must be host:port .* or an SRV name/],
      ['ha-dns:///echo:80?tag=x', /unknown parameter "tag"; ha-dns targets take $/],
    ];
    for (const [target, error] of bad) assert.throws(() => new EchoClient(target, credentials.createInsecure()), error, target);
    // A source passed in the channel options serves the target (here: a shorter interval floor).
    const own = new DnsDiscovery({ servers: [dns.address], minIntervalMs: 200 });
    const viaOption = client(`ha-dns:///${ECHO}:${port}`, registryChannelOptions(own, policyChannelOptions('round_robin')));
    await dns.setHosts({ [ECHO]: [hostOf('c')] });
    await waitFor('c only', async () => (await spread(viaOption, 4)).get('c') === 4, 4000, 50);
    await own.close();
  });

  it('serves as a proxy cluster target', async () => {
    await dns.setHosts({ [ECHO]: [hostOf('a'), hostOf('b')] });
    const proxy = await proxyFor({ clusters: { echo: { target: `ha-dns://${dns.address}/${ECHO}:${port}`, policy: 'round_robin' } } });
    const echo = new EchoClient(`127.0.0.1:${proxy.port}`, credentials.createInsecure());
    try {
      await waitFor('both behind the proxy', async () => (await spread(echo, 6)).size === 2, 5000, 0);
    } finally {
      echo.close();
      await proxy.close(100);
    }
  });

  it('grpc-ha resolve --watch prints every change of the records', async () => {
    await dns.setHosts({ [ECHO]: [hostOf('a')] });
    const child = spawn(process.execPath, [CLI, 'resolve', `ha-dns://${dns.address}/${ECHO}:${port}`, '--watch', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GRPC_HA_LOG_LEVEL: 'silent' },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lists: string[][] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lists.push((JSON.parse(line) as { instances: { address: string }[] }).instances.map((i) => i.address).sort()));
    try {
      await waitFor('the first list', () => lists.length > 0, 5000);
      assert.deepEqual(lists[0], [`${hostOf('a')}:${port}`]);
      await dns.setHosts({ [ECHO]: [hostOf('a'), hostOf('b')] });
      await waitFor('the second list', () => lists.length > 1, (TTL_S + 3) * 1000);
      assert.deepEqual(lists[1], [`${hostOf('a')}:${port}`, `${hostOf('b')}:${port}`]);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
