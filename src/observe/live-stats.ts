/**
 * The dashboard's live numbers: once a second, per service and endpoint, the calls of the last
 * second, their share of the service's traffic, p50/p99 (from the latency buckets of that
 * second), in-flight calls and health — computed once for every open dashboard.
 */
import { bucketQuantile } from './call-stats.js';
import { observedChannels, type ChannelState, type EndpointState } from './channel-observer.js';

/** One endpoint's last second. */
export interface EndpointTick {
  readonly endpoint: string;
  readonly calls: number;
  /** Share of the service's calls in that second, 0..1. */
  readonly share: number;
  readonly errors: number;
  /** ms; null with no call in the second. */
  readonly p50: number | null;
  readonly p99: number | null;
  readonly inFlight: number;
  /** Its condition (healthy, ejected, not_serving, transient_failure, ...), with why and, when ejected, until when. */
  readonly health: string;
  readonly healthReason?: string;
  readonly ejectedUntil?: number;
}

/** One service's last second. */
export interface ServiceTick {
  readonly service: string;
  readonly endpoints: readonly EndpointTick[];
}

/** One second of every service. */
export interface Tick {
  readonly at: number;
  readonly services: readonly ServiceTick[];
}

/** One endpoint's sums over the channels of its service. */
interface Sums {
  calls: number;
  errors: number;
  delta: Float64Array;
  inFlight: number;
  health: string;
  healthReason?: string;
  ejectedUntil?: number;
}

function condition(sums: Sums, from: EndpointState): Sums {
  sums.health = from.health;
  if (from.healthReason !== undefined) sums.healthReason = from.healthReason;
  if (from.ejectedUntil !== undefined) sums.ejectedUntil = from.ejectedUntil;
  return sums;
}

interface Previous {
  finished: Float64Array;
  buckets: Float64Array;
}

/** Computes ticks from differences between consecutive calls; one instance per admin server. */
export class LiveStats {
  private previous = new Map<string, Previous>();

  /**
   * The calls since the last call of `tick()` (the first one counts from the channel's start).
   * `external` channels (the proxy's clusters) count from their endpoints' finished/failed
   * totals; they have no latency histogram, so no p50/p99.
   */
  tick(external: readonly ChannelState[] = []): Tick {
    const next = new Map<string, Previous>();
    // service → endpoint → sums over the channels of the service (two clients of one service add up)
    const services = new Map<string, Map<string, Sums>>();
    for (const channel of observedChannels()) {
      const described = new Map(channel.endpoints().map((e) => [e.endpoint, e]));
      let endpoints = services.get(channel.service);
      if (!endpoints) services.set(channel.service, (endpoints = new Map()));
      for (const [endpoint, stats] of channel.stats) {
        const key = `${channel.id}\u0000${endpoint}`;
        const before = this.previous.get(key);
        const now = { finished: stats.finished.slice(), buckets: stats.buckets.slice() };
        next.set(key, now);
        let e = endpoints.get(endpoint);
        if (!e) endpoints.set(endpoint, (e = { calls: 0, errors: 0, delta: new Float64Array(now.buckets.length), inFlight: 0, health: 'unknown' }));
        now.finished.forEach((n, code) => {
          const d = n - (before?.finished[code] ?? 0);
          e.calls += d;
          if (code !== 0) e.errors += d;
        });
        now.buckets.forEach((n, i) => (e.delta[i]! += n - (before?.buckets[i] ?? 0)));
        const d = described.get(endpoint);
        e.inFlight += d?.inFlight ?? 0;
        if (d && e.health === 'unknown') condition(e, d);
      }
    }
    for (const channel of external) {
      let endpoints = services.get(channel.service);
      if (!endpoints) services.set(channel.service, (endpoints = new Map()));
      for (const d of channel.endpoints) {
        const key = `x${channel.service}\u0000${d.endpoint}`;
        const before = this.previous.get(key);
        const now = { finished: Float64Array.of(d.finished - d.failed, d.failed), buckets: new Float64Array(0) };
        next.set(key, now);
        const ok = now.finished[0]! - (before?.finished[0] ?? 0);
        const failed = now.finished[1]! - (before?.finished[1] ?? 0);
        endpoints.set(d.endpoint, condition({ calls: ok + failed, errors: failed, delta: new Float64Array(0), inFlight: d.inFlight, health: d.health }, d));
      }
    }
    this.previous = next;
    const ms = (delta: Float64Array, q: number) => {
      const s = bucketQuantile(delta, q);
      return Number.isNaN(s) ? null : Math.round(s * 100_000) / 100;
    };
    const out: ServiceTick[] = [];
    for (const [service, endpoints] of services) {
      let total = 0;
      for (const e of endpoints.values()) total += e.calls;
      const list = [...endpoints].map(([endpoint, e]) => ({
        endpoint,
        calls: e.calls,
        share: total > 0 ? e.calls / total : 0,
        errors: e.errors,
        p50: ms(e.delta, 0.5),
        p99: ms(e.delta, 0.99),
        inFlight: e.inFlight,
        health: e.health,
        ...(e.healthReason !== undefined && { healthReason: e.healthReason }),
        ...(e.ejectedUntil !== undefined && { ejectedUntil: e.ejectedUntil }),
      }));
      out.push({ service, endpoints: list.sort((a, b) => a.endpoint.localeCompare(b.endpoint)) });
    }
    return { at: Date.now(), services: out };
  }
}
