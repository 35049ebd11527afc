/**
 * The messages between the primary of a proxy on workers and its workers, over the IPC channel
 * Node opens with `fork()` (structured clone: `serialization: 'advanced'`). A connection the
 * primary accepted travels as the handle sent with a `connection` message.
 */
import type { ProxyBackendState, ProxyCallCounts } from '../observe/proxy-state.js';
import type { ClusterHealthDelta } from './health-snapshot.js';
import type { WireProxyConfig } from './wire-config.js';

/** A cluster of a config, as the primary numbers it: a reload that keeps a cluster keeps its id. */
export interface WireCluster {
  readonly name: string;
  readonly id: number;
  /** The primary's whole view of it now. */
  readonly view: ClusterHealthDelta;
}

/** From the primary. */
export type ToWorker =
  /** Run this config (the first one, or a reload); answered with `configured`. */
  | { readonly t: 'config'; readonly seq: number; readonly config: WireProxyConfig; readonly clusters: readonly WireCluster[]; readonly listener: number }
  /** A client connection accepted by listener generation `listener`; the socket is the message's handle. */
  | { readonly t: 'connection'; readonly listener: number }
  /** What changed in cluster `id`. */
  | { readonly t: 'health'; readonly id: number; readonly delta: ClusterHealthDelta }
  /** Asks for the worker's counters; answered with `state`. */
  | { readonly t: 'state'; readonly seq: number }
  /** Graceful stop: GOAWAY to clients, calls in flight get `graceMs`, then exit. */
  | { readonly t: 'drain'; readonly graceMs: number };

/** A backend's counters on one worker. */
export type WorkerBackendLoad = Pick<ProxyBackendState, 'address' | 'inFlight' | 'completed' | 'failed' | 'errors' | 'latencyEwmaMs'> & {
  /** Whether this worker's connection to it is up. */
  readonly connected: boolean;
};

/** A worker's counters. */
export interface WorkerState {
  readonly pid: number;
  /** Client connections it holds. */
  readonly connections: number;
  readonly calls: ProxyCallCounts;
  /** Per cluster id: calls waiting and each backend's load. */
  readonly clusters: readonly { readonly id: number; readonly pending: number; readonly backends: readonly WorkerBackendLoad[] }[];
}

/** From a worker. */
export type FromWorker =
  /** Started; waits for its config. */
  | { readonly t: 'ready' }
  | { readonly t: 'configured'; readonly seq: number; readonly error?: string }
  /**
   * Call results for the primary's outlier detectors, in the order they ended per backend:
   * [cluster id, backend, [status, count, status, count, ...]] (a run of successes has status 0).
   */
  | { readonly t: 'results'; readonly runs: readonly (readonly [number, string, readonly number[]])[] }
  | { readonly t: 'state'; readonly seq: number; readonly state: WorkerState }
  /** Client connections open now (the primary hands new ones to the worker with the fewest). */
  | { readonly t: 'connections'; readonly open: number };
