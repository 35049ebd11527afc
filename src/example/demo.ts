/**
 * `grpc-ha demo` (what `npm start` runs): a small cluster on this machine, on the embedded file
 * registry (a temporary directory unless --registry-dir; nothing to install or start) or on any
 * registry named with --registry (e.g. a real etcd) — example backends as grpc-ha instances in
 * their own processes — and a client that finds them through the registry, balances with a
 * grpc-ha policy and health-checks every backend. Every second it prints per backend its
 * health, share of traffic, RPS, p50/p99 and errors, then the totals. A scripted story (see
 * demo-story.ts) makes one backend slow, one NOT_SERVING, kills one, and starts a replacement,
 * with captions; --no-faults runs steady. Stops by itself after --duration seconds, or on Ctrl-C,
 * leaving no process and no registry entry; ends with a summary per phase. The command line is
 * src/cli/main.ts.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { experimental, Metadata, type ServiceError } from '@grpc/grpc-js';
import { createClient } from '../client/create-client.js';
import type { LoadBalancingConfigEntry } from '../grpc/service-config.js';
import { setLogLevel } from '../observe/logger.js';
import { startAdminServer } from '../observe/admin-server.js';
import type { Registry } from '../discovery/registry.js';
import { registerResolvers } from '../grpc/resolver.js';
import { parseDiscoveryTarget, serviceTargetIn } from '../discovery/target.js';
import { spawnBackend, type BackendProcess } from './backend-process.js';
import { FIRST_PHASE, storySteps } from './demo-story.js';
import { LatencyHistogram, makeStyle, renderSecond, SecondStats, type BackendHealth } from './demo-view.js';
import { ECHO_SERVICE_NAME, EchoClient } from './echo-service.js';

const SERVICE = 'echo';

/** Exit codes of the demo. */
export const DEMO_EXIT = { OK: 0, CALLS_FAILED: 1, USAGE: 2, REGISTRY_UNREACHABLE: 3, INTERRUPTED: 130 } as const;

/** Options of {@link runDemo}; the CLI validates them (ranges, policy names). */
export interface DemoOptions {
  /** Balancing policy: a grpc-ha policy name or round_robin. */
  readonly policy: string;
  /** Backends to start. */
  readonly backends: number;
  /** Seconds to run. */
  readonly durationS: number;
  /** Latency added to the backend that gets slow, ms. */
  readonly slowMs: number;
  /** Run the scripted story (false: steady traffic). */
  readonly faults: boolean;
  /** The embedded file registry in this directory; a temporary one when neither this nor `registry` is given. */
  readonly registryDir?: string;
  /** A registry as `grpc-ha register --registry` takes it, e.g. etcd://127.0.0.1:2379. */
  readonly registry?: string;
  /** Port of the admin server (dashboard, /metrics); 0 for any free one. */
  readonly adminPort: number;
}

/**
 * Removes the entries of backends that could not remove their own (SIGKILLed) by taking over
 * their registration and releasing it: the same key (etcd), file (file registry) or service ID
 * (Consul), through the public Registry API, whatever the registry.
 */
async function releaseEntries(registry: Registry, dead: readonly { id: string; address: string }[]): Promise<void> {
  await Promise.all(
    dead.map(async (b) => {
      const registration = registry.register({ service: SERVICE, address: b.address, instanceId: b.id });
      await Promise.race([registration.ready, new Promise((r) => setTimeout(r, 3000).unref())]);
      await registration.close();
    }),
  );
}

/** Resolves when the registry answers a watch of the service; rejects with its error otherwise. */
function reachable(registry: Registry, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (error?: Error) => {
      clearTimeout(timer);
      queueMicrotask(() => unsubscribe());
      if (error) reject(error);
      else resolve();
    };
    unsubscribe = registry.watch({ service: SERVICE }, { instances: () => done(), config: () => undefined, error: (e) => done(e) });
  });
}

