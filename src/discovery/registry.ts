/**
 * The one small interface every service registry implements (embedded file directory, etcd,
 * Consul, static lists): servers register an instance and keep it alive; resolvers watch a
 * service's instances and its central service config document.
 *
 * Resolvers only need the watching half, {@link InstanceSource}. DNS and Kubernetes are sources
 * and nothing more: their records are written by someone else (the zone's owner; the kubelet and
 * the EndpointSlice controller), so they offer no `register` that could only throw.
 */
import type { GrpcHaError } from '../core/errors.js';
import type { ServiceInstanceInput, ServiceInstance } from './instance.js';

/** What a resolver asks a registry for. */
export interface ServiceQuery {
  /** The service name. */
  readonly service: string;
  /** Only instances carrying every one of these tags. Defaults to none (all instances). */
  readonly tags?: readonly string[];
  /** Consul datacenter; other registries reject it. Defaults to the agent's own. */
  readonly datacenter?: string;
}

/** Receives what a watched service looks like; every method is called again only on change. */
export interface WatchHandler {
  /** The complete current set of live instances (possibly empty). */
  instances(instances: readonly ServiceInstance[]): void;
  /** The raw text of the service's central service config document, or null when there is none. */
  config(document: string | null): void;
  /**
   * The registry could not be reached (or answered with garbage). What was reported before still
   * stands; the registry keeps retrying by itself and reports again once it has an answer.
   */
  error(error: GrpcHaError): void;
}

/** Stops a watch. */
export type Unsubscribe = () => void;

/** Where a registration stands: a tagged union with one `t`. */
export type RegistrationState =
  | { readonly t: 'registering'; readonly attempt: number; readonly lastError?: GrpcHaError }
  | { readonly t: 'registered'; readonly since: number }
  | { readonly t: 'closed' };

/** A server instance kept registered until `close()`. */
export interface Registration {
  /** What is registered (with its instance id filled in). */
  readonly instance: ServiceInstance;
  /** Where the registration stands now. */
  readonly state: RegistrationState;
  /** Resolves true once first registered, false when closed before that. Never rejects. */
  readonly ready: Promise<boolean>;
  /** Deregisters and stops keeping the entry alive; safe to call repeatedly; never rejects. */
  close(): Promise<void>;
}

/** Options of `Registry.register`. */
export interface RegisterOptions {
  /** Called on every state change (registered, lost and registering again, closed). */
  readonly onStateChange?: (state: RegistrationState) => void;
}

/** Where resolvers learn a service's instances: every registry, and the read-only DNS and Kubernetes sources. */
export interface InstanceSource {
  /** The scheme of its channel targets: "file", "etcd", "consul", "static", "ha-dns" or "k8s". */
  readonly scheme: string;
  /** Where it lives, for logs: "etcd 127.0.0.1:2379", "file registry /tmp/grpc-ha-registry-0". */
  readonly description: string;
  /** Watches a service; the handler hears the first answer and every change. */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe;
  /** Asks watches of `query` to check again now (a hint; resolvers rate-limit it). */
  resync(query: ServiceQuery): void;
  /** Stops every watch and releases connections (a registry also deregisters what it registered). */
  close(): Promise<void>;
  /** The services it holds instances of, for "no such service" messages; absent where it cannot list them. */
  listServices?(): Promise<string[]>;
}

/** A service registry: a source that servers also register in. */
export interface Registry extends InstanceSource {
  /**
   * Registers `instance` and keeps it alive until `close()` on the returned registration:
   * refreshed before its TTL runs out, written again after the registry was unreachable or the
   * entry expired. Throws GrpcHaError(INVALID_CONFIG) naming the field when the instance is invalid.
   */
  register(instance: ServiceInstanceInput, options?: RegisterOptions): Registration;
  /** Writes a service's central service config document (validated first; throws INVALID_CONFIG). */
  putServiceConfig(service: string, document: string | object): Promise<void>;
  /** Removes a service's central service config document; clients fall back to their channel's own. */
  deleteServiceConfig(service: string): Promise<void>;
  /** Deregisters every registration made through it, stops every watch, releases connections. */
  close(): Promise<void>;
}

/** Whether `source` is a registry servers can register in (not a read-only DNS or Kubernetes source). */
export function isRegistry(source: InstanceSource): source is Registry {
  return typeof (source as Partial<Registry>).register === 'function';
}
