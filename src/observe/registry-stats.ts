/**
 * What each resolver saw of its registry, per registry kind and service: how many results it
 * got, how many watch errors, when the last result came. A resolver also turns the difference
 * between two results into endpoint_registered / endpoint_deregistered events.
 */
import { emitEvent } from './events.js';

/** Counters of one (registry, service) watch. */
export interface RegistryWatchStats {
  /** Registry kind: file, etcd, consul, static. */
  readonly registry: string;
  readonly service: string;
  /** Results (instance lists) received. */
  resolutions: number;
  /** Watch errors reported by the registry client. */
  watchErrors: number;
  /** Wall-clock time of the last result, ms since the epoch; 0 before the first. */
  lastUpdateAt: number;
  /** Instances in the last result. */
  instances: number;
}

const watches = new Map<string, RegistryWatchStats>();

/** Every watch of this process. */
export function registryWatchStats(): Iterable<RegistryWatchStats> {
  return watches.values();
}

/** The stats of a (registry, service) watch, created on first use; shared by the channels watching it. */
export function registryWatch(registry: string, service: string): RegistryWatchStats {
  const key = `${registry}\u0000${service}`;
  let w = watches.get(key);
  if (!w) watches.set(key, (w = { registry, service, resolutions: 0, watchErrors: 0, lastUpdateAt: 0, instances: 0 }));
  return w;
}

/**
 * Records a result and emits what changed: addresses in `next` not in `previous` are
 * registered, the reverse deregistered. The first result of a watch (previous null) emits only
 * registrations.
 */
export function recordResolution(stats: RegistryWatchStats, previous: readonly { address: string }[] | null, next: readonly { address: string }[]): void {
  stats.resolutions++;
  stats.lastUpdateAt = Date.now();
  stats.instances = next.length;
  const before = new Set((previous ?? []).map((i) => i.address));
  const after = new Set(next.map((i) => i.address));
  const source = 'registry' as const;
  for (const a of after) if (!before.has(a)) emitEvent({ event: 'endpoint_registered', service: stats.service, endpoint: a, source, reason: stats.registry });
  for (const a of before) if (!after.has(a)) emitEvent({ event: 'endpoint_deregistered', service: stats.service, endpoint: a, source, reason: stats.registry });
}
