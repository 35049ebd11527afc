/**
 * `eject`: how fast each policy stops sending to a backend that goes bad, under steady load (8
 * calls in flight) over 3 backends. Faults:
 * - not_serving: the backend's grpc.health.v1 status turns NOT_SERVING (client health checking);
 * - errors: it answers every call UNAVAILABLE (outlier ejection, 5 consecutive failures);
 * - killed: its process is SIGKILLed (the connection drops).
 * detect_ms = time from the fault until the last call sent to that backend (0 when none was
 * sent after it); failed and total count the calls of the whole run. Every policy runs with
 * `healthCheckConfig` on the Echo service and `outlierEjection` at its defaults; grpc-js
 * round_robin runs inside `health_aware`. The two steady backends share one process; the victim
 * is a process of its own for `killed`, and runs in this process for the two faults that need a
 * switch to flip (the example server has no remote control).
 */
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { spawnBackend, spawnBackendGroup } from '../src/example/backend-process.js';
import { ECHO_SERVICE_NAME, EchoClient } from '../src/example/echo-service.js';
import { startExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions, type LoadBalancingConfigEntry } from '../src/grpc/service-config.js';
import { HA_POLICIES, keyedMetadata, policyName } from './cluster.js';
import { round2 } from './load.js';
import type { BenchContext, BenchRow } from './types.js';

const FAULTS = ['not_serving', 'errors', 'killed'] as const;
type Fault = (typeof FAULTS)[number];
const CONCURRENCY = 8;
const DEADLINE_MS = 2000;

/** Every grpc-ha policy with outlier ejection at its defaults, and grpc-js round_robin wrapped by health_aware. */
const POLICIES: readonly { label: string; entry: LoadBalancingConfigEntry }[] = [
  ...HA_POLICIES.map((entry) => {
    const name = policyName(entry);
    return { label: name, entry: { [name]: { ...(entry as Record<string, object>)[name], outlierEjection: {} } } as LoadBalancingConfigEntry };
  }),
  { label: 'grpc-js round_robin', entry: { health_aware: { childPolicy: [{ round_robin: {} }], outlierEjection: {} } } },
];

/** A victim backend the scenario can break. */
interface Victim {
  readonly address: string;
  inject(): void;
  stop(): Promise<unknown>;
}

async function startVictim(fault: Fault): Promise<Victim> {
  if (fault === 'killed') {
    const p = await spawnBackend({ id: 'victim' });
    return { address: p.address, inject: () => p.child.kill('SIGKILL'), stop: () => p.stop() };
  }
  const s = await startExampleServer({ id: 'victim' });
  return {
    address: s.address,
    inject: () => (fault === 'not_serving' ? s.setServing(false) : s.setFailure({ code: 14, rate: 1 })),
    stop: () => s.stop(0),
  };
}

/** Runs the eject scenario. */
export async function runEject(ctx: BenchContext): Promise<BenchRow[]> {
  const preMs = ctx.quick ? 200 : 400;
  const postMs = ctx.quick ? 400 : 1000;
  const group = await spawnBackendGroup([{ id: 'steady-0' }, { id: 'steady-1' }]);
  const rows: BenchRow[] = [];
  try {
    for (const fault of FAULTS) {
      for (const { label, entry } of POLICIES) {
        const victim = await startVictim(fault);
        try {
          const addresses = [group.servers[0]!.address, victim.address, group.servers[1]!.address];
          const r = await measure(addresses, victim, entry, preMs, postMs);
          const row: BenchRow = { scenario: 'eject', fault, policy: label, ...r };
          ctx.emit(row);
          rows.push(row);
        } finally {
          await victim.stop();
        }
      }
      ctx.log(`${fault} done`);
    }
  } finally {
    await group.stop();
  }
  return rows;
}

async function measure(addresses: readonly string[], victim: Victim, entry: LoadBalancingConfigEntry, preMs: number, postMs: number) {
  const client = new EchoClient(
    `ipv4:${addresses.join(',')}`,
    credentials.createInsecure(),
    policyChannelOptions(entry, {}, { healthCheckConfig: { serviceName: ECHO_SERVICE_NAME } }),
  );
  try {
    let n = 0;
    const call = () =>
      new Promise<{ peer: string; failed: boolean }>((resolve) => {
        const c = client.unary({ message: 'eject' }, keyedMetadata(n++), { deadline: Date.now() + DEADLINE_MS }, (err: ServiceError | null) =>
          resolve({ peer: c.getPeer(), failed: err !== null }),
        );
      });
    // Warm up until the victim takes calls: every endpoint connected and health-checked.
    const warmEnd = performance.now() + 5000;
    while ((await call()).peer !== victim.address) {
      if (performance.now() > warmEnd) throw new Error(`eject: ${victim.address} got no call during warm-up`);
    }
    let total = 0;
    let failed = 0;
    let faultAt = Number.POSITIVE_INFINITY;
    let lastVictimSend = Number.NEGATIVE_INFINITY;
    let victimCallsAfter = 0;
    const start = performance.now();
    const end = start + preMs + postMs;
    const timer = setTimeout(() => {
      faultAt = performance.now();
      victim.inject();
    }, preMs);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const sentAt = performance.now();
          const r = await call();
          total++;
          if (r.failed) failed++;
          if (r.peer === victim.address && sentAt >= faultAt) {
            victimCallsAfter++;
            if (sentAt > lastVictimSend) lastVictimSend = sentAt;
          }
        }
      }),
    );
    clearTimeout(timer);
    return {
      detect_ms: Number.isFinite(lastVictimSend) ? round2(lastVictimSend - faultAt) : 0,
      failed,
      total,
      victim_calls_after_fault: victimCallsAfter,
    };
  } finally {
    client.close();
  }
}
