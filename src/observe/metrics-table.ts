/**
 * Every metric grpc-ha exports, declared once: name (Prometheus style, `grpc_ha_` prefix), type,
 * help, labels, and how its values are read at scrape time. Labels are bounded: services,
 * endpoint addresses, status codes, registry kinds, event names — never methods or call data.
 * The hot path writes plain numbers (call-stats.ts); these readers turn them into series.
 */
import { status as Status } from '@grpc/grpc-js';
import { CONDITION_KINDS } from '../core/health/endpoint-condition.js';
import { observedChannels } from './channel-observer.js';
import { clientAttemptStats } from './client-attempt-stats.js';
import { eventCounts } from './events.js';
import { registryWatchStats } from './registry-stats.js';
import { observedServers } from './server-observer.js';
import { observedProxies } from './proxy-observer.js';
import { observedXdsServers } from './xds-observer.js';

/** Labels of one series. */
export type Labels = Record<string, string>;
/** Sink of a reader: one call per series. */
export type Emit = (labels: Labels, value: number) => void;

/** One metric of the table. */
export interface MetricDefinition {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  readonly labels: readonly string[];
  /** Produces the series; histograms are read by histogramSeries() instead. */
  readonly read: (emit: Emit) => void;
}

const CODE_NAMES: string[] = [];
for (const [name, code] of Object.entries(Status)) if (typeof code === 'number') CODE_NAMES[code] = name;

/** Endpoint conditions of the health model, as the health gauge's `state` label. */
export const HEALTH_STATES = CONDITION_KINDS;

function* endpoints() {
  for (const channel of observedChannels()) {
    for (const [endpoint, stats] of channel.stats) yield { channel, endpoint, stats, labels: { service: channel.service, endpoint } };
  }
}

