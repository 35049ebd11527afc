/**
 * The control plane's view of one service: its instances and central service config from the
 * registry, the health of each instance from the control plane's own grpc.health.v1 Watch
 * stream, and the four xDS resources built from them — re-encoded on every change, with a new
 * version only for a resource whose bytes changed. Changes that arrive together (a registry
 * answer, a burst of health answers) are published once, at the end of the turn.
 *
 * An instance is published
 *   HEALTHY    connected and SERVING (or without a health service: A17 treats that as healthy)
 *   UNHEALTHY  NOT_SERVING, unreachable, or no health answer within healthTimeoutMs
 *   DRAINING   deregistered while its connection is still up: it is shutting down (Envoy's
 *              meaning; Kubernetes' "terminating"); dropped when the connection goes or after
 *              drainingHoldMs
 *   UNKNOWN    health checks off
 * and not at all while its first health answer is pending, so a client never starts on an
 * instance nobody has checked. "Only endpoints with health_status UNKNOWN or HEALTHY are used" -
 * gRFC A27: clients stop sending to the others with the next push.
 */
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { ServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
import { healthCheckServiceName } from '../core/health/health-config.js';
import { conditionLabel, healthClass, subchannelCondition, type EndpointCondition, type SubchannelFacts } from '../core/health/endpoint-condition.js';
import { splitAddress } from '../core/address.js';
import type { ServiceInstance } from '../discovery/instance.js';
import type { Registry, Unsubscribe } from '../discovery/registry.js';
import { parseServiceConfigDocument } from '../discovery/service-config-doc.js';
import { watchAddressHealth, type AddressHealth } from '../grpc/address-health.js';
import { emitEvent, type EventName } from '../observe/events.js';
import type { Logger } from '../observe/logger.js';
import { recordResolution, registryWatch } from '../observe/registry-stats.js';
import type { XdsEndpointView, XdsServiceView } from '../observe/xds-observer.js';
import type { EncodedResource, EnvoyCodec } from './envoy-protos.js';
import { clusterPolicy, type ClusterPolicy } from './lb-policy.js';
import {
  clusterResource,
  endpointsResource,
  listenerResource,
  routeResource,
  type EndpointHealthStatus,
  type PublishedEndpoint,
  type ResourceType,
} from './resources.js';
import { serviceRoutes } from './routes.js';

/** What every feed of one control plane shares. */
export interface FeedSettings {
  readonly registry: Registry;
  readonly codec: EnvoyCodec;
  /** Health-check instances (grpc.health.v1 Watch). */
  readonly healthChecks: boolean;
  /** A first health answer slower than this publishes the instance UNHEALTHY, ms. */
  readonly healthTimeoutMs: number;
  /** A deregistered instance stays DRAINING at most this long, ms. */
  readonly drainingHoldMs: number;
  readonly log: Logger;
}

/** A resource and its version. */
export interface VersionedResource {
  readonly version: number;
  readonly resource: EncodedResource;
}

/** Resource versions are unique across the control plane: a version names one resource content. */
let lastVersion = 0;

interface InstanceEntry {
  instance: ServiceInstance;
  /** The IP to publish: registries may hold host names, gRPC clients take only IP literals in EDS. */
  ip: string | null;
  resolveError: string | undefined;
  watch: AddressHealth | null;
  facts: SubchannelFacts | null;
  timedOut: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Deregistered at (ms); kept as DRAINING while reachable. */
  removedAt: number | undefined;
  published: EndpointHealthStatus | null;
}

/** Receives the resource types whose content changed. */
export type FeedListener = (changed: ReadonlySet<ResourceType>) => void;

const now = () => performance.timeOrigin + performance.now();

/** One service, as the control plane publishes it. */
export class ServiceFeed {
  private readonly instances = new Map<string, InstanceEntry>();
  private readonly listeners = new Set<FeedListener>();
  private readonly stats;
  private config: ServiceConfig | null = null;
  /** The document as written (JSON), beside grpc-js's validated copy. */
  private document: unknown = null;
  private configRejected: string | undefined;
  private registryError: string | undefined;
  private healthService = '';
  private policy: ClusterPolicy = clusterPolicy(null);
  private notes: string[] = [];
  private configKnown = false;
  private wasReady = false;
  private instancesKnown = false;
  private previousInstances: readonly ServiceInstance[] | null = null;
  private pendingSince: number | undefined;
  private configDirty = true;
  private unsubscribe: Unsubscribe | undefined;
  private closed = false;
  private readonly resources = new Map<string, VersionedResource>();
  /** When the input behind the last published change arrived (epoch ms, sub-ms precision). */
  changedAt = 0;

  constructor(
    /** The service name: the name of all four resources. */
    readonly service: string,
    private readonly settings: FeedSettings,
  ) {
    this.stats = registryWatch(settings.registry.scheme, service);
    this.resources.set('listener', this.versioned(undefined, listenerResource(service)));
    this.unsubscribe = settings.registry.watch(
      { service },
      {
        instances: (list) => this.onInstances(list),
        config: (document) => this.onConfig(document),
        error: (error) => {
          this.registryError = error.message;
          this.stats.watchErrors++;
        },
      },
    );
  }

  /**
   * The registry has answered (config and instances) and, the first time, every instance it
   * listed has a health answer or timed out: a client that dials before then waits for the
   * first EDS instead of failing its calls on an empty one.
   */
  get ready(): boolean {
    if (this.wasReady) return true;
    if (!this.configKnown || !this.instancesKnown) return false;
    for (const entry of this.instances.values()) {
      if (entry.resolveError === undefined && entry.removedAt === undefined && this.status(entry) === null) return false;
    }
    this.wasReady = true;
    return true;
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current resource of a type; `ringHash` false gives the Cluster without ring hash. */
  resource(type: ResourceType, ringHash = true): VersionedResource | undefined {
    if (type === 'listener') return this.resources.get('listener');
    if (!this.ready) return undefined;
    return this.resources.get(type === 'cluster' && !ringHash ? 'cluster-no-ring' : type);
  }

  /** Stops the registry watch and every health check. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    for (const entry of this.instances.values()) this.dropEntry(entry);
    this.instances.clear();
    this.listeners.clear();
  }

  /** The state shown by the admin API. */
  view(): XdsServiceView {
    const endpoints: XdsEndpointView[] = [...this.instances.values()].map((e) => ({
      instanceId: e.instance.instanceId,
      address: e.instance.address,
      ...(e.instance.zone !== undefined && { zone: e.instance.zone }),
      weight: e.instance.weight ?? 1,
      published: e.published ?? 'not published',
      condition: this.describe(e),
    }));
    return {
      service: this.service,
      ready: this.ready,
      healthCheckService: this.settings.healthChecks ? this.healthService : null,
      policies: this.policy.choices.map((c) => c.name),
      outlierDetection: this.policy.outlierEjection !== null,
      notes: [...this.notes],
      ...(this.configRejected !== undefined && { configRejected: this.configRejected }),
      ...(this.registryError !== undefined && { registryError: this.registryError }),
      versions: Object.fromEntries([...this.resources].map(([k, v]) => [k, v.version])),
      changedAt: this.changedAt,
      endpoints,
    };
  }

  private onConfig(document: string | null): void {
    this.registryError = undefined;
    if (document === null) {
      this.config = null;
      this.document = null;
      this.configRejected = undefined;
    } else {
      const result = parseServiceConfigDocument(document);
      if (!result.ok) {
        // The last good config stays, as it does for the resolvers.
        this.configRejected = result.reason;
        this.settings.log.warn({ event: 'xds.config_rejected', service: this.service, reason: result.reason }, `service config of ${this.service} rejected, the last good one stays: ${result.reason}`);
        this.configKnown = true;
        this.schedule(true);
        return;
      }
      this.config = result.config;
      this.document = JSON.parse(document) as unknown;
      this.configRejected = undefined;
    }
    let checked = '';
    try {
      checked = healthCheckServiceName(document ?? undefined) ?? '';
    } catch {
      // Validated above; a malformed healthCheckConfig was rejected there.
    }
    if (checked !== this.healthService) {
      this.healthService = checked;
      for (const entry of this.instances.values()) this.startHealth(entry);
    }
    this.configKnown = true;
    this.schedule(true);
  }

  private onInstances(list: readonly ServiceInstance[]): void {
    this.registryError = undefined;
    recordResolution(this.stats, this.previousInstances, list);
    this.previousInstances = list;
    const seen = new Set<string>();
    for (const instance of list) {
      seen.add(instance.instanceId);
      const entry = this.instances.get(instance.instanceId);
      if (!entry) this.addEntry(instance);
      else if (entry.instance.address !== instance.address) {
        this.dropEntry(entry);
        this.addEntry(instance);
      } else {
        entry.instance = instance;
        if (entry.removedAt !== undefined) entry.removedAt = undefined;
      }
    }
    for (const entry of this.instances.values()) {
      if (seen.has(entry.instance.instanceId) || entry.removedAt !== undefined) continue;
      entry.removedAt = Date.now();
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.forget(entry), this.settings.drainingHoldMs);
      entry.timer.unref();
    }
    this.instancesKnown = true;
    this.schedule();
  }

  private addEntry(instance: ServiceInstance): void {
    const entry: InstanceEntry = {
      instance,
      ip: null,
      resolveError: undefined,
      watch: null,
      facts: null,
      timedOut: false,
      timer: undefined,
      removedAt: undefined,
      published: null,
    };
    this.instances.set(instance.instanceId, entry);
    const host = splitAddress(instance.address)?.host ?? '';
    if (isIP(host)) entry.ip = host;
    else {
      lookup(host).then(
        (answer) => {
          entry.ip = answer.address;
          this.schedule();
        },
        (error: Error) => {
          entry.resolveError = `cannot resolve ${host}: ${error.message}`;
          this.settings.log.warn({ event: 'xds.resolve_failed', service: this.service, endpoint: instance.address }, entry.resolveError);
          this.schedule();
        },
      );
    }
    this.startHealth(entry);
  }

  private startHealth(entry: InstanceEntry): void {
    if (!this.settings.healthChecks || this.closed) return;
    entry.watch?.close();
    entry.facts = null;
    entry.timedOut = false;
    if (entry.removedAt === undefined) {
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => {
        entry.timedOut = true;
        this.schedule();
      }, this.settings.healthTimeoutMs);
      entry.timer.unref();
    }
    entry.watch = watchAddressHealth(
      entry.instance.address,
      { serviceName: this.healthService },
      (facts) => {
        entry.facts = facts;
        this.schedule();
      },
    );
  }

  private dropEntry(entry: InstanceEntry): void {
    clearTimeout(entry.timer);
    entry.watch?.close();
    entry.watch = null;
  }

  private forget(entry: InstanceEntry): void {
    if (entry.removedAt === undefined || this.instances.get(entry.instance.instanceId) !== entry) return;
    this.dropEntry(entry);
    this.instances.delete(entry.instance.instanceId);
    this.schedule();
  }

  private condition(entry: InstanceEntry): EndpointCondition | null {
    return entry.facts ? subchannelCondition(entry.facts) : null;
  }

  /** What is published for an entry, or null for nothing. */
  private status(entry: InstanceEntry): EndpointHealthStatus | null {
    if (entry.ip === null) return null;
    if (!this.settings.healthChecks) return entry.removedAt === undefined ? 'UNKNOWN' : null;
    if (entry.removedAt !== undefined) return entry.facts?.connectivity === 'READY' ? 'DRAINING' : null;
    const condition = this.condition(entry);
    const cls = condition ? healthClass(condition) : 'unknown';
    if (cls === 'healthy') return 'HEALTHY';
    if (cls === 'unhealthy' || entry.timedOut) return 'UNHEALTHY';
    return null;
  }

  private describe(entry: InstanceEntry): string {
    if (entry.resolveError) return entry.resolveError;
    if (entry.ip === null) return 'resolving its host name';
    if (!this.settings.healthChecks) return 'health checks off';
    if (entry.removedAt !== undefined) return 'deregistered';
    const condition = this.condition(entry);
    if (!condition) return 'awaiting health check';
    const label = conditionLabel(condition);
    if (entry.timedOut && healthClass(condition) === 'unknown') return `no health answer within ${this.settings.healthTimeoutMs} ms`;
    return condition.t === 'transient_failure' && condition.error ? condition.error : condition.t === 'health_check_failing' ? `health check: ${condition.error}` : label;
  }

  /** Publishes at the end of the turn; `config` when the service config changed (Route and Cluster are rebuilt only then). */
  private schedule(config = false): void {
    if (this.closed) return;
    if (config) this.configDirty = true;
    if (this.pendingSince !== undefined) return;
    this.pendingSince = now();
    setImmediate(() => this.publish());
  }

  private publish(): void {
    const since = this.pendingSince ?? now();
    this.pendingSince = undefined;
    if (this.closed || !this.ready) return;
    const changed = new Set<ResourceType>();
    const put = (key: string, type: ResourceType, build: () => ReturnType<typeof listenerResource>) => {
      let next: VersionedResource;
      try {
        next = this.versioned(this.resources.get(key), build());
      } catch (error) {
        // A resource that does not encode is a bug here, not the client's: keep the last one.
        this.settings.log.error({ event: 'xds.encode_failed', service: this.service, err: error }, `cannot encode the ${type} of ${this.service}; the last one stays`);
        return;
      }
      if (next !== this.resources.get(key)) {
        this.resources.set(key, next);
        changed.add(type);
      }
    };
    if (this.configDirty) {
      this.configDirty = false;
      const notes: string[] = [];
      this.policy = clusterPolicy(this.config);
      notes.push(...this.policy.notes);
      const routes = serviceRoutes(this.service, this.config, this.document, { ...(this.policy.hashHeader !== undefined && { hashHeader: this.policy.hashHeader }) }, notes);
      this.notes = notes;
      put('route', 'route', () => routeResource(this.service, routes));
      put('cluster', 'cluster', () => clusterResource(this.service, this.policy, true));
      put('cluster-no-ring', 'cluster', () => clusterResource(this.service, this.policy, false));
    }
    const endpoints = this.publishedEndpoints();
    put('endpoints', 'endpoints', () => endpointsResource(this.service, endpoints));
    if (changed.size === 0) return;
    this.changedAt = since;
    for (const listener of [...this.listeners]) listener(changed);
  }

  private versioned(previous: VersionedResource | undefined, message: ReturnType<typeof listenerResource>): VersionedResource {
    const resource = this.settings.codec.encodeResource(message);
    if (previous && Buffer.compare(previous.resource.value, resource.value) === 0) return previous;
    return { version: ++lastVersion, resource };
  }

  private publishedEndpoints(): PublishedEndpoint[] {
    const entries = [...this.instances.values()].sort((a, b) => (a.instance.instanceId < b.instance.instanceId ? -1 : 1));
    // Weights are integers in EDS; fractional registry weights are scaled to keep their ratios.
    const scale = entries.every((e) => Number.isInteger(e.instance.weight ?? 1)) ? 1 : 1000;
    const out: PublishedEndpoint[] = [];
    for (const entry of entries) {
      const status = this.status(entry);
      this.announce(entry, status);
      if (status === null || entry.ip === null) continue;
      out.push({
        ip: entry.ip,
        port: splitAddress(entry.instance.address)!.port,
        zone: entry.instance.zone ?? '',
        weight: Math.max(1, Math.min(0xffffffff, Math.round((entry.instance.weight ?? 1) * scale))),
        health: status,
      });
    }
    return out;
  }

  /** Emits the state change when what is published for an instance changes. */
  private announce(entry: InstanceEntry, status: EndpointHealthStatus | null): void {
    if (status === entry.published) return;
    entry.published = status;
    const condition = this.condition(entry);
    let event: EventName | undefined;
    if (status === 'HEALTHY') event = 'endpoint_healthy';
    else if (status === 'UNHEALTHY') {
      event =
        condition?.t === 'not_serving'
          ? 'endpoint_not_serving'
          : condition?.t === 'transient_failure' || (condition?.t === 'connecting' && condition.settled)
            ? 'endpoint_unreachable'
            : 'endpoint_health_check_failing';
    }
    if (event === 'endpoint_healthy') emitEvent({ event, service: this.service, endpoint: entry.instance.address, source: 'xds' });
    else if (event) emitEvent({ event, service: this.service, endpoint: entry.instance.address, reason: this.describe(entry), source: 'xds' });
  }
}
