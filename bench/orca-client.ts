/**
 * The `orca` scenario's client process: one independent client of the fleet. It connects with
 * the policy it is given, waits for the common start time, runs a closed-loop load and prints
 * one JSON line with every latency and the calls each backend answered.
 * Usage: node dist/bench/orca-client.js '{"addresses":[...],"policy":{...},"concurrency":2,"startAt":EPOCH_MS,"durationMs":4000}'
 */
import { connectClient } from './cluster.js';
import { runLoad } from './load.js';
import type { LoadBalancingConfigEntry } from '../src/grpc/service-config.js';

/** What the scenario passes to a client process. */
export interface OrcaClientSpec {
  readonly addresses: readonly string[];
  readonly policy: LoadBalancingConfigEntry;
  readonly concurrency: number;
  /** Date.now() at which every client of the fleet starts its load. */
  readonly startAt: number;
  readonly durationMs: number;
}

/** What a client process prints. */
export interface OrcaClientResult {
  readonly latenciesMs: number[];
  readonly byServer: Record<string, number>;
  readonly failed: number;
  readonly errors: string[];
}

const spec = JSON.parse(process.argv[2] ?? '{}') as OrcaClientSpec;
// Few warm-up calls: enough to connect, not enough to pre-train a policy.
const client = await connectClient(spec.addresses, spec.policy, 3);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, spec.startAt - Date.now())));
const result = await runLoad(client, { concurrency: spec.concurrency, durationMs: spec.durationMs });
client.close();
const out: OrcaClientResult = {
  latenciesMs: result.latenciesMs.map((x) => Math.round(x * 1000) / 1000),
  byServer: Object.fromEntries(result.byServer),
  failed: result.failed,
  errors: result.errors,
};
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
