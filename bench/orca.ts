/**
 * `orca` (issue 16): does backend-reported load (ORCA, gRFC A51) help the load-aware policies
 * when several independent clients share the backends? K client processes, each with its own
 * channel and `concurrency` calls in flight (closed loop), share 3 backend processes
 * (orca-backend.ts: a fixed number of worker slots, a FIFO queue beyond them). Each client sees
 * only its own calls; the backends report their utilization per call and out of band.
 *
 * Cases:
 *   half-capacity  backend "loaded" has half the slots of the other two.
 *   external       equal slots, and "loaded" also serves an external client (its own process,
 *                  pinned to it, `concurrency` + 1 calls in flight) that no policy sees.
 * Policies, interleaved per round (order reversed every other round), each window from fresh
 * client processes (learning counts): grpc-js round_robin (baseline), least_request and
 * peak_ewma, and grpc-js weighted_round_robin (gRFC A58: weights from the backends' ORCA reports).
 * Branch `orca-experiment` adds least_request and peak_ewma fed by the per-call reports (cost ×
 * 1 / (1 - utilization)); they did not help (docs/benchmarks.md), so they are not in main.
 *
 * Parameters: --k 4 (client processes), --concurrency 2 (calls in flight per client),
 * --slow-ms 20 (service time of a call, ms: long enough that the slots, not this 2-core machine's CPU, limit a backend), --rounds 3.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { GRPC_JS_ROUND_ROBIN } from './cluster.js';
import { quantile, round2 } from './load.js';
import type { OrcaClientResult, OrcaClientSpec } from './orca-client.js';
import { numbersOption, type BenchContext, type BenchRow } from './types.js';
import type { LoadBalancingConfigEntry } from '../src/grpc/service-config.js';

const BACKEND = fileURLToPath(new URL('./orca-backend.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./orca-client.js', import.meta.url));

/** Slots of a full backend; the half-capacity case's loaded backend has half. */
const SLOTS = 4;

/** Time the client processes get to start and connect before the common start, ms. */
const START_DELAY_MS = 3000;

/** The policies compared, by the name rows carry. */
const POLICIES: readonly [string, LoadBalancingConfigEntry][] = [
  ['grpc-js round_robin', GRPC_JS_ROUND_ROBIN],
  ['least_request', { least_request: {} }],
  ['peak_ewma', { peak_ewma: {} }],
  // Out-of-band reports: grpc-js 1.14.7 parses each per-call report by loading the ORCA proto
  // files again (~40 ms of CPU a call, see orca-backend.ts). A58's defaults wait 10 s before
  // using a weight (blackout_period); a window is a few seconds.
  [
    'grpc-js weighted_round_robin (oob)',
    {
      weighted_round_robin: {
        enable_oob_load_report: true,
        oob_load_reporting_period: '0.25s',
        blackout_period: '0.5s',
        weight_update_period: '0.1s',
      },
    },
  ],
];

interface Backend {
  readonly id: string;
  readonly address: string;
  stop(): Promise<void>;
}

