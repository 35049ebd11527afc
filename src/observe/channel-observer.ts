/**
 * What the admin API, /metrics and the dashboard know of each client channel: one
 * ChannelObserver per grpc-ha channel (its health layer), registered while the channel lives.
 * The observer reads the channel through a view its owner implements (panic mode, ejection
 * counters, each endpoint's live state), keeps each endpoint's CallStats (written by the picker
 * balancer on the hot path), and puts the channel's state changes on the event bus.
 */
import { splitTarget, targetService } from '../core/target-uri.js';
import type { ChannelOptions } from '@grpc/grpc-js';
import type { EjectionCounters } from '../core/health/outlier-detector.js';
import { CallStats } from './call-stats.js';
import { clientAttemptStats } from './client-attempt-stats.js';
import { emitEvent, type EventName } from './events.js';

/**
 * Channel option naming the service a channel's metrics, state and events are labelled with.
 * `createClient` sets it from the target ("file:///echo?dir=..." → "echo"). grpc-js leaves
 * options with this prefix out of subchannel arguments, so subchannels stay shared.
 */
export const SERVICE_LABEL_OPTION = 'grpc.internal.no_subchannel.grpc_ha_service';

/** What a balancer knows of one endpoint's calls and load. */
export interface EndpointLoadFields {
  readonly weight: number;
  readonly inFlight: number;
  /** Latency estimate (peak EWMA), ms; null before the first sample. */
  readonly ewmaMs: number | null;
  readonly started: number;
  readonly finished: number;
  readonly failed: number;
  readonly lastError: CallStats['lastError'];
  /** What the registry says of it (zone, version, labels, instance id). */
  readonly metadata?: unknown;
}

/** Live state of one endpoint of a channel, as the admin API shows it. */
export interface EndpointState extends EndpointLoadFields {
  /** "host:port" (several addresses joined by commas). */
  readonly endpoint: string;
  /** Connectivity of its connection: IDLE, CONNECTING, READY, TRANSIENT_FAILURE. */
  readonly connectivity: string;
  /** Health layer condition: healthy, ejected, not_serving, ... (see EndpointCondition). */
  readonly health: string;
  /** Why it is not healthy, when it is not. */
  readonly healthReason?: string;
  /** When its ejection ends (ms since the epoch), when ejected. */
  readonly ejectedUntil?: number;
  /** When it left the channel's endpoint list (deregistered, or removed by its registry), ms since the epoch; `health` is then "gone". */
  readonly departedAt?: number;
}

/** How long an endpoint that left a channel is still shown (greyed, "gone"), ms: long enough to see what happened. */
export const DEPARTED_SHOWN_MS = 60_000;

/** A client's calls to a service as the application saw them (after retries), from the attempt-counting interceptor. */
export interface ClientCallTotals {
  readonly ok: number;
  readonly failed: number;
  /** Extra attempts the retry policy sent (hedges included). */
  readonly retried: number;
}

/** What an observed channel shows; its owner (the channel's health layer) implements it. */
export interface ChannelView {
  /** Whether health is disregarded now (too few healthy endpoints: Envoy's panic threshold). */
  readonly panic: boolean;
  /** Outlier ejection counters, or null when outlier ejection is off. */
  readonly ejections: EjectionCounters | null;
  /** Live state of every endpoint. */
  endpoints(): EndpointState[];
}

/** Per-endpoint call statistics of a channel, written by its picker balancer. */
export interface EndpointCallStats {
  /** The endpoint's call statistics, created on first use. */
  statsOf(key: string): CallStats;
  /** Keeps only the statistics of `keys` (the endpoints still in the list). */
  retain(keys: ReadonlySet<string>): void;
}

