/**
 * The proxy's adapter to the endpoint-set health model (src/core/health/endpoint-set-health.ts),
 * the same model the grpc-js health layer drives: outlier ejection, early returns on a passing
 * health check, slow start, the panic threshold and their events. What is left here is glue: a
 * cluster's model wired to the proxy's log and the event bus, each backend's condition read from
 * its Upstream (connection and active health check), and the backends a picker gets.
 */
import type { PickerEnv } from '../core/pickers/picker.js';
import type { EndpointCondition } from '../core/health/endpoint-condition.js';
import { EndpointSetHealth } from '../core/health/endpoint-set-health.js';
import { emitEvent } from '../observe/events.js';
import type { ClusterConfig } from './proxy-config.js';
import type { Upstream } from './upstream.js';

const HEALTHY: EndpointCondition = { t: 'healthy' };
const SERVING: EndpointCondition = { t: 'healthy', checked: true };
const AWAITING: EndpointCondition = { t: 'awaiting_health_check' };
const CONNECTING: EndpointCondition = { t: 'connecting', settled: false };

/**
 * The health model of cluster `config`: lines go to `log`, events on the bus (for the dashboard,
 * /metrics and onEvent()), and `changed` runs when an ejection or a return changes what may be picked.
 */
export function clusterHealth(config: ClusterConfig, env: PickerEnv, log: (message: string) => void, changed: () => void): EndpointSetHealth {
  return new EndpointSetHealth(
    {
      env,
      sink: {
        // The proxy's own log line says it already.
        emit: (event, endpoint, reason) =>
          emitEvent({ event, service: config.name, source: 'proxy', ...(endpoint ? { endpoint } : {}), ...(reason ? { reason } : {}) }, { log: false }),
        log: (message) => log(`cluster ${config.name}: ${message}`),
      },
      changed,
    },
    config.health,
  );
}

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
export function selectBackends(health: EndpointSetHealth, all: readonly Upstream[], activeChecks: boolean): Upstream[] {
  const byAddress = new Map(all.map((u) => [u.address, u]));
  health.recompute((address) => {
    const u = byAddress.get(address);
    return u === undefined ? CONNECTING : upstreamCondition(u, activeChecks);
  });
  return health.panic ? all.filter((u) => u.state === 'ready') : all.filter((u) => health.conditionOf(u.address)?.t === 'healthy');
}
