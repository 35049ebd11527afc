/** The URI schemes of discovery targets, apart from the registries behind them so that a command can name them without loading any. */

/** The URI schemes grpc-ha registers resolvers for. */
export const DISCOVERY_SCHEMES = ['file', 'etcd', 'consul', 'static', 'ha-dns', 'k8s'] as const;

/** One of {@link DISCOVERY_SCHEMES}. */
export type DiscoveryScheme = (typeof DISCOVERY_SCHEMES)[number];
