/**
 * `failover`: steady unary load over 3 backend processes registered in the embedded file
 * registry; in each run one backend is SIGTERMed (drains) or SIGKILLed (vanishes), and a
 * replacement starts and registers. Clients: grpc-ha (least_request) with retries for the
 * idempotent Echo service, grpc-ha without retries, and plain grpc-js round_robin without
 * retries, all in the same run and on the same cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, type Client } from '@grpc/grpc-js';
import { createClient } from '../src/client/create-client.js';
import { registerResolvers } from '../src/grpc/resolver.js';
import { spawnBackend, type BackendProcess } from '../src/example/backend-process.js';
import { ECHO_SERVICE_NAME, EchoClient } from '../src/example/echo-service.js';
import { policyChannelOptions } from '../src/grpc/service-config.js';
import { quantile, round2, runLoad } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const SERVICE = 'echo';

/** Runs the failover scenario. */
export async function runFailover(ctx: BenchContext): Promise<BenchRow[]> {
  registerResolvers();
  const dir = mkdtempSync(path.join(tmpdir(), 'grpc-ha-failover-'));
  const target = `file:///${SERVICE}?dir=${encodeURIComponent(dir)}`;
  let seq = 0;
  const start = () =>
    spawnBackend({ id: `b${seq++}`, latencyMs: 2, service: SERVICE, registry: `file:///?dir=${encodeURIComponent(dir)}`, drainNoticeMs: 500, env: { GRPC_HA_LOG_LEVEL: 'warn' } });
  const backends: BackendProcess[] = await Promise.all([start(), start(), start()]);
  const rows: BenchRow[] = [];
  const windowMs = ctx.quick ? 2500 : 4500;
  try {
    const clients: { policy: string; retries: boolean; make: () => Client }[] = [
      { policy: 'least_request', retries: true, make: () => createClient(EchoClient, target, { policy: 'least_request', idempotent: [ECHO_SERVICE_NAME] }) },
      { policy: 'least_request', retries: false, make: () => createClient(EchoClient, target, { policy: 'least_request', retryBudget: false }) },
      { policy: 'grpc-js', retries: false, make: () => new EchoClient(target, credentials.createInsecure(), policyChannelOptions({ round_robin: {} })) },
    ];
    for (const fault of ['sigterm', 'sigkill'] as const) {
      for (const c of clients) {
        const client = c.make() as EchoClient;
        await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));
        const load = runLoad(client, { concurrency: 8, durationMs: windowMs, deadlineMs: 5000 });
        await sleep(windowMs * 0.25);
        const victim = backends.shift()!;
        const stopped = victim.stop(fault === 'sigterm' ? 'SIGTERM' : 'SIGKILL', 15_000);
        await sleep(windowMs * 0.2);
        const replacement = await start();
        backends.push(replacement);
        const result = await load;
        await stopped;
        client.close();
        const row = {
          scenario: 'failover',
          fault,
          policy: c.policy,
          retries: c.retries,
          failed: result.failed,
          total: result.calls,
          p99_ms: round2(quantile(result.latenciesMs, 0.99)),
          // Calls the replacement served within the window: it registered and clients found it.
          replacement_calls: result.byServer.get(replacement.id) ?? 0,
        };
        ctx.emit(row);
        rows.push(row);
        if (result.failed > 0) ctx.log(`${fault} ${c.policy} retries=${c.retries}: e.g. ${result.errors[0]}`);
      }
    }
    return rows;
  } finally {
    await Promise.all(backends.map((b) => b.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
