/**
 * grpc-js resolvers for the discovery schemes (file, etcd, consul, static, ha-dns, k8s): every
 * channel whose target names one of them follows the registry (or the DNS name, or the
 * Kubernetes Service) live, with every grpc-ha policy.
 *
 * How it plays with grpc-js (resolver.ts, resolving-load-balancer.ts):
 * - The registries push changes (inotify, etcd watch, Consul blocking query), so a result is
 *   reported when something changed, not when grpc-js asks. `updateResolution()` — called by the
 *   balancer whenever a connection drops — only hints the registry to look again, at most once
 *   per `grpc-ha.min_reresolution_ms` (default 1000): grpc-js resets its own resolution backoff
 *   on every result, so a resolver answering each request at once would let a flapping backend
 *   drive a tight resolve loop.
 * - While the registry is unreachable the resolver reports nothing: grpc-js keeps the last
 *   endpoints and their connections. Only when it never had an answer does it report
 *   UNAVAILABLE, so calls fail with the reason instead of waiting.
 * - The service's central service config goes with every result; an invalid document is
 *   logged and the last good one is kept (grpc-js would otherwise fail the resolution). Its text
 *   also goes in the result's attributes as `grpc.service_config`, which grpc-js merges over the
 *   options balancers see, so grpc-ha's health checking applies its `healthCheckConfig`.
 * - `grpc.service_config_disable_resolution: 1` makes the channel ignore the registry's config.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { experimental, status as Status, type ChannelOptions } from '@grpc/grpc-js';
import { assertSupportedGrpcJs } from './grpc-js-copy.js';
import { withAttributes, type AttributedEndpoint, type EndpointAttributes } from './endpoint-attributes.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { splitAddress } from '../core/address.js';
import { type ServiceInstance } from '../discovery/instance.js';
import { recordResolution, registryWatch } from '../observe/registry-stats.js';
import { BadEntryLog, loggerOr, type DiscoveryLogger } from '../discovery/log.js';
import { SERVICE_LABEL_OPTION } from '../observe/channel-observer.js';
import type { InstanceSource, Unsubscribe } from '../discovery/registry.js';
import { dnsDefaultAuthority, parseDnsName } from '../discovery/dns/dns-name.js';
import { kubernetesDefaultAuthority, parseKubernetesName } from '../discovery/kubernetes/kubernetes-name.js';
import { parseServiceConfigDocument, type ServiceConfig } from '../discovery/service-config-doc.js';
import { DISCOVERY_SCHEMES, parseDiscoveryTarget, type DiscoveryTarget } from '../discovery/target.js';

/** Channel option: a Registry (or other InstanceSource: DnsDiscovery, KubernetesDiscovery) to resolve the target's service with (for TLS, auth, tokens, custom TTLs). */
export const REGISTRY_CHANNEL_OPTION = 'grpc-ha.registry';
/** Channel option: least time between two re-resolution hints to the registry, ms. Defaults to 1000. */
export const MIN_RERESOLUTION_MS_OPTION = 'grpc-ha.min_reresolution_ms';
/** Default of {@link MIN_RERESOLUTION_MS_OPTION}. */
export const DEFAULT_MIN_RERESOLUTION_MS = 1000;

/** Channel options that resolve a discovery target through `registry` (merged over `base`); registers the resolvers with grpc-js. */
export function registryChannelOptions(registry: InstanceSource, base: ChannelOptions = {}): ChannelOptions {
  registerResolvers();
  return { ...base, [REGISTRY_CHANNEL_OPTION]: registry };
}

/** Registries created from targets, shared by the channels naming the same one, closed with the last. */
const sharedRegistries = new Map<string, { registry: InstanceSource; refs: number }>();

function acquire(target: DiscoveryTarget): InstanceSource {
  let entry = sharedRegistries.get(target.registryKey);
  if (!entry) {
    entry = { registry: target.createSource(), refs: 0 };
    sharedRegistries.set(target.registryKey, entry);
  }
  entry.refs++;
  return entry.registry;
}

