/** Shared helpers of the health integration tests (test/health-*.test.ts): clients, calls, waits. */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { ECHO_SERVICE_NAME, EchoClient, type EchoReply } from '../src/example/echo-service.js';
import type { ExampleServer } from '../src/example/example-server.js';
import { policyChannelOptions, type LoadBalancingConfigEntry, type PolicyConfigs, type ServiceConfigExtras } from '../src/grpc/service-config.js';

/** The health-check service name every test client watches. */
export const ECHO = ECHO_SERVICE_NAME;

/** Health checking on the Echo service, as a test client enables it. */
export const WATCH_ECHO: ServiceConfigExtras = { healthCheckConfig: { serviceName: ECHO } };

/** The config key of a policy entry. */
export const nameOf = (entry: LoadBalancingConfigEntry): string => Object.keys(entry)[0]!;

/** grpc-js round_robin inside the health_aware wrapper, with health fields `fields`. */
export function roundRobin(fields: Record<string, unknown> = {}): LoadBalancingConfigEntry {
  return { health_aware: { childPolicy: [{ round_robin: {} }], ...fields } };
}

/** A grpc-ha policy with health fields `fields`. */
export function haPolicy(name: string, fields: Record<string, unknown> = {}): LoadBalancingConfigEntry {
  return { [name]: { ...(name === 'ring_hash' ? { requestHashHeader: 'x-user-id' } : {}), ...fields } } as LoadBalancingConfigEntry;
}

/** A label for test names: "least_request" or "round_robin (health_aware)". */
export function label(entry: LoadBalancingConfigEntry): string {
  const name = nameOf(entry);
  if (name !== 'health_aware') return name;
  const child = (entry as { health_aware: PolicyConfigs['health_aware'] }).health_aware.childPolicy[0]!;
  return `${nameOf(child)} (health_aware)`;
}

/** An Echo client over `servers` with `policy`. */
export function client(servers: readonly { address: string }[], policy: LoadBalancingConfigEntry, extras: ServiceConfigExtras = WATCH_ECHO): EchoClient {
  return new EchoClient(`ipv4:${servers.map((s) => s.address).join(',')}`, credentials.createInsecure(), policyChannelOptions(policy, {}, extras));
}

/** Metadata with a hash key, so ring_hash spreads calls. */
export function keyed(i: number): Metadata {
  const md = new Metadata();
  md.set('x-user-id', `user-${i}`);
  return md;
}

/** One unary call. */
export function unary(c: EchoClient, metadata = new Metadata(), deadlineMs = 3000): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    c.unary({ message: 'hi' }, metadata, { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, r) =>
      err ? reject(err) : resolve(r!),
    ),
  );
}

/** What a batch of calls did. */
export interface Sent {
  /** Successful calls per server id. */
  readonly byServer: Map<string, number>;
  readonly failed: number;
  /** Failures' messages, at most 5. */
  readonly errors: string[];
}

/** Sends `calls` unary calls, `concurrency` at a time, each with a different hash key; none starts after `withinMs`. */
export async function send(c: EchoClient, calls: number, concurrency = 4, withinMs = Number.POSITIVE_INFINITY): Promise<Sent> {
  const byServer = new Map<string, number>();
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const stopAt = performance.now() + withinMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls && performance.now() < stopAt) {
        const i = next++;
        try {
          const r = await unary(c, keyed(i));
          byServer.set(r.serverId, (byServer.get(r.serverId) ?? 0) + 1);
        } catch (error) {
          failed++;
          if (errors.length < 5) errors.push((error as Error).message);
        }
      }
    }),
  );
  return { byServer, failed, errors };
}

/** Echo calls each server has received so far. */
export const callCounts = (servers: readonly ExampleServer[]): number[] => servers.map((s) => s.stats.calls);

/** Resolves after `ms`. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends calls (ignoring failures) until `condition()` holds; fails after `timeoutMs`. */
export async function driveUntil(c: EchoClient, condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let i = 0;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    try {
      await unary(c, keyed(i++), 1000);
    } catch {
      await delay(5);
    }
  }
}

/** Connects `c` and sends calls until each of `servers` has received a new one (they may be shared by several tests). */
export async function warm(c: EchoClient, servers: readonly ExampleServer[]): Promise<void> {
  const before = callCounts(servers);
  await driveUntil(c, () => servers.every((s, i) => s.stats.calls > before[i]!), 'every backend to get calls');
}

/** Polls `condition()` every 10 ms; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(10);
  }
}
