/**
 * The state of a grpc-ha proxy as its admin endpoint shows it (`GET /state`, the `proxy` of
 * `/api/state`): listener counters, clusters and their backends. The proxy builds these objects;
 * the admin server, /metrics and the dashboard read them as they are typed here.
 */
import type { EndpointCondition } from '../core/health/endpoint-condition.js';
import type { EjectionCounters, EjectionKind } from '../core/health/outlier-detector.js';

/** Connection state of a backend, as grpc-js names subchannel states. */
export type ProxyBackendConnectivity = 'idle' | 'connecting' | 'ready' | 'transient_failure' | 'closed';

/** Health of a backend as active checking sees it; 'unknown' until the first check answers ('serving' without checks). */
export type ProxyBackendHealth = 'unknown' | 'serving' | 'not_serving';

/** Calls through the proxy's listeners since it started, the ones replaced by reloads included. */
export interface ProxyCallCounts {
  readonly started: number;
  readonly completed: number;
  /** Calls the proxy itself ended with an error status (no route, no backend, backend lost). */
  readonly proxyErrors: number;
  /** Attempts sent again to another backend. */
  readonly retries: number;
}

/** An outlier ejection in force. */
export interface ProxyBackendEjection {
  /** Why, in words: "5 consecutive UNAVAILABLE". */
  readonly reason: string;
  readonly kind: EjectionKind;
  /** Time until the backend returns, ms. */
  readonly remainingMs: number;
}

/** One backend of a cluster. */
export interface ProxyBackendState {
  /** `host:port`. */
  readonly address: string;
  readonly weight: number;
  readonly state: ProxyBackendConnectivity;
  readonly health: ProxyBackendHealth;
  /** Whether the picker may choose it: connected and not failing health checks. */
  readonly available: boolean;
  readonly inFlight: number;
  readonly completed: number;
  /** Calls that ended with a status of the endpoint failure class. */
  readonly failed: number;
  /** Calls that could not be sent to it (connect failures, resets before a response). */
  readonly errors: number;
  /** HTTP/2 connections to it now: the pool, and retired ones finishing their streams. */
  readonly connections: number;
  /** Connections opened since the start: a pool grows past one, or replaces one, under a backend's limits and GOAWAYs. */
  readonly connectionsOpened: number;
  /** Latency estimate (peak EWMA), ms; null before the first sample. */
  readonly latencyEwmaMs: number | null;
  /** Why the last connection attempt or health check failed; absent when nothing failed. */
  readonly lastError?: string;
  /** Present while outlier ejection keeps it out. */
  readonly ejected?: ProxyBackendEjection;
  /** Its condition in the cluster's health model (healthy, ejected, not_serving, ...), as the dashboard shows it. */
  readonly condition: EndpointCondition['t'];
}

/** One cluster: the backends one target reports and the calls waiting for them. */
export interface ProxyClusterState {
  readonly name: string;
  readonly target: string;
  /** The load-balancing policy's name. */
  readonly policy: string;
  /** Calls waiting for a backend with room. */
  readonly pending: number;
  /** Present (true) while health is disregarded: too few backends are healthy. */
  readonly panic?: true;
  /** Outlier ejection counters; absent when outlier ejection is off. */
  readonly ejections?: EjectionCounters;
  readonly backends: readonly ProxyBackendState[];
}

/** One worker process of a proxy on workers. */
export interface ProxyWorkerState {
  readonly pid: number;
  /** Client connections it holds. */
  readonly connections: number;
  readonly calls: ProxyCallCounts;
}

/** A proxy as a whole. */
export interface ProxyState {
  /** The bound listener address, `host:port` (`*` for every interface). */
  readonly listen: string;
  /** Client connections open now. */
  readonly connections: number;
  readonly calls: ProxyCallCounts;
  readonly clusters: readonly ProxyClusterState[];
  /** Clusters a reload removed or changed, still finishing their calls in flight. */
  readonly draining?: readonly ProxyClusterState[];
  /** With `workers: N` (N > 1): each worker's share; the figures above add them up. */
  readonly workers?: readonly ProxyWorkerState[];
}
