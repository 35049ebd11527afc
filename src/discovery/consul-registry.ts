/**
 * Consul registry over Consul's HTTP API (https://developer.hashicorp.com/consul/api-docs), with
 * the platform's `fetch`.
 *
 * Registration: PUT /v1/agent/service/register with a check that removes a dead instance —
 * a TTL check that we pass every TTL/3 (PUT /v1/agent/check/pass/service:<id>), or Consul's own
 * gRPC health check of the server — and `DeregisterCriticalServiceAfter`, so an instance whose
 * check stays critical is removed from the catalog. "If the check is critical for longer than
 * this duration, the service is automatically deregistered" (Consul docs). When the agent no
 * longer knows the check (agent restarted, service reaped) we register again.
 *
 * Discovery: blocking queries on GET /v1/health/service/<name>?passing (only instances whose
 * checks all pass), with `index` + `wait`, and on the KV key of the service config. Following
 * Consul's "Blocking Queries — Implementation Details": reset the index when it goes backwards,
 * never block on an index below 1, and rate-limit the loop, because "a blocking request is no
 * guarantee of a change" and may return at once.
 */
import { z } from 'zod';
import { integer, parseConfig } from '../core/parse-config.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { DEFAULT_BACKOFF, registryBackoff, type BackoffOptions } from './backoff.js';
import { formatAddress, parseAddress } from '../core/address.js';
import { checkInstance, parseRegistration, type ServiceInstanceInput, type ServiceInstance } from './instance.js';
import { KeptRegistration } from './kept-registration.js';
import { BadEntryLog, loggerOr, OutageLog, type DiscoveryLogger } from './log.js';
import type { RegisterOptions, Registration, Registry, ServiceQuery, Unsubscribe, WatchHandler } from './registry.js';
import { serviceConfigText } from './service-config-doc.js';
import { WatchHub, type WatchSource } from './watch-hub.js';

/** How Consul decides that an instance is dead. */
export type ConsulCheck =
  | {
      /** A TTL check that the registration passes every ttlS / 3 seconds. */
      readonly type: 'ttl';
      /** Seconds without a pass before the check turns critical. Defaults to 10. */
      readonly ttlS?: number;
    }
  | {
      /** Consul's gRPC health check: the agent calls grpc.health.v1.Health/Check on the instance. */
      readonly type: 'grpc';
      /** Service name sent in the health check request. Defaults to '' (the whole server). */
      readonly healthService?: string;
      /** Seconds between checks. Defaults to 10. */
      readonly intervalS?: number;
    };

/** Options of {@link ConsulRegistry}. */
export interface ConsulRegistryOptions {
  /** Agent HTTP address, `host:port` or `http(s)://host:port`. Defaults to $CONSUL_HTTP_ADDR, else 127.0.0.1:8500. */
  readonly address?: string;
  /** ACL token (X-Consul-Token). Defaults to $CONSUL_HTTP_TOKEN. */
  readonly token?: string;
  /** The check registered with each instance. Defaults to { type: 'ttl', ttlS: 10 }. */
  readonly check?: ConsulCheck;
  /** DeregisterCriticalServiceAfter, seconds. Defaults to 60 (Consul's minimum is 60 s; its reaper runs every 30 s). */
  readonly deregisterCriticalAfterS?: number;
  /** `wait` of blocking queries, seconds (Consul caps it at 600). Defaults to 30. */
  readonly waitS?: number;
  /** Least time between the starts of two queries of one watch, ms. Defaults to 200. */
  readonly minQueryIntervalMs?: number;
  /** Deadline of non-blocking requests, ms; a blocking query gets `waitS` × 17/16 (Consul's jitter) plus this. Defaults to 5000. */
  readonly requestTimeoutMs?: number;
  /** KV prefix of central service config documents: `<kvPrefix><service>`. Defaults to "grpc-ha/service-config/". */
  readonly kvPrefix?: string;
  /** Retry timing after failures. Defaults to 100 ms doubling to 5 s. */
  readonly backoff?: BackoffOptions;
  /** Where to log. */
  readonly logger?: DiscoveryLogger;
}

