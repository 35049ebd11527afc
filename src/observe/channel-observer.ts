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

  /** The channel's live state. */
  state(): ChannelState {
    const { panic, ejections } = this.view;
    return {
      id: this.id,
      service: this.service,
      policy: this.policy,
      panic,
      ...(ejections ? { ejections: structuredClone(ejections) } : {}),
      endpoints: this.view.endpoints(),
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
