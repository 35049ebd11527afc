/**
 * One registry watch per distinct query, shared by every channel of the process that resolves
 * it: a new subscriber is replayed the last known state at once, changes are fanned out, and
 * unchanged answers (a Consul blocking query that timed out, an etcd progress notification, a
 * file rewritten by its refresh) are not passed on.
 */
import type { GrpcHaError } from '../core/errors.js';
import { instancesFingerprint, type ServiceInstance } from './instance.js';
import type { DiscoveryLogger } from './log.js';
import type { ServiceQuery, Unsubscribe, WatchHandler } from './registry.js';

/** A running backend watch. */
export interface WatchSource {
  /** Stops it; no sink call may follow. */
  stop(): void;
  /** Checks again now (optional hint). */
  resync?(): void;
}

/** Starts a backend watch of `query` that reports to `sink`. */
export type WatchStarter = (query: ServiceQuery, sink: WatchHandler) => WatchSource;

interface Shared {
  readonly handlers: Set<WatchHandler>;
  instances?: readonly ServiceInstance[];
  fingerprint?: string;
  config?: string | null;
  lastError?: GrpcHaError;
  /** Instances held back until the config document is known, so a client starts with the right policy. */
  held: boolean;
  source?: WatchSource;
}

/** The canonical key of a query: service, sorted tags, datacenter. */
export function queryKey(query: ServiceQuery): string {
  return JSON.stringify([query.service, [...(query.tags ?? [])].sort(), query.datacenter ?? '']);
}

/** Shares backend watches among subscribers. */
export class WatchHub {
  private readonly shared = new Map<string, Shared>();

  constructor(
    private readonly start: WatchStarter,
    private readonly logger: DiscoveryLogger,
  ) {}

  /** Subscribes `handler` to `query`, starting the backend watch if it is the first. */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    const key = queryKey(query);
    let entry = this.shared.get(key);
    if (entry) {
      entry.handlers.add(handler);
      const known = entry;
      // Replay asynchronously: grpc-js forbids resolver callbacks from within updateResolution.
      setImmediate(() => {
        if (!known.handlers.has(handler)) return;
        if (known.config !== undefined) this.call(handler, 'config', known.config);
        if (known.instances && !known.held) this.call(handler, 'instances', known.instances);
        else if (known.lastError) this.call(handler, 'error', known.lastError);
      });
    } else {
      const created: Shared = { handlers: new Set([handler]), held: false };
      const flush = () => {
        created.held = false;
        for (const h of [...created.handlers]) this.call(h, 'instances', created.instances!);
      };
      entry = created;
      this.shared.set(key, created);
      created.source = this.start(query, {
        instances: (instances) => {
          const fingerprint = instancesFingerprint(instances);
          created.lastError = undefined;
          if (fingerprint === created.fingerprint) return;
          created.fingerprint = fingerprint;
          created.instances = instances;
          if (created.config === undefined) created.held = true;
          else flush();
        },
        config: (document) => {
          if (document === created.config) return;
          created.config = document;
          for (const h of [...created.handlers]) this.call(h, 'config', document);
          if (created.held) flush();
        },
        error: (error) => {
          created.lastError = error;
          if (created.held) flush(); // the config is not coming soon: go on with the channel's own
          for (const h of [...created.handlers]) this.call(h, 'error', error);
        },
      });
    }
    const subscribed = entry;
    return () => {
      if (!subscribed.handlers.delete(handler) || subscribed.handlers.size > 0) return;
      if (this.shared.get(key) === subscribed) this.shared.delete(key);
      subscribed.source?.stop();
    };
  }

  /** Passes a resync hint to the backend watch of `query`, if there is one. */
  resync(query: ServiceQuery): void {
    this.shared.get(queryKey(query))?.source?.resync?.();
  }

  /** Stops every backend watch; subscribers hear nothing more. */
  closeAll(): void {
    for (const entry of this.shared.values()) {
      entry.handlers.clear();
      entry.source?.stop();
    }
    this.shared.clear();
  }

  /** The number of backend watches running (for tests). */
  get size(): number {
    return this.shared.size;
  }

  private call<K extends keyof WatchHandler>(handler: WatchHandler, method: K, arg: Parameters<WatchHandler[K]>[0]): void {
    try {
      (handler[method] as (a: typeof arg) => void)(arg);
    } catch (error) {
      this.logger('error', `a watch handler threw from ${method}(): ${(error as Error).stack ?? String(error)}`);
    }
  }
}
