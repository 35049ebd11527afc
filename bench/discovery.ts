/**
 * `discovery`: how fast a client follows the registry, for the embedded file registry and etcd
 * (a real etcd on loopback, started from the tests' launcher).
 *
 * One stable instance is registered and a client keeps 4 unary calls in flight with round_robin
 * on `<scheme>:///bench-<registry>`. Each trial starts a fresh server (fresh port, so no pooled
 * connection is reused), then measures
 * - add_ms: from `register()` until the first reply from the new instance, and
 * - remove_ms: from `close()` of its registration (deregistration) until the last reply from it
 *   (0 when no call reached it afterwards); the trial waits until it got no call for 300 ms.
 * Both include grpc-js connecting to / dropping the endpoint, i.e. what a user sees.
 */
import { credentials } from '@grpc/grpc-js';
import { EtcdRegistry } from '../src/discovery/etcd-registry.js';
import { FileRegistry } from '../src/discovery/file-registry.js';
import type { Registry } from '../src/discovery/registry.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { EchoClient } from '../src/example/echo-service.js';
import { startExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { startEtcd } from '../test/support/etcd.js';
import { tempDir } from '../test/support/discovery.js';
import { quantile, round2 } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const CONCURRENCY = 4;
const QUIET_MS = 300;

/** Runs the discovery scenario for the file registry and etcd. */
export async function runDiscovery(ctx: BenchContext): Promise<BenchRow[]> {
  registerResolvers();
  const trials = ctx.quick ? 5 : 20;
  const rows: BenchRow[] = [];
  const tmp = tempDir('grpc-ha-bench-discovery');
  try {
    const file = new FileRegistry({ dir: tmp.dir });
    rows.push(await measure(ctx, 'file', file, `file:///bench-file?dir=${encodeURIComponent(tmp.dir)}`, trials));
    await file.close();
  } finally {
    tmp.remove();
  }
  const etcd = await startEtcd();
  try {
    const registry = new EtcdRegistry({ endpoints: [etcd.endpoint] });
    rows.push(await measure(ctx, 'etcd', registry, `etcd://${etcd.endpoint}/bench-etcd`, trials));
    await registry.close();
  } finally {
    await etcd.destroy();
  }
  return rows;
}

async function measure(ctx: BenchContext, name: string, registry: Registry, target: string, trials: number): Promise<BenchRow> {
  const service = `bench-${name}`;
  const stable = await startExampleServer({ id: 'stable' });
  const stableRegistration = registry.register({ service, address: stable.address });
  await stableRegistration.ready;
  // The client resolves through its own registry client, as a separate process would.
  const client = new EchoClient(target, credentials.createInsecure(), policyChannelOptions('round_robin'));
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
      const server = await startExampleServer({ id });
      Object.assign(replies, { id, first: Infinity, last: -Infinity });
      const registered = performance.now();
      const registration = registry.register({ service, address: server.address });
      await waitUntil(() => replies.first < Infinity, 10_000);
      add.push(replies.first - registered);
      const deregistered = performance.now();
      await registration.close();
      // Wait until the instance has had no call for QUIET_MS (bounded).
      await waitUntil(() => performance.now() - Math.max(replies.last, deregistered) > QUIET_MS, 10_000);
      remove.push(Math.max(0, replies.last - deregistered));
      await server.stop(0);
    }
  } finally {
    running = false;
    await Promise.all(loops);
    client.close();
    await stableRegistration.close();
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

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`discovery bench: no change within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
