/**
 * Kubernetes EndpointSlices as an instance source: `k8s:///service.namespace:port` follows the
 * pods of a Service as the API reports them, with no DNS and no polling.
 *
 * The watch follows "Kubernetes API Concepts — Efficient detection of changes": list the
 * Service's slices (label `kubernetes.io/service-name`), then watch from the list's
 * resourceVersion with `allowWatchBookmarks=true`; every event and bookmark moves the
 * resourceVersion forward, so a watch the server ended (its timeoutSeconds, an API server
 * restart) is resumed where it stopped without listing again. "When the requested watch
 * operations fail because the historical version of that resource is not available, clients
 * must handle the case by recognizing the status code 410 Gone, clearing their local cache,
 * performing a new get or list operation, and starting the watch from the resourceVersion that
 * was returned" — a 410, as an HTTP status or as an ERROR event, leads to a fresh list.
 *
 * While the API is unreachable (or refuses us) the last instances stand, the outage is logged
 * once (registry_unreachable / registry_recovered), and the watch is retried with backoff; a
 * resync (a channel's connection dropped) cuts the wait short. Unlike kuberesolver (Go), the
 * slices of a Service are merged, not each taken for the whole Service, and the resourceVersion
 * is kept, so no change between two watches is missed.
 */
import { z } from 'zod';
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';
import { integer, parseConfig } from '../../core/parse-config.js';
import { registryBackoff, type BackoffOptions } from '../backoff.js';
import { loggerOr, OutageLog, type DiscoveryLogger } from '../log.js';
import type { InstanceSource, ServiceQuery, Unsubscribe, WatchHandler } from '../registry.js';
import { WatchHub, type WatchSource } from '../watch-hub.js';
import { eventError, KubernetesApiClient, KubernetesApiError, type WatchEvent } from './api-client.js';
import { instancesFromSlices, type EndpointSlice } from './endpoint-slices.js';
import { kubernetesConnection, type KubernetesConnection, type KubernetesConnectionOptions } from './kube-config.js';
import { parseKubernetesName, type KubernetesName } from './kubernetes-name.js';

/** Options of {@link KubernetesDiscovery}: how to reach the API (see kube-config.ts), and timing. */
export interface KubernetesDiscoveryOptions extends KubernetesConnectionOptions {
  /** Least `timeoutSeconds` of a watch; each watch asks for a random value in [this, 2 × this), as client-go's reflector. Defaults to 300. */
  readonly watchTimeoutS?: number;
  /** A list request fails after this long without data, ms. Defaults to 10000. */
  readonly requestTimeoutMs?: number;
  /** Retry timing after failures. Defaults to 100 ms doubling to 5 s. */
  readonly backoff?: BackoffOptions;
  /** Where to log. */
  readonly logger?: DiscoveryLogger;
}

/** Defaults of {@link KubernetesDiscoveryOptions}. */
export const KUBERNETES_DISCOVERY_DEFAULTS = { watchTimeoutS: 300, requestTimeoutMs: 10_000 } as const;

const optionsSchema = z
  .object({
    apiServer: z.string().optional(),
    token: z.string().optional(),
    tokenFile: z.string().optional(),
    ca: z.union([z.string(), z.instanceof(Buffer)], { error: 'must be PEM text or a Buffer' }).optional(),
    caFile: z.string().optional(),
    insecureSkipTlsVerify: z.boolean().optional(),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: 'must be a DNS-1123 label' }).optional(),
    kubeconfig: z.string().optional(),
    context: z.string().optional(),
    serviceAccountDir: z.string().optional(),
    watchTimeoutS: integer(1, 3600).optional(),
    requestTimeoutMs: integer(1).optional(),
    backoff: z.unknown().optional(),
    logger: z.unknown().optional(),
  })
  .strict();

/** The `k8s:` instance source; see the module doc. */
export class KubernetesDiscovery implements InstanceSource {
  /** "k8s". */
  readonly scheme = 'k8s';
  /** "kubernetes API https://10.96.0.1:443 (in-cluster)". */
  readonly description: string;
  /** Namespace of names that give none. */
  readonly namespace: string;
  /** Least timeoutSeconds of a watch. */
  readonly watchTimeoutS: number;
  /** The API client. */
  readonly api: KubernetesApiClient;
  private readonly backoff: BackoffOptions;
  private readonly logger: DiscoveryLogger;
  private readonly hub: WatchHub;

  constructor(options: KubernetesDiscoveryOptions = {}) {
    const o = parseConfig('k8s', optionsSchema, options);
    const connection: KubernetesConnection = kubernetesConnection(o);
    this.description = connection.description;
    this.namespace = connection.namespace;
    this.watchTimeoutS = o.watchTimeoutS ?? KUBERNETES_DISCOVERY_DEFAULTS.watchTimeoutS;
    this.api = new KubernetesApiClient(connection, o.requestTimeoutMs ?? KUBERNETES_DISCOVERY_DEFAULTS.requestTimeoutMs);
    this.backoff = { ...options.backoff };
    this.logger = loggerOr(options.logger);
    this.hub = new WatchHub((query, sink) => new SliceWatch(this, query, sink), this.logger);
  }