/** The table. README "Observability" lists it. */
export const METRICS: readonly MetricDefinition[] = [
  // Client channels, per service and endpoint.
  {
    name: 'grpc_ha_client_calls_started_total',
    type: 'counter',
    help: 'Calls started on an endpoint by a grpc-ha balancer.',
    labels: ['service', 'endpoint'],
    read: (emit) => {
      for (const e of endpoints()) emit(e.labels, e.stats.started);
    },
  },
  {
    name: 'grpc_ha_client_calls_finished_total',
    type: 'counter',
    help: 'Calls finished on an endpoint, by gRPC status code.',
    labels: ['service', 'endpoint', 'code'],
    read: (emit) => {
      for (const e of endpoints()) {
        e.stats.finished.forEach((n, code) => {
          if (n > 0) emit({ ...e.labels, code: CODE_NAMES[code] ?? String(code) }, n);
        });
      }
    },
  },
  {
    name: 'grpc_ha_client_call_duration_seconds',
    type: 'histogram',
    help: 'Latency of calls on an endpoint, from pick to status (cancelled calls excluded).',
    labels: ['service', 'endpoint'],
    read: () => undefined,
  },
  {
    name: 'grpc_ha_client_calls_in_flight',
    type: 'gauge',
    help: 'Calls in flight on an endpoint.',
    labels: ['service', 'endpoint'],
    read: (emit) => {
      for (const channel of observedChannels()) for (const e of channel.view.endpoints()) emit({ service: channel.service, endpoint: e.endpoint }, e.inFlight);
    },
  },
  {
    name: 'grpc_ha_endpoint_latency_ewma_seconds',
    type: 'gauge',
    help: "The balancer's peak-EWMA latency estimate of an endpoint (absent before the first call).",
    labels: ['service', 'endpoint'],
    read: (emit) => {
      for (const channel of observedChannels()) {
        for (const e of channel.view.endpoints()) if (e.ewmaMs !== null) emit({ service: channel.service, endpoint: e.endpoint }, e.ewmaMs / 1000);
      }
    },
  },
  {
    name: 'grpc_ha_endpoint_health',
    type: 'gauge',
    help: `Health condition of an endpoint: 1 for its current state (${HEALTH_STATES.join(', ')}), 0 for the others.`,
    labels: ['service', 'endpoint', 'state'],
    read: (emit) => {
      for (const channel of observedChannels()) {
        for (const e of channel.view.endpoints()) {
          for (const state of HEALTH_STATES) emit({ service: channel.service, endpoint: e.endpoint, state }, e.health === state ? 1 : 0);
        }
      }
    },
  },
  {
    name: 'grpc_ha_panic_mode',
    type: 'gauge',
    help: '1 while a channel disregards health because too few endpoints are healthy (Envoy panic threshold).',
    labels: ['service'],
    read: (emit) => {
      for (const channel of observedChannels()) emit({ service: channel.service }, channel.view.panic ? 1 : 0);
    },
  },
  {
    name: 'grpc_ha_outlier_ejections_total',
    type: 'counter',
    help: 'Outlier ejections per detector: detected (flagged), enforced (carried out), overflow (refused by max ejection percent) - as Envoy counts them.',
    labels: ['service', 'detector', 'outcome'],
    read: (emit) => {
      for (const channel of observedChannels()) {
        const counters = channel.view.ejections;
        if (!counters) continue;
        for (const outcome of ['detected', 'enforced'] as const) {
          for (const [detector, n] of Object.entries(counters[outcome])) emit({ service: channel.service, detector, outcome }, n);
        }
        emit({ service: channel.service, detector: 'any', outcome: 'overflow' }, counters.overflow);
      }
    },
  },
  {
    name: 'grpc_ha_endpoint_ejections_total',
    type: 'counter',
    help: 'Enforced outlier ejections of an endpoint (endpoint_ejected events).',
    labels: ['service', 'endpoint'],
    read: (emit) => {
      for (const [key, n] of endpointEjections) {
        const [service = '', endpoint = ''] = key.split('\u0000');
        emit({ service, endpoint }, n);
      }
    },
  },
  {
    name: 'grpc_ha_client_retries_total',
    type: 'counter',
    help: 'Extra attempts sent by the retry policy (gRFC A6), from grpc-previous-rpc-attempts of the answering attempt.',
    labels: ['service'],
    read: (emit) => {
      for (const [service, s] of clientAttemptStats()) emit({ service }, s.retries);
    },
  },
  {
    name: 'grpc_ha_client_hedges_total',
    type: 'counter',
    help: 'Extra attempts sent by the hedging policy before the answering one (gRFC A6).',
    labels: ['service'],
    read: (emit) => {
      for (const [service, s] of clientAttemptStats()) emit({ service }, s.hedges);
    },
  },
  {
    name: 'grpc_ha_client_retries_withheld_total',
    type: 'counter',
    help: 'Calls that failed retryable with attempts left: retry budget exhausted (A6 throttling), or no time left before the deadline.',
    labels: ['service'],
    read: (emit) => {
      for (const [service, s] of clientAttemptStats()) emit({ service }, s.withheld);
    },
  },
  // Registries, per registry kind and service.
  {
    name: 'grpc_ha_registry_resolutions_total',
    type: 'counter',
    help: 'Instance lists received from a registry watch.',
    labels: ['registry', 'service'],
    read: (emit) => {
      for (const w of registryWatchStats()) emit({ registry: w.registry, service: w.service }, w.resolutions);
    },
  },
  {
    name: 'grpc_ha_registry_watch_errors_total',
    type: 'counter',
    help: 'Errors reported by a registry watch (the last endpoints are kept meanwhile).',
    labels: ['registry', 'service'],
    read: (emit) => {
      for (const w of registryWatchStats()) emit({ registry: w.registry, service: w.service }, w.watchErrors);
    },
  },
  {
    name: 'grpc_ha_registry_last_update_age_seconds',
    type: 'gauge',
    help: 'Seconds since a registry watch last delivered an instance list (absent before the first).',
    labels: ['registry', 'service'],
    read: (emit) => {
      const now = Date.now();
      for (const w of registryWatchStats()) if (w.lastUpdateAt > 0) emit({ registry: w.registry, service: w.service }, (now - w.lastUpdateAt) / 1000);
    },
  },
  {
    name: 'grpc_ha_registry_instances',
    type: 'gauge',
    help: 'Instances in the last list a registry watch delivered.',
    labels: ['registry', 'service'],
    read: (emit) => {
      for (const w of registryWatchStats()) emit({ registry: w.registry, service: w.service }, w.instances);
    },
  },
  // Servers (serve()) of this process.
  {
    name: 'grpc_ha_server_state',
    type: 'gauge',
    help: 'Lifecycle state of a grpc-ha server instance: 1 for its current state (serving, draining, stopped).',
    labels: ['address', 'state'],
    read: (emit) => {
      for (const s of observedServers()) for (const state of ['serving', 'draining', 'stopped']) emit({ address: s.address, state }, s.state() === state ? 1 : 0);
    },
  },
  // The proxy, per cluster and backend (computed from its clusters' state at scrape time).
  {
    name: 'grpc_ha_proxy_backend_requests_in_flight',
    type: 'gauge',
    help: 'Requests the proxy has in flight to a backend.',
    labels: ['cluster', 'backend'],
    read: (emit) => {
      for (const b of proxyBackends()) emit(b.labels, b.inFlight);
    },
  },
  {
    name: 'grpc_ha_proxy_backend_requests_total',
    type: 'counter',
    help: 'Requests the proxy forwarded to a backend and saw end.',
    labels: ['cluster', 'backend'],
    read: (emit) => {
      for (const b of proxyBackends()) emit(b.labels, b.completed);
    },
  },
  {
    name: 'grpc_ha_proxy_backend_failures_total',
    type: 'counter',
    help: 'Requests to a backend that ended in a failure of the backend or the path to it.',
    labels: ['cluster', 'backend'],
    read: (emit) => {
      for (const b of proxyBackends()) emit(b.labels, b.failed);
    },
  },
  {
    name: 'grpc_ha_proxy_backend_healthy',
    type: 'gauge',
    help: '1 while the proxy considers a backend healthy (health check passing, not ejected).',
    labels: ['cluster', 'backend'],
    read: (emit) => {
      for (const b of proxyBackends()) emit(b.labels, b.healthy ? 1 : 0);
    },
  },
  // xDS control planes.
  {
    name: 'grpc_ha_xds_clients',
    type: 'gauge',
    help: 'xDS clients (ADS streams) connected to a control plane.',
    labels: ['address'],
    read: (emit) => {
      for (const x of observedXdsServers()) emit({ address: x.address }, x.clients().length);
    },
  },
  {
    name: 'grpc_ha_xds_responses_total',
    type: 'counter',
    help: 'xDS responses a control plane sent, by resource type (listener, route, cluster, endpoints).',
    labels: ['address', 'type'],
    read: (emit) => {
      for (const x of observedXdsServers()) for (const [type, n] of Object.entries(x.counters().responses)) emit({ address: x.address, type }, n);
    },
  },
  {
    name: 'grpc_ha_xds_nacks_total',
    type: 'counter',
    help: 'xDS responses clients rejected (NACK), by resource type; the log and the admin API carry their reasons.',
    labels: ['address', 'type'],
    read: (emit) => {
      for (const x of observedXdsServers()) for (const [type, n] of Object.entries(x.counters().nacks)) emit({ address: x.address, type }, n);
    },
  },
  // Every state change, by name.
  {
    name: 'grpc_ha_events_total',
    type: 'counter',
    help: 'State changes emitted (endpoint_ejected, endpoint_registered, ...), as in the logs and the dashboard.',
    labels: ['event'],
    read: (emit) => {
      for (const [event, n] of eventCounts()) emit({ event }, n);
    },
  },
];

/** Enforced ejections per service and endpoint, counted from events (see metrics.ts). */
export const endpointEjections = new Map<string, number>();

function* proxyBackends() {
  for (const proxy of observedProxies()) {
    for (const b of proxy.backends()) yield { ...b, labels: { cluster: b.cluster, backend: b.backend } };
  }
}
