/**
 * `overhead`: unary throughput of each grpc-ha policy over 3 local backends, against grpc-js's
 * built-in round_robin measured in the same run. Policies run in interleaved rounds and each
 * reports its median round, so drift hits all of them alike. Wall-clock throughput on a shared
 * 2-core machine swings ±30% between adjacent windows, so the client's CPU time per call is
 * reported too: with the client CPU-bound, `cpu_ratio` (baseline CPU per call / policy CPU per
 * call) is the throughput ratio without the scheduler's noise.
 */
import { spawnBackendGroup } from '../src/example/backend-process.js';
import { connectClient, GRPC_JS_ROUND_ROBIN, HA_POLICIES, keyedMetadata, policyName } from './cluster.js';
import { round2, runLoad } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const CONCURRENCY = 32;

/** Runs the overhead scenario. */
export async function runOverhead(ctx: BenchContext): Promise<BenchRow[]> {
  const rounds = ctx.quick ? 1 : 9;
  const windowMs = ctx.quick ? 300 : 600;
  // One process serves the three backends: the client keeps a core to itself, and an uneven
  // spread (by design under least_request or peak_ewma) does not change how much CPU the
  // backends get.
  const group = await spawnBackendGroup([{ id: 'b0' }, { id: 'b1' }, { id: 'b2' }]);
  try {
    const addresses = group.servers.map((b) => b.address);
    const entries = [GRPC_JS_ROUND_ROBIN, ...HA_POLICIES];
    const clients = await Promise.all(entries.map((e) => connectClient(addresses, e, 500)));
    const rps = new Map<string, number[]>(entries.map((e) => [policyName(e), []]));
    const cpuPerCall = new Map<string, number[]>(entries.map((e) => [policyName(e), []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no policy always runs first or last.
      for (let k = 0; k < entries.length; k++) {
        const idx = (k + r) % entries.length;
        const result = await runLoad(clients[idx]!, { concurrency: CONCURRENCY, durationMs: windowMs, metadata: keyedMetadata });
        if (result.failed > 0) throw new Error(`overhead: ${result.failed} calls failed: ${result.errors[0]}`);
        rps.get(policyName(entries[idx]!))!.push((result.calls / result.elapsedMs) * 1000);
        cpuPerCall.get(policyName(entries[idx]!))!.push(result.cpuUs / result.calls);
      }
      ctx.log(`round ${r + 1}/${rounds}: ${[...rps].map(([p, xs]) => `${p} ${Math.round(xs[r]!)}`).join(', ')}`);
    }
    for (const c of clients) c.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const baseline = median(rps.get(policyName(GRPC_JS_ROUND_ROBIN))!);
    const baselineCpu = median(cpuPerCall.get(policyName(GRPC_JS_ROUND_ROBIN))!);
    const rows: BenchRow[] = [];
    for (const entry of HA_POLICIES) {
      const x = median(rps.get(policyName(entry))!);
      const cpu = median(cpuPerCall.get(policyName(entry))!);
      const row = {
        scenario: 'overhead',
        policy: policyName(entry),
        rps: Math.round(x),
        baseline_rps: Math.round(baseline),
        ratio: round2(x / baseline),
        cpu_us_per_call: round2(cpu),
        baseline_cpu_us_per_call: round2(baselineCpu),
        cpu_ratio: round2(baselineCpu / cpu),
      };
      ctx.emit(row);
      rows.push(row);
    }
    return rows;
  } finally {
    await group.stop();
  }
}