/** Runs the demo; resolves with its exit code (see {@link DEMO_EXIT}). */
export async function runDemo(args: DemoOptions): Promise<number> {
  registerResolvers();
  // The live view owns the terminal: state changes are on the dashboard; warnings still print.
  if (process.env.GRPC_HA_LOG_LEVEL === undefined) setLogLevel('warn');
  const style = makeStyle(process.stdout.isTTY === true);
  // The embedded registry in a temporary directory unless told otherwise; removed at the end.
  const tempDir = args.registry === undefined && args.registryDir === undefined ? mkdtempSync(path.join(tmpdir(), 'grpc-ha-demo-')) : undefined;
  const dir = tempDir ?? (args.registryDir !== undefined ? path.resolve(args.registryDir) : undefined);
  if (dir !== undefined) mkdirSync(dir, { recursive: true });
  const registryText = args.registry ?? `file:///?dir=${encodeURIComponent(dir!)}`;
  const uri = serviceTargetIn(registryText, SERVICE);
  let registry: Registry;
  try {
    if (!uri) throw new Error(`must be a registry like file:, file:///?dir=DIR, etcd://HOST:PORT or consul://HOST:PORT, got '${registryText}'`);
    registry = parseDiscoveryTarget(uri).createRegistry();
  } catch (error) {
    console.error(`demo: --registry ${(error as Error).message}`);
    return DEMO_EXIT.USAGE;
  }
  // "file:///echo?dir=..." as the README writes targets (grpc-js's own form would be "file:echo?dir=...").
  const target = uri.authority === undefined ? `${uri.scheme}:///${uri.path}` : experimental.uriToString(uri);
  console.log(`grpc-ha demo: ${args.backends} backends, policy ${args.policy}, ${args.durationS} s${args.faults ? '' : ', no faults'}`);
  console.log(`registry: ${registry.description} (target ${target})`);
  try {
    await reachable(registry, 5000);
  } catch (error) {
    console.error(`demo: the registry ${registry.description} does not answer: ${(error as Error).message}`);
    await registry.close();
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
    return DEMO_EXIT.REGISTRY_UNREACHABLE;
  }

  // The dashboard and /metrics of this process (the client's channel): a taken port falls back to any free one.
  const admin = await startAdminServer({ port: args.adminPort, title: `grpc-ha demo (${args.policy})` }).catch(() => startAdminServer({ title: `grpc-ha demo (${args.policy})` }));
  console.log(`dashboard: ${admin.url} (metrics: ${admin.url}metrics)`);

  const all: BackendProcess[] = []; // every backend started, for the view and the cleanup
  const health = new Map<string, BackendHealth>();
  const pending = new Set<Promise<unknown>>();
  let stopping = false;
  let interrupted = false;
  const spawn = async (i: number) => {
    const b = await spawnBackend({
      id: `backend-${i}`,
      latencyMs: 1,
      service: SERVICE,
      registry: registryText,
      drainNoticeMs: 300,
      control: true,
      env: { GRPC_HA_LOG_LEVEL: 'warn' },
    });
    all.push(b);
    health.set(b.id, 'SERVING');
    void b.exited.then(() => health.set(b.id, 'gone'));
    console.log(`started ${b.id} (pid ${b.child.pid}, ${b.address})`);
    return b;
  };
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };
  const onSignal = () => {
    if (!stopping) console.log('stopping (Ctrl-C): draining the backends and leaving the registry clean');
    stopping = true;
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timers: NodeJS.Timeout[] = [];
  let ticker: NodeJS.Timeout | undefined;
  try {
    for (let i = 0; i < args.backends && !stopping; i++) await track(spawn(i));
    if (stopping) return DEMO_EXIT.INTERRUPTED;
    // Outlier ejection too, so the backend that fails every call is ejected (and returns 3 s later).
    const ejection = { outlierEjection: { consecutiveFailures: 5, baseEjectionTimeMs: 3000 } };
    const key: LoadBalancingConfigEntry =
      args.policy === 'ring_hash'
        ? { ring_hash: { requestHashHeader: 'x-user-id', ...ejection } }
        : args.policy === 'round_robin'
          ? { round_robin: {} }
          : ({ [args.policy]: ejection } as LoadBalancingConfigEntry);
    const client = createClient(EchoClient, target, {
      policy: key,
      idempotent: [ECHO_SERVICE_NAME],
      // A6's most attempts, up to ~1.5 s of backoff: during the story two backends can be out at
      // once (one ejected, one killed) while the third takes every call. Calls a kill cuts off
      // mid-reply are not A6's to retry; createClient resends those (src/client/committed-retry.ts).
      retry: { maxAttempts: 5 },
      healthCheckServiceName: ECHO_SERVICE_NAME,
    });

    const start = performance.now();
    const phases: { name: string; fromS: number; hist: LatencyHistogram }[] = [{ name: FIRST_PHASE, fromS: 0, hist: new LatencyHistogram() }];
    const enter = (name: string) => phases.push({ name, fromS: (performance.now() - start) / 1000, hist: new LatencyHistogram() });
    if (args.faults) {
      let next = args.backends;
      const steps = storySteps({
        backends: [...all],
        slowMs: args.slowMs,
        policy: args.policy,
        setHealth: (id, h) => health.set(id, h),
        kill: async (b) => {
          await b.stop('SIGKILL');
        },
        startReplacement: async () => (await spawn(next++)).id,
      });
      for (const step of steps) {
        timers.push(
          setTimeout(() => {
            if (stopping) return;
            enter(step.phase);
            console.log(style.caption(`>>> ${step.caption}`));
            void track(Promise.resolve(step.act())).catch((error: Error) => console.error(`demo: ${step.phase}: ${error.message}`));
          }, step.at * args.durationS * 1000),
        );
      }
    }

    const second = new SecondStats();
    let failed = 0;
    let total = 0;
    let tick = 0;
    ticker = setInterval(() => {
      tick++;
      const lines = renderSecond(tick, all.map((b) => b.id), health, second.take(), style, failed);
      console.log(lines.join('\n'));
    }, 1000);
    const byAddress = (peer: string) => all.find((b) => peer.endsWith(`:${b.port}`))?.id;
    const end = Date.now() + args.durationS * 1000;
    const worker = async (w: number) => {
      for (let i = 0; Date.now() < end && !stopping; i++) {
        const md = new Metadata();
        md.set('x-user-id', `user-${w}-${i % 50}`);
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          const call = client.unary({ message: 'demo' }, md, { deadline: Date.now() + 2000 }, (err: ServiceError | null, r) => {
            const ms = performance.now() - t0;
            total++;
            let id: string | undefined = r?.serverId;
            if (err) {
              failed++;
              try {
                id = byAddress(call.getPeer());
              } catch {
                id = undefined;
              }
              // The goal is none: say why for the first few, so that one is understood, not just counted.
              if (failed <= 5) console.log(style.caption(`!!! call failed${id ? ` on ${id}` : ''} in phase ${phases[phases.length - 1]!.name} after ${ms.toFixed(0)} ms: ${err.message}`));
            }
            second.record(id, ms, err !== null);
            phases[phases.length - 1]!.hist.add(ms, err !== null);
            resolve();
          });
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    clearInterval(ticker);
    client.close();
    console.log(`summary: ${total} calls, ${failed} failed, policy ${args.policy}`);
    const elapsedS = (performance.now() - start) / 1000;
    phases.forEach((p, i) => {
      const toS = phases[i + 1]?.fromS ?? elapsedS;
      const span = `${p.fromS.toFixed(1).padStart(5)}-${toS.toFixed(1).padStart(5)} s`;
      const q = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(1)} ms`);
      console.log(
        `  phase ${p.name.padEnd(12)} ${span}  ${String(p.hist.count).padStart(7)} calls  ${p.hist.failed} failed` +
          `  p50 ${q(p.hist.quantile(0.5)).padStart(8)}  p99 ${q(p.hist.quantile(0.99)).padStart(8)}`,
      );
    });
    if (stopping) return DEMO_EXIT.INTERRUPTED;
    return failed === 0 ? DEMO_EXIT.OK : DEMO_EXIT.CALLS_FAILED;
  } finally {
    clearInterval(ticker);
    for (const t of timers) clearTimeout(t);
    stopping = true;
    // A replacement may still be starting: wait for it so that it is stopped too.
    await Promise.allSettled([...pending]);
    // On a terminal's Ctrl-C the backends got SIGINT too and are draining: give them a moment
    // before SIGTERM (a second signal would force their shutdown).
    if (interrupted) await Promise.all(all.map((b) => Promise.race([b.exited, new Promise((r) => setTimeout(r, 2000).unref())])));
    await Promise.all(all.map((b) => b.stop()));
    await releaseEntries(registry, all.filter((b) => b.child.exitCode !== 0).map((b) => ({ id: b.id, address: b.address })));
    await registry.close();
    await admin.close();
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  }
}
