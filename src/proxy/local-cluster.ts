/**
 * How a proxy of one process builds its clusters: each watches its own target, connects to its
 * backends, checks their health over those connections and decides ejections itself.
 */
import { Cluster } from './cluster.js';
import type { ClusterFactory } from './cluster-set.js';
import { clusterSource } from './cluster-source.js';
import { clusterHealth } from './local-cluster-health.js';

/** The factory of a proxy of one process; lines go to `log`. */
export function localClusters(log: (message: string) => void): ClusterFactory {
  return (config, windowBytes) =>
    new Cluster(config, {
      windowBytes,
      source: clusterSource(config.target, `clusters.${config.name}.target`, log),
      health: (env, changed) => clusterHealth(config, env, log, changed),
    });
}