  /** Watches the Service `query.service` names (`service[.namespace][:port]`). */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    if (query.datacenter !== undefined || (query.tags?.length ?? 0) > 0) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, 'k8s: Services have no tags nor datacenter');
    }
    parseKubernetesName(query.service);
    return this.hub.watch(query, handler);
  }

  /** Retries a failed watch now instead of after its backoff. */
  resync(query: ServiceQuery): void {
    this.hub.resync(query);
  }

  /** Stops every watch. */
  async close(): Promise<void> {
    this.hub.closeAll();
  }

  /** Keeps channel-option logging small. */
  toJSON(): string {
    return this.description;
  }

  /** The logger (for watches). */
  get log(): DiscoveryLogger {
    return this.logger;
  }

  /** The retry timing (for watches). */
  get backoffOptions(): BackoffOptions {
    return this.backoff;
  }
}

/** One Service's slices: list, watch from the resourceVersion, list again only after a 410. */
class SliceWatch implements WatchSource {
  private readonly name: KubernetesName;
  private readonly namespace: string;
  private readonly abort = new AbortController();
  private readonly outage: OutageLog;
  private readonly reported = new Set<string>();
  private slices = new Map<string, EndpointSlice>();
  private resourceVersion: string | null = null;
  private wake: (() => void) | null = null;
  private reportQueued = false;

  constructor(
    private readonly owner: KubernetesDiscovery,
    private readonly query: ServiceQuery,
    private readonly sink: WatchHandler,
  ) {
    this.name = parseKubernetesName(query.service);
    this.namespace = this.name.namespace ?? owner.namespace;
    this.outage = new OutageLog(owner.log, `${owner.description}: watching EndpointSlices of ${this.namespace}/${this.name.service}`, query.service);
    // EndpointSlices carry no service config document.
    sink.config(null);
    void this.loop();
  }

  stop(): void {
    this.abort.abort();
    this.wake?.();
  }

  resync(): void {
    this.wake?.();
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    const backoff = registryBackoff(this.owner.backoffOptions);
    const api = this.owner.api;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === null) {
          const list = await api.listSlices(this.namespace, this.name.service, signal);
          if (signal.aborted) return;
          this.slices = new Map(list.items.map((s) => [s.metadata.name, s]));
          this.resourceVersion = list.resourceVersion;
          this.outage.ok();
          this.report();
        }
        // client-go's reflector: a timeout in [min, 2 × min), so many clients do not re-watch in step.
        const timeoutS = Math.floor(this.owner.watchTimeoutS * (1 + Math.random()));
        await api.watchSlices(
          this.namespace,
          this.name.service,
          this.resourceVersion,
          timeoutS,
          {
            // The API answers again: the endpoints we hold are current as of our resourceVersion.
            onOpen: () => {
              this.outage.ok();
              backoff.reset();
            },
            onEvent: (event) => this.apply(event),
          },
          signal,
        );
        backoff.reset(); // ended by the server: resume from the resourceVersion at once
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof KubernetesApiError && error.status === 410) {
          this.owner.log('info', `${this.owner.description}: resourceVersion ${this.resourceVersion} of ${this.namespace}/${this.name.service} expired (410 ${error.reason}); listing again`);
          this.resourceVersion = null;
          continue;
        }
        const wrapped = GrpcHaError.from(error, ERROR_CODES.REGISTRY_UNAVAILABLE);
        this.outage.failed(wrapped, 'keeping the last known endpoints');
        this.sink.error(wrapped);
        await this.sleep(backoff.next());
      }
    }
  }

  private apply(event: WatchEvent): void {
    const object = event.object;
    if (event.type === 'ERROR') throw eventError(`${this.owner.description}: watching ${this.namespace}/${this.name.service}`, object);
    const version = object?.metadata?.resourceVersion;
    if (typeof version === 'string') this.resourceVersion = version;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.slices.set(object.metadata.name, object);
        this.report();
        break;
      case 'DELETED':
        this.slices.delete(object.metadata.name);
        this.report();
        break;
      case 'BOOKMARK':
        break; // only the resourceVersion matters
    }
  }

  /** Reports the merged instances once per burst of events (a watch chunk often holds several). */
  private report(): void {
    if (this.reportQueued) return;
    this.reportQueued = true;
    queueMicrotask(() => {
      this.reportQueued = false;
      if (this.abort.signal.aborted) return;
      const { instances, problems } = instancesFromSlices(this.query.service, this.slices.values(), this.name.port);
      for (const problem of problems) {
        if (this.reported.has(problem)) continue;
        this.reported.add(problem);
        this.owner.log('error', `${this.owner.description}: ${this.namespace}/${this.name.service}: skipping ${problem}`);
      }
      this.sink.instances(instances);
    });
  }

  /** Waits `ms`, or less when resync() or stop() wakes it. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