function release(key: string, logger: DiscoveryLogger): void {
  const entry = sharedRegistries.get(key);
  if (!entry || --entry.refs > 0) return;
  sharedRegistries.delete(key);
  entry.registry.close().catch((error: unknown) => logger('error', `closing ${entry.registry.description}: ${String(error)}`));
}

function isSource(value: unknown): value is InstanceSource {
  const r = value as InstanceSource | null;
  return typeof r === 'object' && r !== null && typeof r.watch === 'function' && typeof r.resync === 'function';
}

/** One watch session, from the first updateResolution() to destroy(). */
interface Session {
  readonly registry: InstanceSource;
  readonly unsubscribe: Unsubscribe;
  instances: readonly ServiceInstance[] | null;
  configKnown: boolean;
  /** The last valid document's config; null when there is no document. */
  config: ServiceConfig | null;
  /** Its text. */
  configText: string | null;
  rejectedDocument: string | null;
  failedBeforeFirstResult: boolean;
  /** Whether a non-empty endpoint list was reported. */
  hadEndpoints: boolean;
  emitSeq: number;
}

/** The resolver grpc-js constructs for a discovery target. */
class DiscoveryResolver implements experimental.Resolver {
  private readonly target: DiscoveryTarget;
  private readonly provided: InstanceSource | undefined;
  private readonly ignoreServiceConfig: boolean;
  private readonly minReresolutionMs: number;
  private readonly logger: DiscoveryLogger;
  /** The service label of the channel's metrics and events, when the channel set none (a client built by hand). */
  private readonly serviceLabel: string | undefined;
  private session: Session | null = null;
  private lastResync = 0;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(
    uri: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    options: ChannelOptions,
  ) {
    this.target = parseDiscoveryTarget(uri);
    const provided: unknown = options[REGISTRY_CHANNEL_OPTION];
    if (provided !== undefined) {
      if (!isSource(provided)) {
        throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `channel option ${REGISTRY_CHANNEL_OPTION} must be a grpc-ha Registry or InstanceSource`);
      }
      if (provided.scheme !== this.target.scheme) {
        throw new GrpcHaError(
          ERROR_CODES.INVALID_CONFIG,
          `channel option ${REGISTRY_CHANNEL_OPTION} is a ${provided.scheme} registry, but the target ${this.target.text} is ${this.target.scheme}`,
        );
      }
      this.provided = provided;
    }
    this.ignoreServiceConfig = options['grpc.service_config_disable_resolution'] === 1;
    const min = options[MIN_RERESOLUTION_MS_OPTION];
    this.minReresolutionMs = typeof min === 'number' && min >= 0 ? min : DEFAULT_MIN_RERESOLUTION_MS;
    this.logger = loggerOr(undefined);
    this.serviceLabel = options[SERVICE_LABEL_OPTION] === undefined ? this.target.query.service : undefined;
  }

  updateResolution(): void {
    if (!this.session) {
      this.start();
      return;
    }
    if (this.resyncTimer) return;
    const wait = this.lastResync + this.minReresolutionMs - Date.now();
    const resync = () => {
      this.resyncTimer = undefined;
      this.lastResync = Date.now();
      this.session?.registry.resync(this.target.query);
    };
    if (wait <= 0) {
      resync();
    } else {
      this.resyncTimer = setTimeout(resync, wait);
      this.resyncTimer.unref();
    }
  }

  destroy(): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    const session = this.session;
    this.session = null;
    if (!session) return;
    session.unsubscribe();
    if (!this.provided) release(this.target.registryKey, this.logger);
  }

  /**
   * The default :authority of calls: the service name (a static list: its first address), with
   * every character that cannot be in a host name replaced by "-" ("foo/bar/svc" → "foo-bar-svc"):
   * HTTP/2 peers reset streams whose :authority holds a "/", and grpc-js parses it as a URL host.
   * DNS names keep theirs (`echo.example.com:50051`, as grpc-js's `dns:`; an SRV name without
   * its `_grpc._tcp.` labels) and Services are `service.namespace` (as kuberesolver's), so TLS
   * certificates for those names verify.
   */
  static getDefaultAuthority(uri: experimental.GrpcUri): string {
    const target = parseDiscoveryTarget(uri);
    if (target.scheme === 'static' && !uri.path.includes('?')) return target.query.service.split(/[;,]/)[0]!;
    if (target.scheme === 'ha-dns') return dnsDefaultAuthority(parseDnsName(target.query.service));
    if (target.scheme === 'k8s') return kubernetesDefaultAuthority(parseKubernetesName(target.query.service));
    return target.query.service.replace(/[^A-Za-z0-9._~-]/g, '-');
  }

  private start(): void {
    let registry: InstanceSource;
    try {
      registry = this.provided ?? acquire(this.target);
    } catch (error) {
      const message = `cannot create the registry client for ${this.target.text}: ${(error as Error).message}`;
      this.logger('error', message);
      setImmediate(() => this.listener(experimental.statusOrFromError({ code: Status.UNAVAILABLE, details: message }), {}, null, ''));
      return;
    }
    const session: Session = {
      registry,
      unsubscribe: () => undefined,
      instances: null,
      configKnown: false,
      config: null,
      configText: null,
      rejectedDocument: null,
      failedBeforeFirstResult: false,
      hadEndpoints: false,
      emitSeq: 0,
    };
    this.session = session;
    const watchStats = registryWatch(this.target.scheme, this.target.query.service);
    let unsubscribe: Unsubscribe;
    try {
      unsubscribe = registry.watch(this.target.query, {
        instances: (instances) => {
          if (this.session !== session) return;
          recordResolution(watchStats, session.instances, instances);
          session.instances = instances;
          void this.emit(session);
        },
        config: (document) => {
          if (this.session !== session) return;
          this.applyConfig(session, document);
          if (session.instances) void this.emit(session);
        },
        error: (error) => {
          watchStats.watchErrors++;
          if (this.session !== session || session.hadEndpoints || session.failedBeforeFirstResult) return;
          // Never had endpoints: fail calls with the reason rather than leave them waiting.
          session.failedBeforeFirstResult = true;
          this.listener(
            experimental.statusOrFromError({ code: Status.UNAVAILABLE, details: `${this.target.text}: ${error.message}` }),
            {},
            null,
            '',
          );
        },
      });
    } catch (error) {
      const message = `cannot watch ${this.target.text} in ${registry.description}: ${(error as Error).message}`;
      this.logger('error', message);
      setImmediate(() => {
        if (this.session === session) this.listener(experimental.statusOrFromError({ code: Status.UNAVAILABLE, details: message }), {}, null, '');
      });
      return;
    }
    (session as { unsubscribe: Unsubscribe }).unsubscribe = unsubscribe;
  }

  private applyConfig(session: Session, document: string | null): void {
    session.configKnown = true;
    if (this.ignoreServiceConfig) return;
    const service = this.target.query.service;
    if (document === null) {
      if (session.config) this.logger('info', `service config of ${service} removed from ${session.registry.description}`);
      session.config = null;
      session.configText = null;
      session.rejectedDocument = null;
      return;
    }
    const result = parseServiceConfigDocument(document);
    const key = `${session.registry.description}\0${service}`;
    if (result.ok) {
      session.config = result.config;
      session.configText = document;
      session.rejectedDocument = null;
      invalidConfigs.clear(key);
      this.logger('info', `applying service config of ${service} from ${session.registry.description}`);
    } else if (document !== session.rejectedDocument) {
      session.rejectedDocument = document;
      const kept = session.config ? 'keeping the last good one' : "using the channel's own";
      // Once per document for the process, not once per channel of the service.
      invalidConfigs.report(key, document, `ignoring invalid service config of ${service} in ${session.registry.description}: ${result.reason}; ${kept}`);
    }
  }

  private async emit(session: Session): Promise<void> {
    const seq = ++session.emitSeq;
    const instances = session.instances ?? [];
    const endpoints = await toEndpoints(instances, this.logger, unresolvable);
    if (this.session !== session || seq !== session.emitSeq) return;
    session.failedBeforeFirstResult = false;
    const note = instances.length === 0 ? `no instances of ${this.target.query.service} in ${session.registry.description}` : '';
    const useConfig = !this.ignoreServiceConfig && session.config !== null;
    const serviceConfig = useConfig ? experimental.statusOrFromValue(session.config!) : null;
    // grpc-js merges these attributes over the channel options its balancers see: policies that
    // read the service config from there (grpc-ha's health checking: healthCheckConfig) then see
    // the registry's document rather than the channel's own.
    // The same merge names the channel's metrics and events after the target's service rather
    // than "<policy>#<n>" when the channel was built by hand (createClient sets the label itself).
    const attributes = {
      ...(useConfig ? { 'grpc.service_config': session.configText } : {}),
      ...(this.serviceLabel === undefined ? {} : { [SERVICE_LABEL_OPTION]: this.serviceLabel }),
    };
    if (endpoints.length === 0 && !session.hadEndpoints) {
      // Before any endpoint, report "no instances" as an error: an empty list is "not accepted" by
      // most balancers, and until grpc-js accepts a result it queues calls until their deadline.
      this.listener(experimental.statusOrFromError({ code: Status.UNAVAILABLE, details: note }), attributes, serviceConfig, note);
      return;
    }
    session.hadEndpoints ||= endpoints.length > 0;
    this.listener(experimental.statusOrFromValue(endpoints), attributes, serviceConfig, note);
  }
}

