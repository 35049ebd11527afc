/**
 * `slow-backend`: 3 backends, one with +20 ms latency, 8 calls in flight — far below what the
 * healthy backends can serve. Each policy starts from a fresh channel (so learning the slow
 * backend counts), against grpc-js round_robin on the same backends (baseline) and the same load
 * on 3 healthy backends (reference).
 */
import { spawnBackendGroup } from '../src/example/backend-process.js';
import { connectClient, GRPC_JS_ROUND_ROBIN, HA_POLICIES, keyedMetadata, policyName } from './cluster.js';
import { quantile, round2, runLoad, type LoadResult } from './load.js';
import type { BenchContext, BenchRow } from './types.js';
import type { LoadBalancingConfigEntry } from '../src/grpc/service-config.js';

const CONCURRENCY = 8;
const SLOW_MS = 20;

/** Runs the slow-backend scenario. */
export async function runSlowBackend(ctx: BenchContext): Promise<BenchRow[]> {
  const windowMs = ctx.quick ? 600 : 4000;
  // The four backends share one process: the client keeps a core to itself, and latency
  // measures the policies rather than the scheduler juggling five processes on two cores.
  const group = await spawnBackendGroup([
    { id: 'fast-0' },
    { id: 'fast-1' },
    { id: 'slow', latencyMs: SLOW_MS },
    { id: 'fast-2' },
  ]);
  const backends = group.servers;
  try {
    const withSlow = backends.slice(0, 3).map((b) => b.address);
    const healthy = [backends[0]!, backends[1]!, backends[3]!].map((b) => b.address);
    const measure = async (addresses: string[], entry: LoadBalancingConfigEntry): Promise<LoadResult> => {
      // Few warm-up calls: enough to connect every subchannel, not enough to pre-train a policy.
      const client = await connectClient(addresses, entry, 3);
      const result = await runLoad(client, { concurrency: CONCURRENCY, durationMs: windowMs, metadata: keyedMetadata });
      client.close();
      if (result.failed > 0) throw new Error(`slow-backend: ${result.failed} calls failed: ${result.errors[0]}`);
      return result;
    };
    const reference = await measure(healthy, GRPC_JS_ROUND_ROBIN);
    const baseline = await measure(withSlow, GRPC_JS_ROUND_ROBIN);
    const healthyP99 = quantile(reference.latenciesMs, 0.99);
    const baselineP99 = quantile(baseline.latenciesMs, 0.99);
    const rows: BenchRow[] = [];
    const report = (policy: string, r: LoadResult) => {
      const total = [...r.byServer.values()].reduce((a, b) => a + b, 0);
      const row = {
        scenario: 'slow-backend',
        policy,
        p50_ms: round2(quantile(r.latenciesMs, 0.5)),
        p99_ms: round2(quantile(r.latenciesMs, 0.99)),
        slow_share: Math.round(((r.byServer.get('slow') ?? 0) / total) * 10_000) / 10_000,
        calls: r.calls,
        baseline_p99_ms: round2(baselineP99),
        healthy_p99_ms: round2(healthyP99),
      };
      ctx.emit(row);
      rows.push(row);
    };
    report('grpc-js round_robin', baseline);
    for (const entry of HA_POLICIES) {
      report(policyName(entry), await measure(withSlow, entry));
      ctx.log(`${policyName(entry)} done`);
    }
    // The decay time trades stability for reaction speed: a shorter one forgets a latency spike
    // of a healthy backend (client GC pauses spike every busy backend at once) sooner.
    report('peak_ewma decayMs=1000', await measure(withSlow, { peak_ewma: { decayMs: 1000 } }));
    return rows;
  } finally {
    await group.stop();
  }
}
