/**
 * etcd registry, with the `etcd3` client, in the key layout of etcd's Go naming package (see
 * etcd-naming.ts).
 *
 * Registration: the entry is put under a lease of `leaseTtlS` seconds that etcd3 keeps alive
 * (a keep-alive every TTL/3, as the Go client does), so a crashed server's entry vanishes when
 * the lease expires. When the lease is lost (etcd unreachable for longer than the TTL, or etcd
 * says it expired) or the key is gone, the entry is written again under a new lease.
 *
 * Discovery: get the prefix (in pages at one revision: etcd-range-read.ts), then watch it from
 * the revision after the get. Unlike the Go
 * resolver — which stops on a watch error, leaving the client with a frozen endpoint list — a
 * watch cancelled by the server (its start revision was compacted) or a stream that reconnects
 * after an outage leads to a fresh get and a watch resumed from that get's revision; events
 * older than the listing are dropped, so nothing is applied twice or out of order.
 *
 * Edges (docs/discovery.md "Bounds"): the connection sends gRPC keepalive pings while a watch is
 * open — a hung etcd (SIGSTOP, a frozen VM) answers no ping, grpc-js drops the connection after
 * `keepaliveTimeoutMs`, and the watch reports the outage like a closed stream; the Go client's
 * DialKeepAliveTime/DialKeepAliveTimeout do the same. While etcd is down the connection and the
 * watches and registrations try again at least every `reconnectMaxMs`, so a registration made once it is back
 * reaches clients within about that. Errors etcd answered (permission denied, a value over the
 * receive limit) are reported as what they are and retried on the slower `backoff`.
 */
