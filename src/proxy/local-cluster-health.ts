/**
 * A cluster's health decided in this process: the endpoint-set health model
 * (src/core/health/endpoint-set-health.ts) with outlier ejection, early returns on a passing
 * health check, slow start and the panic threshold, its lines in the proxy's log and its events
 * on the bus (dashboard, /metrics, onEvent()). A proxy of one process has one per cluster; a proxy
 * on workers has one per cluster in its primary, which workers mirror.
 */
import type { PickerEnv } from '../core/pickers/picker.js';
import { EndpointSetHealth } from '../core/health/endpoint-set-health.js';
import { emitEvent } from '../observe/events.js';
import type { ClusterConfig } from './proxy-config.js';

/**
 * The health model of cluster `config`: lines go to `log`, events on the bus, and `changed` runs
 * when an ejection or a return changes what may be picked.
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