/** Defaults of {@link ConsulRegistryOptions}. */
export const CONSUL_REGISTRY_DEFAULTS = {
  address: '127.0.0.1:8500',
  ttlS: 10,
  grpcIntervalS: 10,
  deregisterCriticalAfterS: 60,
  waitS: 30,
  minQueryIntervalMs: 200,
  requestTimeoutMs: 5000,
  kvPrefix: 'grpc-ha/service-config/',
} as const;

const optionsSchema = z
  .object({
    address: z.string().min(1, { error: 'must not be empty' }).optional(),
    token: z.string().optional(),
    check: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('ttl'), ttlS: integer(1, 86_400).optional() }).strict(),
        z.object({ type: z.literal('grpc'), healthService: z.string().optional(), intervalS: integer(1, 86_400).optional() }).strict(),
      ], { error: 'must be { type: "ttl", ttlS } or { type: "grpc", intervalS, healthService }' })
      .optional(),
    deregisterCriticalAfterS: integer(1).optional(),
    waitS: integer(1, 600).optional(),
    minQueryIntervalMs: integer(0).optional(),
    requestTimeoutMs: integer(1).optional(),
    kvPrefix: z.string().optional(),
    backoff: z.unknown().optional(),
    logger: z.unknown().optional(),
  })
  .strict();

/** Consul Meta keys: "Keys can only contain ASCII characters, -, and _, up to 128 characters" (Consul docs). */
const META_KEY = /^[A-Za-z0-9_-]{1,128}$/;
/** Meta keys grpc-ha reads back into instance fields; every other key is a label. */
const RESERVED_META = new Set(['zone', 'version', 'weight']);

/** One entry of GET /v1/health/service/<name>, the fields we read. */
interface HealthEntry {
  Node?: { Address?: string; Datacenter?: string };
  Service?: {
    ID?: string;
    Service?: string;
    Tags?: string[] | null;
    Address?: string;
    Port?: number;
    Meta?: Record<string, string> | null;
    Weights?: { Passing?: number };
  };
}

/** The Consul registry; see the module doc. */
export class ConsulRegistry implements Registry {
  /** "consul". */
  readonly scheme = 'consul';
  /** "consul agent <address>". */
  readonly description: string;
  private readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly check: ConsulCheck;
  private readonly deregisterAfterS: number;
  /** `wait` of blocking queries, seconds. */
  readonly waitS: number;
  /** Least time between two queries of one watch, ms. */
  readonly minQueryIntervalMs: number;
  /** Deadline of non-blocking requests, and margin of blocking ones over their wait, ms. */
  readonly requestTimeoutMs: number;
  private readonly kvPrefix: string;
  private readonly backoff: BackoffOptions;
  private readonly logger: DiscoveryLogger;
  private readonly hub: WatchHub;
  private readonly registrations = new Set<KeptRegistration>();