/** Live state of one channel. */
export interface ChannelState {
  readonly id: number;
  readonly service: string;
  readonly policy: string;
  /** Whether the health layer disregards health (too few healthy endpoints). */
  readonly panic: boolean;
  /** Outlier ejections: detected / enforced per detector, and overflow (Envoy's names). */
  readonly ejections?: EjectionCounters;
  /** Calls of createClient clients of this service in this process, when there are any. */
  readonly calls?: ClientCallTotals;
  readonly endpoints: readonly EndpointState[];
}

const channels = new Set<ChannelObserver>();
let nextId = 1;

/** Every live channel of this process. */
export function observedChannels(): Iterable<ChannelObserver> {
  return channels;
}

/** One grpc-ha channel, seen from outside. */
export class ChannelObserver implements EndpointCallStats {
  readonly id = nextId++;
  /** Metrics/event label; set from the channel options on each update. */
  service: string;
  /** Per endpoint call statistics, kept while the endpoint is in the channel's list. */
  readonly stats = new Map<string, CallStats>();
  private closed = false;
  /** The endpoints seen last, and those that left within DEPARTED_SHOWN_MS (as last seen). */
  private lastSeen = new Map<string, EndpointState>();
  private readonly departed = new Map<string, EndpointState>();

  constructor(
    readonly policy: string,
    /** The channel as its owner shows it. */
    readonly view: ChannelView,
  ) {
    this.service = `${policy}#${this.id}`;
    channels.add(this);
  }

  /** Takes the service label from the channel options, when they carry one. */
  updateOptions(options: ChannelOptions): void {
    const name = options[SERVICE_LABEL_OPTION];
    if (typeof name === 'string' && name !== '') this.service = name;
  }

  /** The endpoint's call statistics, created on first use. */
  statsOf(key: string): CallStats {
    let s = this.stats.get(key);
    if (!s) this.stats.set(key, (s = new CallStats()));
    return s;
  }

  /** Keeps only the statistics of `keys` (the endpoints still in the list). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.stats.keys()) if (!keys.has(key)) this.stats.delete(key);
  }

  /** Emits a state change of this channel. */
  emit(event: EventName, endpoint?: string, reason?: string): void {
    if (this.closed) return;
    emitEvent({ event, service: this.service, source: 'client', ...(endpoint ? { endpoint } : {}), ...(reason ? { reason } : {}) });
  }

  /**
   * The live state of every endpoint, then those that left the list within DEPARTED_SHOWN_MS, as
   * last seen with health "gone": a deregistered or killed backend stays visible for a while.
   */
  endpoints(now = Date.now()): EndpointState[] {
    const live = this.view.endpoints();
    const current = new Map(live.map((e) => [e.endpoint, e]));
    for (const [key, last] of this.lastSeen) {
      if (!current.has(key)) this.departed.set(key, { ...last, connectivity: 'SHUTDOWN', health: 'gone', inFlight: 0, departedAt: now });
    }
    for (const [key, e] of this.departed) if (current.has(key) || now - e.departedAt! > DEPARTED_SHOWN_MS) this.departed.delete(key);
    this.lastSeen = current;
    return [...live, ...this.departed.values()];
  }

  /** The channel's live state. */
  state(): ChannelState {
    const { panic, ejections } = this.view;
    const calls = clientAttemptStats().get(this.service);
    return {
      id: this.id,
      service: this.service,
      policy: this.policy,
      panic,
      ...(ejections ? { ejections: structuredClone(ejections) } : {}),
      ...(calls ? { calls: { ok: calls.ok, failed: calls.failed, retried: calls.retries + calls.hedges } } : {}),
      endpoints: this.endpoints(),
    };
  }

  /** Unregisters (the balancer was destroyed). */
  close(): void {
    this.closed = true;
    channels.delete(this);
  }
}

/** "file:///echo?dir=/tmp/x" → "echo", "etcd://h:2379/foo/bar" → "foo/bar", "dns:host:50051" → "host:50051". */
export function serviceOfTarget(target: string): string {
  const uri = splitTarget(target);
  if (uri === null) return target;
  return targetService(uri) || target;
}
