/**
 * `slow-many`: n backends of which k are slow, c calls in flight (closed loop), per policy and
 * against grpc-js round_robin on the same backends (baseline) and the same load on the n - k fast
 * ones alone (healthy reference), in interleaved rounds; each measurement starts from a fresh
 * channel, so learning which backends are slow counts.
 *
 * Parameters: --n 3,5,10 --k 1,2,4 (paired), --slow-ms 20,10 --jitter-ms 0,40 (paired: a slow
 * reply waits slow-ms plus a uniform draw in [0, jitter-ms): 20 ms fixed and 10-50 ms jittered),
 * --concurrency 16, --rounds 2. Power of two choices alone leaves a floor of
 * (k/n)(k-1)/(n-1) of the calls on slow backends (both samples slow): 0, 10 % and 13 % here.
 *
 * Rows with mode "model" run the same pure pickers in virtual time (latency-model.ts): the
 * policy's decisions without this machine's scheduling noise, next to plain P2C on the same cost.
 */
import { spawnBackendGroup, type GroupServerOptions } from '../src/example/backend-process.js';
import { connectClient, GRPC_JS_ROUND_ROBIN, policyName } from './cluster.js';
import { quantile, round2, runLoad, type LoadResult } from './load.js';
import { numbersOption, type BenchContext, type BenchRow } from './types.js';
import type { LoadBalancingConfigEntry } from '../src/grpc/service-config.js';
import { runModel, type ModelPolicy } from './latency-model.js';

/** The load-aware policies measured (random and the static ones cannot avoid a slow backend). */
const POLICIES: readonly LoadBalancingConfigEntry[] = [{ least_request: {} }, { peak_ewma: {} }];

/** What the latency-aware policy must reach in every default case (issue 16). */
const TARGET_SLOW_SHARE = 0.02;
const TARGET_P99_RATIO = 1.25;

interface Case {
  readonly n: number;
  readonly k: number;
  readonly slowMs: number;
  readonly jitterMs: number;
}

