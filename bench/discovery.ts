/**
 * `discovery`: how fast a client follows its source, for the embedded file registry, etcd (a
 * real etcd on loopback, started from the tests' launcher), DNS (`ha-dns:`, a real dnsmasq on
 * loopback with records of TTL 1 s) and Kubernetes (`k8s:`, the tests' fake EndpointSlice API).
 *
 * One stable instance is published and a client keeps 4 unary calls in flight with round_robin.
 * Each trial starts a fresh server (a fresh port — for DNS and Kubernetes, whose records share
 * one port, a fresh loopback address — so no pooled connection is reused), then measures
 * - add_ms: from publishing it (`register()`, the DNS records rewritten and reloaded, the
 *   EndpointSlice applied) until the first reply from it, and
 * - remove_ms: from unpublishing it until the last reply from it (0 when no call reached it
 *   afterwards); the trial waits until it got no call for 300 ms.
 * Both include grpc-js connecting to / dropping the endpoint, i.e. what a user sees. DNS is
 * bounded by the records' TTL (the resolver looks again when it runs out), the others push.
 * Trials run back to back and so would fall in step with the DNS look-ups (every change right
 * after one, measuring the same phase each time): DNS publishes and unpublishes after a random
 * pause in [0, TTL), as changes come in real life.
 */
import { credentials, type ChannelOptions } from '@grpc/grpc-js';
import { EtcdRegistry } from '../src/discovery/etcd-registry.js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { Registry } from '../src/discovery/registry.js';
import { KubernetesDiscovery } from '../src/discovery/kubernetes/kubernetes-discovery.js';
import { registerResolvers, registryChannelOptions } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer, type ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { startEtcd } from '../test/support/etcd.js';
import { tempDir } from '../test/support/discovery.js';
import { Dnsmasq, TEST_ZONE } from '../test/support/dnsmasq.js';
import { endpointSlice, FakeKubernetes } from '../test/support/fake-kubernetes.js';
import { quantile, round2 } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const CONCURRENCY = 4;
const QUIET_MS = 300;

/** TTL of the DNS records, s. */
const DNS_TTL_S = 1;

/** How one source publishes a server and takes it back. */
interface Publisher {
  /** The client's target. */
  readonly target: string;
  /** Extra channel options (a source built with test credentials). */
  readonly channelOptions?: ChannelOptions;
  /** Pause before each change is made, drawn in [0, this), ms: a change at a random phase of a polling source. */
  readonly phaseMs?: number;
  /** Starts the server of trial `trial` (null: the stable one). */
  startServer(id: string, trial: number | null, stable: ExampleServer | null): Promise<ExampleServer>;
  /** Publishes `server`; resolves with how to unpublish it. */
  publish(server: ExampleServer): Promise<() => Promise<void>>;
}

/** A registry: register() and the registration's close(). */
function registryPublisher(registry: Registry, service: string, target: string): Publisher {
  return {
    target,
    startServer: (id) => startExampleServer({ id }),
    async publish(server) {
      const registration = registry.register({ service, address: server.address });
      if (server.id === 'stable') await registration.ready;
      return () => registration.close();
    },
  };
}

/** Servers of DNS and Kubernetes records share the stable one's port, each on its own loopback address. */
function samePortServer(id: string, trial: number | null, stable: ExampleServer | null): Promise<ExampleServer> {
  return startExampleServer({ id, host: trial === null ? '127.0.0.2' : `127.0.0.${10 + trial}`, ...(stable && { port: stable.port }) });
}