  constructor(options: ConsulRegistryOptions = {}) {
    const o = parseConfig('consul registry', optionsSchema, options);
    const address = o.address ?? process.env['CONSUL_HTTP_ADDR'] ?? CONSUL_REGISTRY_DEFAULTS.address;
    const secure = address.startsWith('https://');
    const hostPort = address.replace(/^https?:\/\//, '');
    parseAddress(hostPort, 'consul registry: address');
    this.baseUrl = `${secure ? 'https' : 'http'}://${hostPort}`;
    this.token = o.token ?? process.env['CONSUL_HTTP_TOKEN'] ?? undefined;
    this.check = o.check ?? { type: 'ttl' };
    this.deregisterAfterS = o.deregisterCriticalAfterS ?? CONSUL_REGISTRY_DEFAULTS.deregisterCriticalAfterS;
    this.waitS = o.waitS ?? CONSUL_REGISTRY_DEFAULTS.waitS;
    this.minQueryIntervalMs = o.minQueryIntervalMs ?? CONSUL_REGISTRY_DEFAULTS.minQueryIntervalMs;
    this.requestTimeoutMs = o.requestTimeoutMs ?? CONSUL_REGISTRY_DEFAULTS.requestTimeoutMs;
    this.kvPrefix = o.kvPrefix ?? CONSUL_REGISTRY_DEFAULTS.kvPrefix;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.logger = loggerOr(options.logger);
    this.description = `consul agent ${hostPort}`;
    this.hub = new WatchHub((query, sink) => new ConsulServiceWatch(this, query, sink), this.logger);
  }

  /** Registers with the local agent, with a TTL or gRPC check and DeregisterCriticalServiceAfter. */
  register(input: ServiceInstanceInput, options?: RegisterOptions): Registration {
    const instance = parseRegistration('consul registry: register', input);
    for (const key of Object.keys(instance.labels ?? {})) {
      if (!META_KEY.test(key) || RESERVED_META.has(key) || key.startsWith('consul-')) {
        throw new GrpcHaError(
          ERROR_CODES.INVALID_CONFIG,
          `consul registry: register: labels key ${JSON.stringify(key)} must match ${META_KEY.source} (Consul Meta keys), not start with "consul-" nor be zone, version or weight`,
        );
      }
    }
    const id = instance.instanceId;
    const checkId = `service:${id}`;
    const body = JSON.stringify(this.registrationBody(instance, checkId));
    const ttlMs = (this.check.type === 'ttl' ? (this.check.ttlS ?? CONSUL_REGISTRY_DEFAULTS.ttlS) : (this.check.intervalS ?? CONSUL_REGISTRY_DEFAULTS.grpcIntervalS)) * 1000;
    const registration = new KeptRegistration(
      instance,
      { refreshIntervalMs: Math.max(100, Math.floor(ttlMs / 3)), backoff: this.backoff, logger: this.logger, where: this.description },
      {
        onStateChange: (state) => {
          if (state.t === 'closed') this.registrations.delete(registration);
          options?.onStateChange?.(state);
        },
      },
    );
    this.registrations.add(registration);
    const pass = () => this.call('PUT', `/v1/agent/check/pass/${encodeURIComponent(checkId)}`);
    return registration.start({
      put: async () => {
        await this.expectOk(await this.call('PUT', '/v1/agent/service/register', body), 'registering');
        // A TTL check starts critical ("Status ... defaults to critical"): pass it at once.
        if (this.check.type === 'ttl') await this.expectOk(await pass(), 'passing the TTL check');
      },
      refresh: async () => {
        const response = this.check.type === 'ttl' ? await pass() : await this.call('GET', `/v1/agent/service/${encodeURIComponent(id)}`);
        await response.text();
        if (response.ok) return 'ok';
        // The agent forgot the check or the service (restarted, or reaped it as critical).
        if (response.status === 404 || response.status === 500) return 'lost';
        throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${this.description} answered ${response.status}`);
      },
      remove: async () => {
        await this.expectOk(await this.call('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`), 'deregistering');
      },
    });
  }

  /** Watches a service's passing instances and config document. */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    return this.hub.watch(query, handler);
  }

  /** Blocking queries return on change; nothing to do. */
  resync(_query: ServiceQuery): void {}

  /** Puts the document at `<kvPrefix><service>` in Consul's KV store after validating it. */
  async putServiceConfig(service: string, document: string | object): Promise<void> {
    const text = serviceConfigText(service, document);
    await this.expectOk(await this.call('PUT', this.kvPath(service), text), 'writing the service config');
  }

  /** Deletes the service's config document. */
  async deleteServiceConfig(service: string): Promise<void> {
    await this.expectOk(await this.call('DELETE', this.kvPath(service)), 'deleting the service config');
  }

  /** Deregisters every registration made here and stops every watch. */
  async close(): Promise<void> {
    this.hub.closeAll();
    await Promise.all([...this.registrations].map((r) => r.close()));
  }

  /** Keeps channel-option logging small. */
  toJSON(): string {
    return this.description;
  }

  /** The KV path of a service's config document. */
  kvPath(service: string): string {
    return `/v1/kv/${`${this.kvPrefix}${service}`.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** One HTTP request to the agent; `signal` aborts it, else it times out after requestTimeoutMs. */
  async call(method: string, pathAndQuery: string, body?: string, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers['X-Consul-Token'] = this.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(`${this.baseUrl}${pathAndQuery}`, {
        method,
        headers,
        body,
        signal: signal ?? AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new GrpcHaError(
        ERROR_CODES.REGISTRY_UNAVAILABLE,
        `${this.description} unreachable: ${cause?.code ?? (error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** The logger (for watches). */
  get log(): DiscoveryLogger {
    return this.logger;
  }

  /** The backoff settings (for watches). */
  get backoffOptions(): BackoffOptions {
    return this.backoff;
  }

  private async expectOk(response: Response, what: string): Promise<void> {
    const text = await response.text();
    if (!response.ok) {
      throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${this.description}: ${what} failed with ${response.status}: ${text.trim().slice(0, 200)}`);
    }
  }

  private registrationBody(instance: ServiceInstance, checkId: string): object {
    const { host, port } = parseAddress(instance.address);
    const meta: Record<string, string> = { ...instance.labels };
    if (instance.zone !== undefined) meta['zone'] = instance.zone;
    if (instance.version !== undefined) meta['version'] = instance.version;
    if (instance.weight !== undefined) meta['weight'] = String(instance.weight);
    const deregister = `${this.deregisterAfterS}s`;
    const check =
      this.check.type === 'ttl'
        ? { CheckID: checkId, Name: 'grpc-ha TTL', TTL: `${this.check.ttlS ?? CONSUL_REGISTRY_DEFAULTS.ttlS}s`, DeregisterCriticalServiceAfter: deregister }
        : {
            CheckID: checkId,
            Name: 'gRPC health',
            GRPC: `${formatAddress(host, port)}/${this.check.healthService ?? ''}`,
            GRPCUseTLS: false,
            Interval: `${this.check.intervalS ?? CONSUL_REGISTRY_DEFAULTS.grpcIntervalS}s`,
            DeregisterCriticalServiceAfter: deregister,
          };
    return {
      ID: instance.instanceId,
      Name: instance.service,
      Address: host,
      Port: port,
      Tags: instance.tags ?? [],
      Meta: meta,
      // Consul's DNS interface weighs by Weights.Passing, an integer >= 1.
      Weights: { Passing: Math.max(1, Math.round(instance.weight ?? 1)), Warning: 1 },
      Check: check,
    };
  }
}

/** Turns one health entry into an instance; never throws. */
export function decodeHealthEntry(service: string, entry: HealthEntry): { ok: true; instance: ServiceInstance } | { ok: false; reason: string } {
  const s = entry.Service;
  if (!s || typeof s !== 'object') return { ok: false, reason: 'entry has no Service' };
  const host = s.Address || entry.Node?.Address;
  if (typeof host !== 'string' || typeof s.Port !== 'number') return { ok: false, reason: `service ${s.ID} has no address or port` };
  const meta = s.Meta ?? {};
  const labels = Object.fromEntries(Object.entries(meta).filter(([k]) => !RESERVED_META.has(k)));
  const metaWeight = meta['weight'] === undefined ? NaN : Number(meta['weight']);
  const weight = metaWeight > 0 ? metaWeight : s.Weights?.Passing && s.Weights.Passing > 0 ? s.Weights.Passing : undefined;
  return checkInstance({
    service,
    instanceId: s.ID,
    address: formatAddress(host, s.Port),
    ...(weight === undefined ? {} : { weight }),
    ...(meta['zone'] ? { zone: meta['zone'] } : {}),
    ...(meta['version'] ? { version: meta['version'] } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(s.Tags && s.Tags.length > 0 ? { tags: s.Tags } : {}),
  });
}

/** Two blocking-query loops (health, KV) for one query; see the module doc. */
class ConsulServiceWatch implements WatchSource {
  private readonly abort = new AbortController();
  private readonly outage: OutageLog;
  private readonly skipped: BadEntryLog;

  constructor(
    private readonly registry: ConsulRegistry,
    private readonly query: ServiceQuery,
    private readonly sink: WatchHandler,
  ) {
    this.outage = new OutageLog(registry.log, `${registry.description}: watching ${query.service}`, query.service);
    this.skipped = new BadEntryLog(registry.log, registry.description);
    const params = [`passing`];
    if (query.datacenter !== undefined) params.push(`dc=${encodeURIComponent(query.datacenter)}`);
    for (const tag of query.tags ?? []) params.push(`tag=${encodeURIComponent(tag)}`);
    const health = `/v1/health/service/${encodeURIComponent(query.service)}?${params.join('&')}`;
    const kv = `${registry.kvPath(query.service)}${query.datacenter === undefined ? '' : `?dc=${encodeURIComponent(query.datacenter)}`}`;
    void this.loop(kv, async (response) => {
      if (response.status === 404) {
        await response.text();
        this.sink.config(null);
        return;
      }
      const body = (await response.json()) as { Value?: string | null }[];
      const value = body[0]?.Value;
      this.sink.config(typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : null);
    });
    void this.loop(health, async (response) => {
      const entries = (await response.json()) as HealthEntry[];
      if (!Array.isArray(entries)) throw new Error('health answer is not a JSON array');
      const instances: ServiceInstance[] = [];
      for (const entry of entries) {
        const decoded = decodeHealthEntry(query.service, entry);
        if (decoded.ok) {
          instances.push(decoded.instance);
        } else {
          const mark = JSON.stringify(entry.Service ?? entry);
          this.skipped.report(`${query.service}/${entry.Service?.ID ?? mark}`, mark, `${this.registry.description}: skipping an instance of ${query.service}: ${decoded.reason}`);
        }
      }
      this.sink.instances(instances);
    });
  }

  stop(): void {
    this.abort.abort();
  }

  /** One blocking-query loop: index handling, rate limit, backoff on failure. */
  private async loop(pathAndQuery: string, handle: (response: Response) => Promise<void>): Promise<void> {
    const { waitS, minQueryIntervalMs } = this.registry;
    const backoff = registryBackoff(this.registry.backoffOptions);
    const separator = pathAndQuery.includes('?') ? '&' : '?';
    let index = 0;
    let lastStart = -Infinity;
    while (!this.abort.signal.aborted) {
      const pause = lastStart + minQueryIntervalMs - performance.now();
      if (pause > 0) await sleep(pause, this.abort.signal);
      if (this.abort.signal.aborted) return;
      lastStart = performance.now();
      try {
        const url = index > 0 ? `${pathAndQuery}${separator}index=${index}&wait=${waitS}s` : pathAndQuery;
        // Consul adds up to wait/16 of jitter to the wait; allow that plus a request timeout. An
        // agent that hangs mid query (stopped, stuck raft) is then an outage, not a silent freeze.
        const timeoutMs = Math.ceil(index > 0 ? (waitS * 1000 * 17) / 16 + this.registry.requestTimeoutMs : this.registry.requestTimeoutMs);
        const timeout = AbortSignal.timeout(timeoutMs);
        let response: Response;
        try {
          response = await this.registry.call('GET', url, undefined, AbortSignal.any([this.abort.signal, timeout]));
        } catch (error) {
          if (!timeout.aborted || this.abort.signal.aborted) throw error;
          const blocking = index > 0 ? ` (a blocking query: wait ${waitS} s + ${waitS / 16} s jitter + requestTimeoutMs)` : ' (requestTimeoutMs)';
          throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${this.registry.description} unreachable: no answer within ${timeoutMs} ms${blocking}`, { cause: error });
        }
        if (response.status !== 200 && response.status !== 404) {
          const text = await response.text();
          throw new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${this.registry.description} answered ${response.status}: ${text.trim().slice(0, 200)}`);
        }
        const next = Number(response.headers.get('X-Consul-Index'));
        await handle(response);
        if (this.abort.signal.aborted) return;
        // "Reset the index if it goes backwards"; an index below 1 would not block at all.
        index = !Number.isFinite(next) || next < index ? 0 : Math.max(1, next);
        backoff.reset();
        this.outage.ok();
      } catch (error) {
        if (this.abort.signal.aborted) return;
        index = 0;
        const wrapped = GrpcHaError.from(error, ERROR_CODES.REGISTRY_UNAVAILABLE);
        this.outage.failed(wrapped, 'keeping the last known instances');
        this.sink.error(wrapped);
        await sleep(backoff.next(), this.abort.signal);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
