/**
 * The picker of each cluster policy by config key, loaded when a cluster names it. A proxy worker
 * is handed configs its primary validated and rebuilds each cluster's policy from this table,
 * without the policies' config schemas (and their validation library) nor the pickers no cluster
 * uses (ring_hash's hash compiles WebAssembly). cluster-pickers.test.ts holds the table to the
 * policy definitions (CLUSTER_POLICIES), so the two cannot drift apart.
 */
import type { PickerFactory } from '../core/pickers/picker.js';
import type { ClusterPolicy } from './proxy-config.js';

type Loader = () => Promise<ClusterPolicy['definition']>;

const picker = (name: string, createPicker: PickerFactory<never>, includeUnavailable?: boolean): ClusterPolicy['definition'] => ({
  name,
  createPicker: createPicker as PickerFactory<unknown>,
  ...(includeUnavailable && { includeUnavailable }),
});

const LOADERS: Readonly<Record<string, Loader>> = {
  round_robin: async () => picker('round_robin', (await import('../core/pickers/round-robin-picker.js')).createRoundRobinPicker),
  random: async () => picker('random', (await import('../core/pickers/random-picker.js')).createRandomPicker),
  weighted_random: async () => picker('weighted_random', (await import('../core/pickers/weighted-random-picker.js')).createWeightedRandomPicker),
  static_weighted_round_robin: async () =>
    picker('static_weighted_round_robin', (await import('../core/pickers/weighted-round-robin-picker.js')).createWeightedRoundRobinPicker),
  least_request: async () => picker('least_request', (await import('../core/pickers/least-request-picker.js')).createLeastRequestPicker),
  peak_ewma: async () => picker('peak_ewma', (await import('../core/pickers/peak-ewma-picker.js')).createPeakEwmaPicker),
  ring_hash: async () => picker('ring_hash', (await import('../core/pickers/ring-hash-picker.js')).createRingHashPicker, true),
};

/** The config keys this table knows. */
export const CLUSTER_PICKER_NAMES: readonly string[] = Object.keys(LOADERS);

/** The picker of policy `name`; rejects for a name no cluster policy has (the primary validated it: a bug). */
export async function loadClusterPicker(name: string): Promise<ClusterPolicy['definition']> {
  const load = LOADERS[name];
  if (load === undefined) throw new Error(`no picker for cluster policy ${JSON.stringify(name)}`);
  return load();
}
