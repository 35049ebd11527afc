/**
 * A closed-loop unary load: `concurrency` workers each send the next call as soon as the last
 * ends, until `durationMs` passes or `maxCalls` calls were made (both bound every run).
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { EchoClient } from '../src/example/echo-service.js';

/** Options of one load run. */
export interface LoadOptions {
  readonly concurrency: number;
  readonly durationMs: number;
  /** Hard cap on calls, whatever the duration. Defaults to 5,000,000. */
  readonly maxCalls?: number;
  /** Per-call deadline, ms. Defaults to 5000. */
  readonly deadlineMs?: number;
  /** Metadata for call i (e.g. a hash key). */
  readonly metadata?: (i: number) => Metadata;
}

/** What a load run measured. */
export interface LoadResult {
  readonly calls: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** Latency of every successful call, ms. */
  readonly latenciesMs: number[];
  /** Successful calls per server_id. */
  readonly byServer: Map<string, number>;
  /** Failure messages seen, at most 5. */
  readonly errors: string[];
  /** User + system CPU time this process spent during the run, µs. */
  readonly cpuUs: number;
}

/** Runs a closed-loop unary load on `client`. */
export async function runLoad(client: EchoClient, options: LoadOptions): Promise<LoadResult> {
  const maxCalls = options.maxCalls ?? 5_000_000;
  const deadlineMs = options.deadlineMs ?? 5000;
  const latenciesMs: number[] = [];
  const byServer = new Map<string, number>();
  const errors: string[] = [];
  let calls = 0;
  let failed = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const end = start + options.durationMs;
  const emptyMetadata = new Metadata();
  const worker = async () => {
    while (calls < maxCalls && performance.now() < end) {
      const i = calls++;
      const t0 = performance.now();
      try {
        const reply = await new Promise<{ serverId: string }>((resolve, reject) =>
          client.unary(
            { message: 'bench' },
            options.metadata ? options.metadata(i) : emptyMetadata,
            { deadline: Date.now() + deadlineMs },
            (err: ServiceError | null, r) => (err ? reject(err) : resolve(r!)),
          ),
        );
        latenciesMs.push(performance.now() - t0);
        byServer.set(reply.serverId, (byServer.get(reply.serverId) ?? 0) + 1);
      } catch (error) {
        failed++;
        if (errors.length < 5) errors.push((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const cpu = process.cpuUsage(cpuStart);
  return { calls, failed, elapsedMs: performance.now() - start, latenciesMs, byServer, errors, cpuUs: cpu.user + cpu.system };
}

/** The q-quantile (0..1) of `values`, by nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Rounds to 2 decimals for reports. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
