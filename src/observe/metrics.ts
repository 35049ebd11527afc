/**
 * The metrics table (metrics-table.ts) as prom-client metrics. Values are read at scrape time:
 * counters and gauges are prom-client's, refilled in their `collect()`; the latency histogram is
 * a small prom-client-compatible metric over the per-endpoint buckets of call-stats.ts (a
 * prom-client Histogram can only be fed one observation at a time, on the hot path).
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import { LATENCY_BUCKETS_S } from './call-stats.js';
import { observedChannels } from './channel-observer.js';
import { onEvent } from './events.js';
import { endpointEjections, METRICS, type MetricDefinition } from './metrics-table.js';

let countingEjections = false;

function countEjections(): void {
  if (countingEjections) return;
  countingEjections = true;
  onEvent((e) => {
    if (e.event !== 'endpoint_ejected' || e.endpoint === undefined) return;
    const key = `${e.service}\u0000${e.endpoint}`;
    endpointEjections.set(key, (endpointEjections.get(key) ?? 0) + 1);
  });
}

function scalar(def: MetricDefinition, registry: Registry): Metric {
  const options = { name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] };
  if (def.type === 'counter') {
    return new Counter({
      ...options,
      collect() {
        this.reset();
        def.read((labels, value) => this.inc(labels, value));
      },
    });
  }
  return new Gauge({
    ...options,
    collect() {
      this.reset();
      def.read((labels, value) => this.set(labels, value));
    },
  });
}

/** The latency histogram, read from every channel's CallStats; prom-client renders it. */
function latencyHistogram(def: MetricDefinition): Metric {
  const get = () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const channel of observedChannels()) {
      for (const [endpoint, stats] of channel.stats) {
        const labels = { service: channel.service, endpoint };
        let cumulative = 0;
        stats.buckets.forEach((n, i) => {
          cumulative += n;
          values.push({ labels: { ...labels, le: i < LATENCY_BUCKETS_S.length ? LATENCY_BUCKETS_S[i]! : '+Inf' }, value: cumulative, metricName: `${def.name}_bucket` });
        });
        values.push({ labels, value: stats.latencySumS, metricName: `${def.name}_sum` });
        values.push({ labels, value: cumulative, metricName: `${def.name}_count` });
      }
    }
    return Promise.resolve({ name: def.name, help: def.help, type: 'histogram', values, aggregator: 'sum' });
  };
  return { name: def.name, help: def.help, type: 'histogram', aggregator: 'sum', labelNames: def.labels, get, reset: () => undefined } as unknown as Metric;
}

/**
 * Adds every grpc-ha metric to `registry` (yours, e.g. prom-client's global `register`, to serve
 * them with your own metrics). Throws if one of them is there already.
 */
export function registerGrpcHaMetrics(registry: Registry): Registry {
  countEjections();
  for (const def of METRICS) {
    if (def.type === 'histogram') registry.registerMetric(latencyHistogram(def));
    else scalar(def, registry);
  }
  return registry;
}

let own: Registry | undefined;

/** The registry grpc-ha's admin server serves: every grpc-ha metric, created on first use. */
export function grpcHaMetricsRegistry(): Registry {
  own ??= registerGrpcHaMetrics(new Registry());
  return own;
}
