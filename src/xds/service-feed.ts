/**
 * The control plane's view of one service: its instances and central service config from the
 * registry, each instance's health from the control plane's own checks (published-instance.ts),
 * and the four xDS resources built from them — re-encoded on a change, with a new version only
 * for a resource whose bytes changed. Changes that arrive together (a registry answer, a burst of
 * health answers) are published once, at the end of the turn. The first publication waits until
 * every listed instance has a health answer (or timed out), so a client that dials early waits
 * for its first EDS instead of failing its calls on an empty one.
 */
import type { ServiceConfig } from '@grpc/grpc-js/build/src/service-config.js';
import { healthCheckServiceName } from '../core/health/health-config.js';
import type { ServiceInstance } from '../discovery/instance.js';
import type { Registry, Unsubscribe } from '../discovery/registry.js';
import { parseServiceConfigDocument } from '../discovery/service-config-doc.js';
import { recordResolution, registryWatch } from '../observe/registry-stats.js';
import type { XdsServiceView } from '../observe/xds-observer.js';
import type { EncodedResource, EnvoyCodec } from './envoy-protos.js';
import { clusterPolicy, type ClusterPolicy } from './lb-policy.js';
import { PublishedInstance, type InstanceSettings } from './published-instance.js';
import { clusterResource, endpointsResource, listenerResource, routeResource, type PublishedEndpoint, type ResourceType } from './resources.js';
import { serviceRoutes } from './routes.js';

/** What every feed of one control plane shares. */
export interface FeedSettings extends InstanceSettings {
  readonly registry: Registry;
  readonly codec: EnvoyCodec;
}

/** A resource and its version. */
export interface VersionedResource {
  readonly version: number;
  readonly resource: EncodedResource;
}

/** Resource versions are unique across the control plane: a version names one resource content. */
let lastVersion = 0;

/** Receives the resource types whose content changed. */
export type FeedListener = (changed: ReadonlySet<ResourceType>) => void;

const now = () => performance.timeOrigin + performance.now();

/** One service, as the control plane publishes it. */
export class ServiceFeed {
  private readonly instances = new Map<string, PublishedInstance>();
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
    for (const instance of this.instances.values()) if (instance.pending) return false;
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
    for (const instance of this.instances.values()) instance.close();
    this.instances.clear();
    this.listeners.clear();
  }

  /** The state shown by the admin API. */
  view(): XdsServiceView {
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
      endpoints: [...this.instances.values()].map((i) => i.view()),
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
      for (const instance of this.instances.values()) instance.checkHealth(checked);
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
      const known = this.instances.get(instance.instanceId);
      if (known && known.instance.address === instance.address) known.registered(instance);
      else {
        known?.close();
        this.add(instance);
      }
    }
    for (const [id, instance] of this.instances) if (!seen.has(id)) instance.deregistered();
    this.instancesKnown = true;
    this.schedule();
  }

  private add(instance: ServiceInstance): void {
    const published: PublishedInstance = new PublishedInstance(
      instance,
      this.service,
      this.settings,
      this.healthService,
      () => this.schedule(),
      () => {
        if (this.instances.get(instance.instanceId) !== published) return;
        published.close();
        this.instances.delete(instance.instanceId);
        this.schedule();
      },
    );
    this.instances.set(instance.instanceId, published);
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
    const instances = [...this.instances.values()].sort((a, b) => (a.instance.instanceId < b.instance.instanceId ? -1 : 1));
    // Weights are integers in EDS; fractional registry weights are scaled to keep their ratios.
    const scale = instances.every((i) => Number.isInteger(i.instance.weight ?? 1)) ? 1 : 1000;
    const out: PublishedEndpoint[] = [];
    for (const instance of instances) {
      const endpoint = instance.endpoint(scale);
      if (endpoint) out.push(endpoint);
    }
    return out;
  }
}
