/**
 * What a cluster reads and feeds of its backends' health, and the glue between its Upstreams and
 * that model. The model is the endpoint-set health model (src/core/health/endpoint-set-health.ts,
 * the one the grpc-js health layer drives) in a proxy of one process and in the primary of a proxy
 * on workers (local-cluster-health.ts); in a worker it is the primary's view of it, mirrored
 * (health-mirror.ts). Either way a cluster tells it each backend's condition as its Upstream sees it
 * and each call's result, and reads back what may be picked: one interface, two places it lives.
 */
import type { EndpointCondition } from '../core/health/endpoint-condition.js';
import type { Ejection, EjectionCounters } from '../core/health/outlier-detector.js';
import type { Upstream } from './upstream.js';

/** The part of the endpoint-set health model a cluster uses (EndpointSetHealth implements it). */
export interface ClusterHealthModel {
  /** Health disregarded: too few backends are healthy (Envoy panic threshold). */
  readonly panic: boolean;
  /** Whether call results are counted (outlier ejection is on). */
  readonly counting: boolean;
  /** Ejection counters, or null when outlier ejection is off. */
  readonly counters: EjectionCounters | null;
  /** While now < rampUntil some healthy backend is still in its slow start window. */
  readonly rampUntil: number;
  /** Makes `keys` the backend set. */
  setEndpoints(keys: Iterable<string>): void;
  /** Takes every backend's condition as its transport reports it and updates what follows. */
  recompute(reported: (key: string) => EndpointCondition): void;
  /** Counts the final gRPC status of `count` calls (1 unless a batch) to `key`. */
  recordResult(key: string, code: number, count?: number): void;
  conditionOf(key: string): EndpointCondition | undefined;
  ejectionOf(key: string): Ejection | null;
  factorOf(key: string, now: number): number;
  maxFactor(now: number): number;
  describeEjections(keys?: Iterable<string>): string[];
  close(): void;
}

const HEALTHY: EndpointCondition = { t: 'healthy' };
const SERVING: EndpointCondition = { t: 'healthy', checked: true };
const AWAITING: EndpointCondition = { t: 'awaiting_health_check' };
const CONNECTING: EndpointCondition = { t: 'connecting', settled: false };

/**
 * A backend's condition as its Upstream sees it: ready and serving is healthy (`checked` when an
 * active health check said so), ready before the first answer awaits it, ready and failing checks
 * is not serving, a connection in progress is connecting (the model tells a first attempt from a
 * reconnect), a failed one is unreachable.
 */
export function upstreamCondition(u: Upstream, activeChecks: boolean): EndpointCondition {
  switch (u.state) {
    case 'ready':
      if (u.health === 'serving') return activeChecks ? SERVING : HEALTHY;
      return u.health === 'unknown' ? AWAITING : { t: 'not_serving', status: u.lastError || 'NOT_SERVING' };
    case 'transient_failure':
      return { t: 'transient_failure', error: u.lastError || undefined };
    default:
      return CONNECTING;
  }
}

/**
 * Feeds every backend's condition to `health`, then returns the backends the picker gets: the
 * healthy ones (connected, passing health checks, not ejected) or, in panic, every connected one
 * (Envoy "balance across all hosts").
 */
export function selectBackends(health: ClusterHealthModel, all: readonly Upstream[], activeChecks: boolean): Upstream[] {
  const byAddress = new Map(all.map((u) => [u.address, u]));
  health.recompute((address) => {
    const u = byAddress.get(address);
    return u === undefined ? CONNECTING : upstreamCondition(u, activeChecks);
  });
  return health.panic ? all.filter((u) => u.state === 'ready') : all.filter((u) => health.conditionOf(u.address)?.t === 'healthy');
}