/** Turns instances into grpc-js endpoints carrying grpc-ha attributes; DNS names are looked up. */
export async function toEndpoints(
  instances: readonly ServiceInstance[],
  logger: DiscoveryLogger,
  badEntries: BadEntryLog = new BadEntryLog(logger, 'toEndpoints'),
): Promise<AttributedEndpoint[]> {
  const endpoints: AttributedEndpoint[] = [];
  for (const instance of instances) {
    const hostPort = splitAddress(instance.address);
    if (!hostPort) continue; // registries validate addresses; defensive
    let hosts: string[];
    if (isIP(hostPort.host)) {
      hosts = [hostPort.host];
    } else {
      try {
        hosts = (await lookup(hostPort.host, { all: true })).map((a) => a.address);
      } catch (error) {
        const message = (error as Error).message;
        badEntries.report(badKey(instance), `${instance.address} ${(error as NodeJS.ErrnoException).code ?? message}`, `skipping ${instance.service} instance ${instance.instanceId}: cannot resolve ${hostPort.host}: ${message}`);
        continue;
      }
      badEntries.clear(badKey(instance));
    }
    endpoints.push(
      withAttributes({ addresses: hosts.map((host) => ({ host, port: hostPort.port })) }, attributesOf(instance)),
    );
  }
  return endpoints;
}

