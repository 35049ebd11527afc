/**
 * A validated proxy config as it travels from the primary to its workers. The IPC channel is
 * opened with `serialization: 'advanced'` (the structured clone algorithm), so Maps, Sets and
 * Buffers arrive as they left; only what carries functions — each cluster's policy, whose
 * definition holds its picker — goes as data, and the worker takes the picker back from
 * cluster-pickers.ts. Nothing here validates: the primary did, with the schemas a worker never loads.
 */
import type { EwmaSettings } from '../core/pickers/endpoint-load.js';
import { loadClusterPicker } from './cluster-pickers.js';
import type { ClusterConfig, ProxyConfig } from './proxy-config.js';

/** A cluster's policy without its functions. */
export interface WirePolicy {
  readonly name: string;
  readonly options: unknown;
  readonly weights: ReadonlyMap<string, number>;
  readonly ewma: EwmaSettings;
  readonly hashHeader: string | undefined;
}

/** A cluster config on the wire. */
export type WireClusterConfig = Omit<ClusterConfig, 'policy'> & { readonly policy: WirePolicy };

/** A proxy config on the wire. */
export type WireProxyConfig = Omit<ProxyConfig, 'clusters'> & { readonly clusters: ReadonlyMap<string, WireClusterConfig> };

/** The config as the primary sends it. */
export function toWire(config: ProxyConfig): WireProxyConfig {
  const clusters = new Map<string, WireClusterConfig>();
  for (const [name, c] of config.clusters) {
    const { definition, options, weights, ewma, hashHeader } = c.policy;
    clusters.set(name, { ...c, policy: { name: definition.name, options, weights, ewma, hashHeader } });
  }
  return { ...config, clusters };
}

/** The config as a worker runs it, each policy's picker loaded. */
export async function fromWire(wire: WireProxyConfig): Promise<ProxyConfig> {
  const clusters = new Map<string, ClusterConfig>();
  for (const [name, c] of wire.clusters) {
    const { name: policyName, ...rest } = c.policy;
    clusters.set(name, { ...c, policy: { definition: await loadClusterPicker(policyName), ...rest } });
  }
  return { ...wire, clusters };
}