import { ExponentialBackoff, noop, type IBackoff } from 'cockatiel';
import { Etcd3, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import { EtcdRangeReader, etcdUnreachable, type EtcdRange, type KvEntry } from './etcd-range-read.js';
import { z } from 'zod';
import { integer, parseConfig } from '../core/parse-config.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { Backoff } from '../core/backoff.js';
import { DEFAULT_BACKOFF, registryBackoff, type BackoffOptions } from './backoff.js';
import { decodeEndpoint, encodeEndpoint, endpointKey, endpointPrefix } from './etcd-naming.js';
import { parseAddress } from '../core/address.js';
import { parseRegistration, type ServiceInstanceInput, type ServiceInstance } from './instance.js';
import { KeptRegistration } from './kept-registration.js';
import { BadEntryLog, loggerOr, OutageLog, type DiscoveryLogger } from './log.js';
import type { RegisterOptions, Registration, Registry, ServiceQuery, Unsubscribe, WatchHandler } from './registry.js';
import { serviceConfigText } from './service-config-doc.js';
import { WatchHub, type WatchSource } from './watch-hub.js';

/** TLS settings for etcd (PEM contents). */
export interface EtcdTlsOptions {
  /** CA certificate(s) to trust; defaults to the system's roots. */
  readonly ca?: Buffer;
  /** Client certificate chain, for mutual TLS. */
  readonly cert?: Buffer;
  /** Client private key, for mutual TLS. */
  readonly key?: Buffer;
}

/** Options of {@link EtcdRegistry}. */
export interface EtcdRegistryOptions {
  /** etcd endpoints, `host:port` (or `http(s)://host:port`). Defaults to ["127.0.0.1:2379"]. */
  readonly endpoints?: readonly string[];
  /** User and password, when etcd has authentication enabled. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** TLS: true for the system's roots, or PEM material. Defaults to plaintext (unless an endpoint says https://). */
  readonly tls?: boolean | EtcdTlsOptions;
  /** TTL of registration leases, seconds (etcd's minimum is 1... but keep-alives need slack). Defaults to 10. */
  readonly leaseTtlS?: number;
  /** Deadline of each unary etcd call, ms. Defaults to 5000. */
  readonly requestTimeoutMs?: number;
  /** How often a registration checks that its key is still there, ms. Defaults to leaseTtlS × 1000 / 2. */
  readonly checkIntervalMs?: number;
  /** Key prefix of central service config documents: `<configPrefix><service>`. Defaults to "grpc-ha/service-config/". */
  readonly configPrefix?: string;
  /** Retry timing of registrations, and of lists etcd refused. Defaults to 100 ms doubling to 5 s. */
  readonly backoff?: BackoffOptions;
  /** Largest wait between two attempts to reach etcd while it is down (connection, watch re-list, registration write), ms: a registration made once etcd is back, or retried through the outage, reaches clients within about this. Defaults to 500. */
  readonly reconnectMaxMs?: number;
  /** gRPC keepalive ping interval while a watch or lease stream is open, ms; etcd answers GOAWAY to pings more frequent than its --grpc-keepalive-min-time (5 s by default). Defaults to 10000. */
  readonly keepaliveMs?: number;
  /** How long a keepalive ping may go unanswered before the connection counts as dead, ms: a hung etcd is reported within keepaliveMs + keepaliveTimeoutMs. Defaults to 5000. */
  readonly keepaliveTimeoutMs?: number;
  /** Largest answer accepted from etcd, bytes: listings are paged well under it; a single value or watch batch above it is an error naming this option. Defaults to 16 MiB. */
  readonly maxReceiveBytes?: number;
  /** Where to log. */
  readonly logger?: DiscoveryLogger;
}

/** Defaults of {@link EtcdRegistryOptions}. */
export const ETCD_REGISTRY_DEFAULTS = {
  endpoints: ['127.0.0.1:2379'],
  leaseTtlS: 10,
  requestTimeoutMs: 5000,
  configPrefix: 'grpc-ha/service-config/',
  reconnectMaxMs: 500,
  keepaliveMs: 10_000,
  keepaliveTimeoutMs: 5000,
  maxReceiveBytes: 16 * 1024 * 1024,
} as const;

const optionsSchema = z
  .object({
    endpoints: z.array(z.string({ error: 'must be host:port strings' })).min(1, { error: 'must not be empty' }).optional(),
    auth: z
      .object({ username: z.string().min(1, { error: 'must not be empty' }), password: z.string() })
      .strict()
      .optional(),
    tls: z.union([z.boolean(), z.object({ ca: z.instanceof(Buffer).optional(), cert: z.instanceof(Buffer).optional(), key: z.instanceof(Buffer).optional() }).strict()], { error: 'must be a boolean or { ca, cert, key } Buffers' }).optional(),
    leaseTtlS: integer(2, 86_400).optional(),
    requestTimeoutMs: integer(1).optional(),
    checkIntervalMs: integer(10).optional(),
    configPrefix: z.string().min(1, { error: 'must not be empty' }).optional(),
    backoff: z.unknown().optional(),
    reconnectMaxMs: integer(10, 60_000).optional(),
    keepaliveMs: integer(1000).optional(),
    keepaliveTimeoutMs: integer(100).optional(),
    maxReceiveBytes: integer(1024).optional(),
    logger: z.unknown().optional(),
  })
  .strict();

/** The etcd registry; see the module doc. */
export class EtcdRegistry implements Registry {
  /** "etcd". */
  readonly scheme = 'etcd';
  /** "etcd <endpoints>". */
  readonly description: string;
  /** The etcd3 client (for operators' tools and tests). */
  readonly client: Etcd3;
  private readonly leaseTtlS: number;
  private readonly checkIntervalMs: number;
  private readonly configPrefix: string;
  private readonly backoff: BackoffOptions;
  private readonly reconnectMaxMs: number;
  private readonly maxReceiveBytes: number;
  private readonly logger: DiscoveryLogger;
  private readonly badEntries: BadEntryLog;
  private readonly hub: WatchHub;
  private readonly registrations = new Set<KeptRegistration>();

  constructor(options: EtcdRegistryOptions = {}) {
    const o = parseConfig('etcd registry', optionsSchema, options);
    const endpoints = o.endpoints ?? [...ETCD_REGISTRY_DEFAULTS.endpoints];
    for (const [i, e] of endpoints.entries()) parseAddress(e.replace(/^https?:\/\//, ''), `etcd registry: endpoints[${i}]`);
    this.leaseTtlS = o.leaseTtlS ?? ETCD_REGISTRY_DEFAULTS.leaseTtlS;
    this.checkIntervalMs = o.checkIntervalMs ?? (this.leaseTtlS * 1000) / 2;
    this.configPrefix = o.configPrefix ?? ETCD_REGISTRY_DEFAULTS.configPrefix;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.reconnectMaxMs = o.reconnectMaxMs ?? ETCD_REGISTRY_DEFAULTS.reconnectMaxMs;
    this.maxReceiveBytes = o.maxReceiveBytes ?? ETCD_REGISTRY_DEFAULTS.maxReceiveBytes;
    this.logger = loggerOr(options.logger);
    this.description = `etcd ${endpoints.join(',')}`;
    this.badEntries = new BadEntryLog(this.logger, this.description);
    this.hub = new WatchHub(this.startWatch, this.logger);
    const requestTimeoutMs = o.requestTimeoutMs ?? ETCD_REGISTRY_DEFAULTS.requestTimeoutMs;
    const tls = o.tls;
    const hosts = endpoints.map((e) => (tls && !/^https?:\/\//.test(e) ? `https://${e}` : e));
    const material = typeof tls === 'object' ? tls : undefined;
    this.client = new Etcd3({
      hosts,
      ...(o.auth ? { auth: { username: o.auth.username, password: o.auth.password } } : {}),
      ...(material && (material.ca || material.cert)
        ? { credentials: { rootCertificate: material.ca as Buffer, privateKey: material.key, certChain: material.cert } }
        : {}),
      dialTimeout: requestTimeoutMs,
      grpcOptions: {
        'grpc.keepalive_time_ms': o.keepaliveMs ?? ETCD_REGISTRY_DEFAULTS.keepaliveMs,
        'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? ETCD_REGISTRY_DEFAULTS.keepaliveTimeoutMs,
        // grpc-js's own reconnect backoff grows to 120 s; etcd should be found again within reconnectMaxMs.
        'grpc.initial_reconnect_backoff_ms': Math.min(this.backoff.initialMs ?? DEFAULT_BACKOFF.initialMs, this.reconnectMaxMs),
        'grpc.max_reconnect_backoff_ms': this.reconnectMaxMs,
        'grpc.max_receive_message_length': this.maxReceiveBytes,
      },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
      // Our own loops retry with backoff and log outages; etcd3's default retries and 5 s circuit
      // breaker would only delay noticing that etcd is back.
      faultHandling: {
        host: () => noop,
        global: noop,
        // etcd3 types this as an IBackoff but calls .next() on it, as on a factory (namespace.js).
        watchBackoff: new ExponentialBackoff({ initialDelay: Math.min(this.backoff.initialMs ?? DEFAULT_BACKOFF.initialMs, this.reconnectMaxMs), maxDelay: this.reconnectMaxMs }) as unknown as IBackoff<unknown>,
      },
    });
  }

  /** Registers an instance under a kept-alive lease. */
  register(input: ServiceInstanceInput, options?: RegisterOptions): Registration {
    const instance = parseRegistration('etcd registry: register', input);
    const key = endpointKey(instance);
    const value = encodeEndpoint(instance);
    let lease: Lease | null = null;
    let leaseId: string | null = null;
    const registration = new KeptRegistration(
      instance,
      {
        refreshIntervalMs: this.checkIntervalMs,
        backoff: this.backoff,
        reconnect: { maxMs: this.reconnectMaxMs, unreachable: etcdUnreachable },
        logger: this.logger,
        where: this.description,
      },
      {
        onStateChange: (state) => {
          if (state.t === 'closed') this.registrations.delete(registration);
          options?.onStateChange?.(state);
        },
      },
    );
    this.registrations.add(registration);
    return registration.start({
      put: async () => {
        lease?.release();
        const current = this.client.lease(this.leaseTtlS, { autoKeepAlive: true });
        lease = current;
        let active = false;
        current.on('lost', (error) => {
          // Only a lease that carried our key counts: a failed grant is reported by put() itself.
          if (!active || lease !== current) return;
          lease = null;
          registration.lost(`lease lost: ${error.message}`);
        });
        try {
          leaseId = await current.grant();
          await current.put(key).value(value).exec();
          active = true;
        } catch (error) {
          if (lease === current) lease = null;
          current.release();
          throw error;
        }
      },
      refresh: async () => {
        const response = await this.client.get(key).exec();
        const kv = response.kvs[0];
        return kv && kv.lease === leaseId && kv.value.toString() === value ? 'ok' : 'lost';
      },
      remove: async () => {
        const current = lease;
        lease = null;
        if (current) await current.revoke();
      },
    });
  }

  /** Watches a service's endpoints and config document. */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    if (query.datacenter !== undefined) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `etcd registry: datacenter is a Consul option, got ${JSON.stringify(query.datacenter)}`);
    }
    return this.hub.watch(query, handler);
  }

  /** Watches are pushed by etcd; nothing to do. */
  resync(_query: ServiceQuery): void {}

  /** Puts `<configPrefix><service>` after validating the document. */
  async putServiceConfig(service: string, document: string | object): Promise<void> {
    await this.client.put(this.configKey(service)).value(serviceConfigText(service, document)).exec();
  }

  /** Deletes the service's config document. */
  async deleteServiceConfig(service: string): Promise<void> {
    await this.client.delete().key(this.configKey(service)).exec();
  }

  /** The key of a service's config document. */
  configKey(service: string): string {
    return `${this.configPrefix}${service}`;
  }

  /** Deregisters (revokes the leases), stops the watches, closes the client. */
  async close(): Promise<void> {
    this.hub.closeAll();
    await Promise.all([...this.registrations].map((r) => r.close()));
    this.client.close();
  }

  /** The services with at least one key in etcd's naming format (`<service>/<host:port>`), config documents left out. */
  async listServices(): Promise<string[]> {
    const keys = await this.client.getAll().limit(10_000).keys();
    const services = new Set<string>();
    for (const key of keys) {
      const slash = key.lastIndexOf('/');
      if (slash > 0 && !key.startsWith(this.configPrefix)) services.add(key.slice(0, slash));
    }
    return [...services].sort();
  }

  /** Keeps channel-option logging small. */
  toJSON(): string {
    return this.description;
  }

  private rangeWatch(range: EtcdRange, onError: (error: unknown) => void, onChange: (kvs: ReadonlyMap<string, KvEntry>) => void): EtcdRangeWatch {
    const reader = new EtcdRangeReader(this.client, range, this.maxReceiveBytes);
    return new EtcdRangeWatch(this.client, range, reader, { backoff: this.backoff, reconnectMaxMs: this.reconnectMaxMs }, this.logger, onError, onChange);
  }

  private readonly startWatch = (query: ServiceQuery, sink: WatchHandler): WatchSource => {
    const outage = new OutageLog(this.logger, `${this.description}: watching ${query.service}`, query.service);
    const fail = (error: unknown) => {
      // "Unreachable" only when etcd did not answer: a refusal or an oversized answer says what it is.
      const what = etcdUnreachable(error) ? 'unreachable while watching' : 'refused or failed watching';
      const wrapped = new GrpcHaError(
        ERROR_CODES.REGISTRY_UNAVAILABLE,
        `${this.description} ${what} ${query.service}: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
      outage.failed(wrapped, 'keeping the last known instances');
      sink.error(wrapped);
    };
    const prefix = endpointPrefix(query.service);
    const endpoints = this.rangeWatch({ prefix }, fail, (kvs) => {
      outage.ok();
      const instances: ServiceInstance[] = [];
      for (const [key, { value }] of kvs) {
        const decoded = decodeEndpoint(query.service, key, value);
        if (!decoded.ok || decoded.warning) {
          // Once per key and value, for every watch of this registry: not on each revision or list.
          this.badEntries.report(key, value, `${this.description}: ${decoded.ok ? '' : 'skipping '}${key}: ${decoded.ok ? decoded.warning : decoded.reason}`);
          if (!decoded.ok) continue;
        } else {
          this.badEntries.clear(key);
        }
        if ((query.tags ?? []).every((t) => decoded.instance.tags?.includes(t))) instances.push(decoded.instance);
      }
      sink.instances(instances);
    });
    const configKey = this.configKey(query.service);
    const config = this.rangeWatch({ key: configKey }, fail, (kvs) => {
      outage.ok();
      sink.config(kvs.get(configKey)?.value ?? null);
    });
    config.start();
    endpoints.start();
    return {
      stop: () => {
        endpoints.stop();
        config.stop();
      },
    };
  };
}

interface KvEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly mod: number;
}

/** Get-then-watch of one key or prefix, with re-list on reconnect and on cancellation; see the module doc. */
class EtcdRangeWatch {
  private kvs = new Map<string, KvEntry>();
  private baseline = 0;
  private watcher: Watcher | null = null;
  private listing = false;
  private listAgain = false;
  private buffered: KvEvent[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private readonly reconnectMaxMs: number;

  constructor(
    private readonly client: Etcd3,
    private readonly range: EtcdRange,
    private readonly reader: EtcdRangeReader,
    timing: { readonly backoff: BackoffOptions; readonly reconnectMaxMs: number },
    private readonly logger: DiscoveryLogger,
    private readonly onError: (error: unknown) => void,
    private readonly onChange: (kvs: ReadonlyMap<string, KvEntry>) => void,
  ) {
    this.backoff = registryBackoff(timing.backoff);
    this.reconnectMaxMs = timing.reconnectMaxMs;
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.dropWatcher();
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    if (this.listing) {
      this.listAgain = true;
      return;
    }
    this.listing = true;
    this.buffered = [];
    clearTimeout(this.timer);
    try {
      const listing = await this.reader.read();
      if (this.stopped) return;
      this.baseline = listing.revision;
      this.kvs = listing.kvs;
      this.listing = false;
      for (const event of this.buffered) this.apply(event);
      this.buffered = [];
      this.backoff.reset();
      this.onChange(this.kvs);
      // Watch from the listing's revision (also right when etcd came back with less history).
      this.dropWatcher();
      this.createWatcher(this.baseline + 1);
    } catch (error) {
      this.listing = false;
      if (this.stopped) return;
      this.onError(error);
      this.scheduleRelist(error);
      return;
    }
    if (this.listAgain) {
      this.listAgain = false;
      void this.relist();
    }
  }

  /** Lists again after the backoff; at most reconnectMaxMs while etcd does not answer, so it is found again soon after it returns. */
  private scheduleRelist(error: unknown): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = etcdUnreachable(error) ? Math.min(this.backoff.next(), this.reconnectMaxMs) : this.backoff.next();
    this.timer = setTimeout(() => void this.relist(), delay);
    this.timer.unref();
  }

  private createWatcher(startRevision: number): void {
    const builder = this.client.watch();
    if ('prefix' in this.range) builder.prefix(this.range.prefix);
    else builder.key(this.range.key);
    const watcher = builder.startRevision(String(startRevision)).watcher();
    this.watcher = watcher;
    const event = (type: 'put' | 'delete') => (kv: IKeyValue) =>
      this.event({ type, key: kv.key.toString(), value: kv.value.toString(), mod: Number(kv.mod_revision) });
    watcher.on('put', event('put'));
    watcher.on('delete', event('delete'));
    watcher.on('disconnected', (error) => {
      // etcd3 would re-attach this watcher from the last revision it saw. If that revision was
      // compacted meanwhile, etcd cancels the creation, and etcd3 (1.1) then stops attaching
      // every other watcher of the stream. So drop it, list again once etcd answers, and watch
      // from the listing's revision, which cannot be compacted.
      this.dropWatcher();
      this.onError(error);
      this.scheduleRelist(error);
    });
    watcher.on('error', (error) => {
      // The server cancelled the watch (e.g. "mvcc: required revision has been compacted"):
      // list again and watch from the listing's revision.
      this.logger('info', `etcd watch of ${JSON.stringify(this.range)} cancelled (${error.message}); listing again`);
      this.dropWatcher();
      void this.relist();
    });
  }

  private dropWatcher(): void {
    const watcher = this.watcher;
    this.watcher = null;
    if (!watcher) return;
    watcher.removeAllListeners();
    watcher.on('error', () => undefined); // an 'error' with no listener would throw
    watcher.cancel().catch(() => undefined);
  }

  private event(event: KvEvent): void {
    if (this.stopped) return;
    if (this.listing) this.buffered.push(event);
    else if (this.apply(event)) this.onChange(this.kvs);
  }

  /** Applies an event newer than the listing and than the key's known revision; returns whether anything changed. */
  private apply(event: KvEvent): boolean {
    if (event.mod <= this.baseline) return false;
    const known = this.kvs.get(event.key);
    if (known && known.mod >= event.mod) return false;
    if (event.type === 'put') this.kvs.set(event.key, { value: event.value, mod: event.mod });
    else if (!this.kvs.delete(event.key)) return false;
    return true;
  }
}