/** Runs the discovery scenario for the file registry, etcd, DNS and Kubernetes. */
export async function runDiscovery(ctx: BenchContext): Promise<BenchRow[]> {
  registerResolvers();
  const trials = ctx.quick ? 5 : 20;
  const rows: BenchRow[] = [];
  const tmp = tempDir('grpc-ha-bench-discovery');
  try {
    const file = new FileRegistry({ dir: tmp.dir });
    rows.push(await measure(ctx, 'file', registryPublisher(file, 'bench-file', `file:///bench-file?dir=${encodeURIComponent(tmp.dir)}`), trials));
    await file.close();
  } finally {
    tmp.remove();
  }
  const etcd = await startEtcd();
  try {
    const registry = new EtcdRegistry({ endpoints: [etcd.endpoint] });
    rows.push(await measure(ctx, 'etcd', registryPublisher(registry, 'bench-etcd', `etcd://${etcd.endpoint}/bench-etcd`), trials));
    await registry.close();
  } finally {
    await etcd.destroy();
  }
  const dns = await Dnsmasq.start({ ttlS: DNS_TTL_S });
  try {
    const name = `bench.${TEST_ZONE}`;
    const live = new Set<string>();
    const write = () => dns.setHosts({ [name]: [...live] });
    let port = 0;
    rows.push(
      await measure(ctx, 'dns', {
        phaseMs: DNS_TTL_S * 1000,
        get target() {
          return `ha-dns://${dns.address}/${name}:${port}`;
        },
        startServer: async (id, trial, stable) => {
          const server = await samePortServer(id, trial, stable);
          port = server.port;
          return server;
        },
        async publish(server) {
          const host = server.address.split(':')[0]!;
          live.add(host);
          await write();
          return async () => {
            live.delete(host);
            await write();
          };
        },
      }, trials),
    );
  } finally {
    await dns.stop();
  }
  const api = new FakeKubernetes();
  await api.start();
  const k8s = new KubernetesDiscovery({ apiServer: api.url, namespace: 'bench' });
  try {
    const live = new Set<string>();
    let port = 0;
    const write = () => api.apply('bench', endpointSlice('echo', 'echo-1', [{ name: 'grpc', port }], [...live].map((address) => ({ address }))));
    rows.push(
      await measure(ctx, 'k8s', {
        target: 'k8s:///echo.bench:grpc',
        channelOptions: registryChannelOptions(k8s),
        startServer: async (id, trial, stable) => {
          const server = await samePortServer(id, trial, stable);
          port = server.port;
          return server;
        },
        async publish(server) {
          const host = server.address.split(':')[0]!;
          live.add(host);
          write();
          return async () => {
            live.delete(host);
            write();
          };
        },
      }, trials),
    );
  } finally {
    await k8s.close();
    await api.stop();
  }
  return rows;
}

async function measure(ctx: BenchContext, name: string, source: Publisher, trials: number): Promise<BenchRow> {
  const stable = await source.startServer('stable', null, null);
  const unpublishStable = await source.publish(stable);
  // The client resolves through its own source client, as a separate process would.
  const client = new EchoClient(source.target, credentials.createInsecure(), { ...source.channelOptions, ...policyChannelOptions('round_robin') });
  /** Reply times per server id of the trial's instance. */
  const replies = { id: '', first: Infinity, last: -Infinity };
  let running = true;
  let failed = 0;
  const loops = Array.from({ length: CONCURRENCY }, async () => {
    while (running) {
      await new Promise<void>((resolve) =>
        client.unary({ message: 'x' }, { deadline: Date.now() + 2000 }, (err, reply) => {
          const now = performance.now();
          if (err) failed++;
          else if (reply!.serverId === replies.id) {
            replies.first = Math.min(replies.first, now);
            replies.last = Math.max(replies.last, now);
          }
          resolve();
        }),
      );
    }
  });
  const add: number[] = [];
  const remove: number[] = [];
  try {
    for (let trial = 0; trial < trials; trial++) {
      const id = `${name}-${trial}`;
      const server = await source.startServer(id, trial, stable);
      Object.assign(replies, { id, first: Infinity, last: -Infinity });
      await pause(source.phaseMs);
      const registered = performance.now();
      const unpublish = await source.publish(server);
      await waitUntil(() => replies.first < Infinity, 10_000);
      add.push(replies.first - registered);
      await pause(source.phaseMs);
      const deregistered = performance.now();
      await unpublish();
      // Wait until the instance has had no call for QUIET_MS (bounded).
      await waitUntil(() => performance.now() - Math.max(replies.last, deregistered) > QUIET_MS, 10_000);
      remove.push(Math.max(0, replies.last - deregistered));
      await server.stop(0);
    }
  } finally {
    running = false;
    await Promise.all(loops);
    client.close();
    await unpublishStable();
    await stable.stop(0);
  }
  const row: BenchRow = {
    scenario: 'discovery',
    registry: name,
    trials,
    add_ms_p50: round2(quantile(add, 0.5)),
    add_ms_p99: round2(quantile(add, 0.99)),
    remove_ms_p50: round2(quantile(remove, 0.5)),
    remove_ms_p99: round2(quantile(remove, 0.99)),
    failed_calls: failed,
  };
  ctx.emit(row);
  return row;
}

function pause(maxMs: number | undefined): Promise<void> {
  return maxMs ? new Promise((r) => setTimeout(r, Math.random() * maxMs)) : Promise.resolve();
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`discovery bench: no change within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