/** Runs the slow-many scenario. */
export async function runSlowMany(ctx: BenchContext): Promise<BenchRow[]> {
  const ns = numbersOption(ctx, 'n', [3, 5, 10], 2);
  const ks = numbersOption(ctx, 'k', [1, 2, 4], 1);
  const slows = numbersOption(ctx, 'slow-ms', [20, 10]);
  const jitters = numbersOption(ctx, 'jitter-ms', [0, 40]);
  const [concurrency] = numbersOption(ctx, 'concurrency', [16], 1);
  const [rounds] = numbersOption(ctx, 'rounds', [ctx.quick ? 1 : 2], 1);
  if (ns.length !== ks.length) throw new Error(`bench: --n and --k pair up and need as many values, got ${ns.length} and ${ks.length}`);
  if (slows.length !== jitters.length) throw new Error(`bench: --slow-ms and --jitter-ms pair up, got ${slows.length} and ${jitters.length}`);
  ns.forEach((n, i) => {
    if (!(ks[i]! < n)) throw new Error(`bench: --k must be below --n (at least one fast backend), got k=${ks[i]} for n=${n}`);
  });
  const windowMs = ctx.quick ? 500 : 2000;
  const cases: Case[] = ns.flatMap((n, i) => slows.map((slowMs, j) => ({ n, k: ks[i]!, slowMs, jitterMs: jitters[j]! })));

  // One process serves every backend (as slow-backend does): fast ones, then k slow ones per latency kind.
  const maxFast = Math.max(...cases.map((c) => c.n - c.k));
  const maxSlow = Math.max(...ks);
  const specs: GroupServerOptions[] = Array.from({ length: maxFast }, (_, i) => ({ id: `fast-${i}` }));
  slows.forEach((slowMs, j) => {
    for (let i = 0; i < maxSlow; i++) specs.push({ id: `slow-${j}-${i}`, latencyMs: slowMs, latencyJitterMs: jitters[j]! });
  });
  const group = await spawnBackendGroup(specs);
  const address = new Map(group.servers.map((s) => [s.id, s.address]));
  try {
    const measure = async (ids: string[], entry: LoadBalancingConfigEntry): Promise<LoadResult> => {
      // Few warm-up calls: enough to connect, not enough to pre-train a policy.
      const client = await connectClient(ids.map((id) => address.get(id)!), entry, 3);
      const result = await runLoad(client, { concurrency, durationMs: windowMs });
      client.close();
      if (result.failed > 0) throw new Error(`slow-many: ${result.failed} calls failed: ${result.errors[0]}`);
      return result;
    };
    type Runs = { latencies: number[]; p99s: number[]; slow: number; total: number };
    const results = new Map<string, Runs>();
    const add = (key: string, r: LoadResult) => {
      const runs = results.get(key) ?? { latencies: [], p99s: [], slow: 0, total: 0 };
      for (const x of r.latenciesMs) runs.latencies.push(x);
      runs.p99s.push(quantile(r.latenciesMs, 0.99));
      for (const [id, count] of r.byServer) {
        runs.total += count;
        if (id.startsWith('slow-')) runs.slow += count;
      }
      results.set(key, runs);
    };
    const keyOf = (c: Case, policy: string) => `${c.n}/${c.k}/${c.slowMs}/${c.jitterMs}/${policy}`;
    const entries: [string, LoadBalancingConfigEntry][] = [['grpc-js round_robin', GRPC_JS_ROUND_ROBIN], ...POLICIES.map((p) => [policyName(p), p] as [string, LoadBalancingConfigEntry])];
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        const fast = Array.from({ length: c.n - c.k }, (_, i) => `fast-${i}`);
        const slow = Array.from({ length: c.k }, (_, i) => `slow-${slows.indexOf(c.slowMs)}-${i}`);
        // The order does not matter: every picker measured starts from a random index or sample.
        const ids = [...fast, ...slow];
        add(keyOf(c, 'healthy'), await measure(fast, GRPC_JS_ROUND_ROBIN));
        // Interleaved: each policy's round runs next to its baseline's.
        for (const [name, entry] of round % 2 === 0 ? entries : [...entries].reverse()) add(keyOf(c, name), await measure(ids, entry));
        ctx.log(`round ${round + 1}/${rounds}: n=${c.n} k=${c.k} slow=${c.slowMs}+U[0,${c.jitterMs}) ms done`);
      }
    }
    const rows: BenchRow[] = [];
    for (const c of cases) {
      const healthy = results.get(keyOf(c, 'healthy'))!;
      const baseline = results.get(keyOf(c, 'grpc-js round_robin'))!;
      const healthyP99 = quantile(healthy.latencies, 0.99);
      for (const [name] of entries) {
        const r = results.get(keyOf(c, name))!;
        const p99 = quantile(r.latencies, 0.99);
        const slowShare = r.slow / r.total;
        const row: BenchRow = {
          scenario: 'slow-many',
          policy: name,
          n: c.n,
          k: c.k,
          slow_ms: c.slowMs,
          jitter: c.jitterMs,
          c: concurrency,
          p50_ms: round2(quantile(r.latencies, 0.5)),
          p99_ms: round2(p99),
          p99_rounds_ms: r.p99s.map(round2).join(' / '),
          slow_share: Math.round(slowShare * 10_000) / 10_000,
          p2c_floor: Math.round(((c.k / c.n) * (c.k - 1)) / (c.n - 1) * 10_000) / 10_000,
          healthy_p99_ms: round2(healthyP99),
          baseline_p99_ms: round2(quantile(baseline.latencies, 0.99)),
          calls: r.total,
          mode: 'processes',
          meets_target: name === 'peak_ewma' ? slowShare <= TARGET_SLOW_SHARE && p99 <= TARGET_P99_RATIO * healthyP99 : null,
        };
        ctx.emit(row);
        rows.push(row);
      }
    }
    const seconds = ctx.quick ? 2 : 10;
    for (const c of cases) {
      const model = { ...c, concurrency, noiseMs: 1, seconds };
      const healthyP99 = runModel('round_robin', { ...model, n: c.n - c.k, k: 0 }).p99;
      const baselineP99 = runModel('round_robin', model).p99;
      for (const policy of ['round_robin', 'least_request', 'p2c peak_ewma', 'peak_ewma'] as ModelPolicy[]) {
        const r = runModel(policy, model);
        const row: BenchRow = {
          scenario: 'slow-many',
          policy: `${policy} (model)`,
          n: c.n,
          k: c.k,
          slow_ms: c.slowMs,
          jitter: c.jitterMs,
          c: concurrency,
          p50_ms: round2(r.p50),
          p99_ms: round2(r.p99),
          p99_rounds_ms: '',
          slow_share: Math.round(r.slowShare * 10_000) / 10_000,
          p2c_floor: Math.round(((c.k / c.n) * (c.k - 1)) / (c.n - 1) * 10_000) / 10_000,
          healthy_p99_ms: round2(healthyP99),
          baseline_p99_ms: round2(baselineP99),
          calls: r.calls,
          mode: 'model',
          meets_target: policy === 'peak_ewma' ? r.slowShare <= TARGET_SLOW_SHARE && r.p99 <= TARGET_P99_RATIO * healthyP99 : null,
        };
        ctx.emit(row);
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await group.stop();
  }
}
