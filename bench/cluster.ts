/** Starts example backend processes and builds Echo clients over them with a given policy. */
import { credentials, Metadata } from '@grpc/grpc-js';
import { spawnBackend, type BackendProcess, type BackendProcessOptions } from '../src/example/backend-process.js';
import { EchoClient } from '../src/example/echo-service.js';
import { policyChannelOptions, type LoadBalancingConfigEntry } from '../src/grpc/service-config.js';

/** grpc-js's own round robin: the baseline every client-side scenario compares against. */
export const GRPC_JS_ROUND_ROBIN: LoadBalancingConfigEntry = { round_robin: {} };

/** The metadata key ring_hash hashes in the benchmarks. */
export const HASH_HEADER = 'x-user-id';

/** Every grpc-ha policy, configured as the benchmarks run it. */
export const HA_POLICIES: readonly LoadBalancingConfigEntry[] = [
  { random: {} },
  { weighted_random: {} },
  { static_weighted_round_robin: {} },
  { least_request: {} },
  { peak_ewma: {} },
  { ring_hash: { requestHashHeader: HASH_HEADER } },
];

/** The config key of a policy entry. */
export function policyName(entry: LoadBalancingConfigEntry): string {
  return Object.keys(entry)[0]!;
}

/** Starts backends in parallel. */
export function startBackends(options: readonly BackendProcessOptions[]): Promise<BackendProcess[]> {
  return Promise.all(options.map((o) => spawnBackend(o)));
}

/** Stops backends, SIGTERM then SIGKILL. */
export async function stopBackends(backends: readonly BackendProcess[]): Promise<void> {
  await Promise.all(backends.map((b) => b.stop()));
}

/** An Echo client over `addresses` balanced by `policy`, connected and warmed up. */
export async function connectClient(addresses: readonly string[], policy: LoadBalancingConfigEntry, warmupCalls = 100): Promise<EchoClient> {
  const client = new EchoClient(`ipv4:${addresses.join(',')}`, credentials.createInsecure(), policyChannelOptions(policy));
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
  );
  for (let i = 0; i < warmupCalls; i++) {
    await new Promise<void>((resolve, reject) =>
      client.unary({ message: 'warmup' }, keyedMetadata(i), (err) => (err ? reject(err) : resolve())),
    );
  }
  return client;
}

const KEYED = Array.from({ length: 1024 }, (_, i) => {
  const md = new Metadata();
  md.set(HASH_HEADER, `user-${i}`);
  return md;
});

/** Metadata carrying a hash key, cycling through 1024 users; every policy gets the same, so costs match. */
export function keyedMetadata(i: number): Metadata {
  return KEYED[i & 1023]!;
}