function badKey(instance: ServiceInstance): string {
  return JSON.stringify([instance.service, instance.instanceId]);
}

/**
 * Unresolvable addresses, logged once per instance and address for the whole process — not on
 * every list change of every channel that resolves the service.
 */
const unresolvable = new BadEntryLog(loggerOr(undefined), 'resolver');

/** Invalid service config documents, logged once per registry, service and document for the whole process. */
const invalidConfigs = new BadEntryLog(loggerOr(undefined), 'service-config');

function attributesOf(instance: ServiceInstance): EndpointAttributes {
  const attributes: { -readonly [K in keyof EndpointAttributes]: EndpointAttributes[K] } = { instanceId: instance.instanceId };
  if (instance.weight !== undefined) attributes.weight = instance.weight;
  if (instance.zone !== undefined) attributes.zone = instance.zone;
  if (instance.version !== undefined) attributes.version = instance.version;
  if (instance.labels !== undefined) attributes.labels = instance.labels;
  return attributes;
}

let registered = false;

/** Registers the file, etcd, consul, static, ha-dns and k8s resolvers with grpc-js. Idempotent; call before creating channels. */
export function registerResolvers(): void {
  if (registered) return;
  assertSupportedGrpcJs();
  registered = true;
  for (const scheme of DISCOVERY_SCHEMES) experimental.registerResolver(scheme, DiscoveryResolver);
}