async function startBackend(id: string, slots: number, serviceMs: number): Promise<Backend> {
  const child = spawn(process.execPath, [BACKEND, id, String(slots), String(serviceMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`orca backend ${id} did not start within 10 s`)), 10_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then(() => reject(new Error(`orca backend ${id} exited before listening`)));
  });
  return {
    id,
    address: `127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function runClient(spec: OrcaClientSpec): Promise<OrcaClientResult> {
  const child = spawn(process.execPath, [CLIENT, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { GRPC_HA_LOG_LEVEL: 'warn', ...process.env },
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), START_DELAY_MS + spec.durationMs + 30_000);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      clearTimeout(killer);
      if (code !== 0) return reject(new Error(`orca client exited with ${code}`));
      const result = JSON.parse(out) as OrcaClientResult;
      if (result.failed > 0) return reject(new Error(`orca client: ${result.failed} calls failed: ${result.errors[0]}`));
      resolve(result);
    });
  });
}

interface Case {
  readonly name: 'half-capacity' | 'external';
  readonly backends: readonly Backend[];
  /** The backend with less spare capacity. */
  readonly loaded: string;
  readonly external: boolean;
}

/** Runs the orca scenario. */
export async function runOrca(ctx: BenchContext): Promise<BenchRow[]> {
  const [k] = numbersOption(ctx, 'k', [4], 1);
  const [concurrency] = numbersOption(ctx, 'concurrency', [2], 1);
  const [serviceMs] = numbersOption(ctx, 'slow-ms', [20], 1);
  const [rounds] = numbersOption(ctx, 'rounds', [ctx.quick ? 1 : 3], 1);
  const durationMs = ctx.quick ? 1000 : 4000;
  const started = await Promise.all([
    startBackend('small', SLOTS / 2, serviceMs!),
    startBackend('busy', SLOTS, serviceMs!),
    startBackend('full-1', SLOTS, serviceMs!),
    startBackend('full-2', SLOTS, serviceMs!),
  ]);
  const [small, busy, full1, full2] = started as [Backend, Backend, Backend, Backend];
  const cases: Case[] = [
    { name: 'half-capacity', backends: [small, full1, full2], loaded: small.id, external: false },
    { name: 'external', backends: [busy, full1, full2], loaded: busy.id, external: true },
  ];
  try {
    type Runs = { latencies: number[]; p99s: number[]; loaded: number; total: number };
    const results = new Map<string, Runs>();
    const measure = async (c: Case, entry: LoadBalancingConfigEntry): Promise<Runs> => {
      const startAt = Date.now() + START_DELAY_MS;
      const addresses = c.backends.map((b) => b.address);
      const fleet = Array.from({ length: k! }, () => runClient({ addresses, policy: entry, concurrency: concurrency!, startAt, durationMs }));
      // The external client runs a little longer, so the fleet never sees the loaded backend idle.
      const external = c.external
        ? runClient({ addresses: [busy.address], policy: GRPC_JS_ROUND_ROBIN, concurrency: concurrency! + 1, startAt: startAt - 500, durationMs: durationMs + 1000 })
        : undefined;
      const outs = await Promise.all(fleet);
      await external;
      const runs: Runs = { latencies: [], p99s: [], loaded: 0, total: 0 };
      for (const o of outs) {
        for (const x of o.latenciesMs) runs.latencies.push(x);
        for (const [id, count] of Object.entries(o.byServer)) {
          runs.total += count;
          if (id === c.loaded) runs.loaded += count;
        }
      }
      runs.p99s.push(quantile(runs.latencies, 0.99));
      return runs;
    };
    for (let round = 0; round < rounds!; round++) {
      for (const c of cases) {
        for (const [name, entry] of round % 2 === 0 ? POLICIES : [...POLICIES].reverse()) {
          const r = await measure(c, entry);
          const key = `${c.name}/${name}`;
          const all = results.get(key) ?? { latencies: [], p99s: [], loaded: 0, total: 0 };
          for (const x of r.latencies) all.latencies.push(x);
          all.p99s.push(...r.p99s);
          all.loaded += r.loaded;
          all.total += r.total;
          results.set(key, all);
        }
        ctx.log(`round ${round + 1}/${rounds}: ${c.name} done`);
      }
    }
    const rows: BenchRow[] = [];
    for (const c of cases) {
      const baseline = results.get(`${c.name}/grpc-js round_robin`)!;
      const baselineP99 = quantile(baseline.latencies, 0.99);
      const baselineP50 = quantile(baseline.latencies, 0.5);
      for (const [name] of POLICIES) {
        const r = results.get(`${c.name}/${name}`)!;
        const p50 = quantile(r.latencies, 0.5);
        const p99 = quantile(r.latencies, 0.99);
        const row: BenchRow = {
          scenario: 'orca',
          case: c.name,
          policy: name,
          k: k!,
          c: concurrency!,
          service_ms: serviceMs!,
          p50_ms: round2(p50),
          p99_ms: round2(p99),
          p99_rounds_ms: r.p99s.map(round2).join(' / '),
          p50_vs_rr: round2(p50 / baselineP50),
          p99_vs_rr: round2(p99 / baselineP99),
          loaded_share: Math.round((r.loaded / r.total) * 10_000) / 10_000,
          calls_per_s: Math.round(r.total / ((rounds! * durationMs) / 1000)),
        };
        ctx.emit(row);
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await Promise.all(started.map((b) => b.stop()));
  }
}
