/**
 * DNS that follows changes: the `ha-dns:` source. A watched name is looked up again when its
 * records' TTL runs out (bounded by `minIntervalMs` and `maxIntervalMs`) and when a channel asks
 * (a connection dropped: `resync`), so a new pod behind a headless Service gets calls within
 * its TTL instead of whenever grpc-js next re-resolves `dns:` (only on a connection loss, at
 * most every 30 s).
 *
 * - `host:port`: A and AAAA records through Node's resolver (c-ares: `{ ttl: true }`).
 * - a bare name: SRV records (srv-query.ts) of the lowest priority, weighted. RFC 2782: "a
 *   client MUST attempt to contact the target host with the lowest-numbered priority it can
 *   reach"; higher priorities are backups, which grpc-ha does not fail over to (yet).
 * - NXDOMAIN and NODATA are answers: "there is none" (as grpc-go's dns resolver treats them), so
 *   the service goes empty. Timeouts, SERVFAIL, REFUSED and an unreachable server are outages:
 *   each question keeps its last answer (serve-stale, RFC 8767), the outage is logged once
 *   (registry_unreachable / registry_recovered) and the question is asked again with backoff.
 *
 * Why a scheme of its own rather than replacing grpc-js's `dns:`: `dns:` is also the default
 * scheme of every bare `host:port` target in the process, including the channels of other
 * libraries (etcd3, exporters); and this source asks DNS servers directly to learn TTLs, so
 * /etc/hosts, nsswitch and resolv.conf search domains do not apply — `dns:///my-svc:50051`
 * that works through getaddrinfo would silently change meaning. `ha-dns:` is opt-in per channel.
 */
import { Resolver } from 'node:dns/promises';
import { z } from 'zod';
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';
import { formatAddress, type HostPort } from '../../core/address.js';
import { integer, parseConfig } from '../../core/parse-config.js';
import { registryBackoff, type BackoffOptions } from '../backoff.js';
import type { ServiceInstance } from '../instance.js';
import { loggerOr, OutageLog, type DiscoveryLogger } from '../log.js';
import type { InstanceSource, ServiceQuery, Unsubscribe, WatchHandler } from '../registry.js';
import { WatchHub, type WatchSource } from '../watch-hub.js';
import { parseDnsName, parseDnsServer, type DnsName } from './dns-name.js';
import { querySrv, type SrvRecord } from './srv-query.js';

/** Options of {@link DnsDiscovery}. */
export interface DnsDiscoveryOptions {
  /** DNS servers, `ip[:port]` (port 53 by default). Defaults to the system's (resolv.conf). */
  readonly servers?: readonly string[];
  /** Least time between two lookups of a name, ms: the floor of TTL-driven and requested re-resolution. Defaults to 1000. */
  readonly minIntervalMs?: number;
  /** Most time between two lookups of a name, ms, whatever the TTL. Defaults to 30000 (grpc-js's own `dns:` floor). */
  readonly maxIntervalMs?: number;
  /** Per query attempt, ms. Defaults to 1000. */
  readonly timeoutMs?: number;
  /** Attempts per query and server. Defaults to 2. */
  readonly tries?: number;
  /** Retry timing while DNS fails (capped at maxIntervalMs). Defaults to 100 ms doubling to 5 s. */
  readonly backoff?: BackoffOptions;
  /** Where to log. */
  readonly logger?: DiscoveryLogger;
}

/** Defaults of {@link DnsDiscoveryOptions}. */
export const DNS_DISCOVERY_DEFAULTS = {
  minIntervalMs: 1000,
  maxIntervalMs: 30_000,
  timeoutMs: 1000,
  tries: 2,
  /** Re-lookup delay after a negative answer without an SOA TTL: CoreDNS's default TTL (kubernetes plugin, 5 s). */
  negativeTtlS: 5,
} as const;

const optionsSchema = z
  .object({
    servers: z.array(z.string({ error: 'must be ip[:port] strings' })).min(1, { error: 'must not be empty' }).optional(),
    minIntervalMs: integer(0, 3_600_000).optional(),
    maxIntervalMs: integer(1, 86_400_000).optional(),
    timeoutMs: integer(1, 60_000).optional(),
    tries: integer(1, 10).optional(),
    backoff: z.unknown().optional(),
    logger: z.unknown().optional(),
  })
  .strict();

/** c-ares codes of a negative answer: the name or the record type does not exist. */
const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA']);

/** The `ha-dns:` instance source; see the module doc. */
export class DnsDiscovery implements InstanceSource {
  /** "ha-dns". */
  readonly scheme = 'ha-dns';
  /** "DNS 127.0.0.1:5353", or "DNS 10.96.0.10:53 (system)". */
  readonly description: string;
  /** Least time between two lookups of a name, ms. */
  readonly minIntervalMs: number;
  /** Most time between two lookups of a name, ms. */
  readonly maxIntervalMs: number;
  private readonly resolver: Resolver;
  private readonly serverList: readonly HostPort[];
  private readonly limits: { timeoutMs: number; tries: number };
  private readonly backoff: BackoffOptions;
  private readonly logger: DiscoveryLogger;
  private readonly hub: WatchHub;

  constructor(options: DnsDiscoveryOptions = {}) {
    const o = parseConfig('ha-dns', optionsSchema, options);
    this.minIntervalMs = o.minIntervalMs ?? DNS_DISCOVERY_DEFAULTS.minIntervalMs;
    this.maxIntervalMs = o.maxIntervalMs ?? DNS_DISCOVERY_DEFAULTS.maxIntervalMs;
    if (this.maxIntervalMs < this.minIntervalMs) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `ha-dns: maxIntervalMs must be >= minIntervalMs (${this.minIntervalMs}), got ${this.maxIntervalMs}`);
    }
    this.limits = { timeoutMs: o.timeoutMs ?? DNS_DISCOVERY_DEFAULTS.timeoutMs, tries: o.tries ?? DNS_DISCOVERY_DEFAULTS.tries };
    this.resolver = new Resolver({ timeout: this.limits.timeoutMs, tries: this.limits.tries });
    const configured = o.servers?.map((s) => parseDnsServer(s));
    if (configured) this.resolver.setServers(configured.map((s) => formatAddress(s.host, s.port)));
    this.serverList = configured ?? this.resolver.getServers().map((s) => parseDnsServer(s));
    this.description = `DNS ${this.serverList.map((s) => formatAddress(s.host, s.port)).join(',')}${configured ? '' : ' (system)'}`;
    this.backoff = { ...options.backoff };
    this.logger = loggerOr(options.logger);
    this.hub = new WatchHub((query, sink) => new DnsWatch(this, query, sink), this.logger);
  }

  /** Watches the name `query.service` (`host:port`, an SRV name, or `ip:port`). */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    if (query.datacenter !== undefined || (query.tags?.length ?? 0) > 0) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, 'ha-dns: DNS names have no tags nor datacenter');
    }
    parseDnsName(query.service);
    return this.hub.watch(query, handler);
  }

  /** Looks the name up again now, or as soon as minIntervalMs allows. */
  resync(query: ServiceQuery): void {
    this.hub.resync(query);
  }

  /** Stops every watch and cancels queries in flight. */
  async close(): Promise<void> {
    this.hub.closeAll();
    this.resolver.cancel();
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

  /**
   * A and AAAA records of `host`; each family's last answer stands in when its lookup fails.
   * Null when nothing is known: both failed and neither had answered before.
   */
  async lookupHost(host: string, last: Map<string, Family>, errors: GrpcHaError[]): Promise<Family | null> {
    const families = await Promise.all(
      (['A', 'AAAA'] as const).map(async (type): Promise<Family | null> => {
        const key = `${type} ${host}`;
        try {
          const records = type === 'A' ? await this.resolver.resolve4(host, { ttl: true }) : await this.resolver.resolve6(host, { ttl: true });
          const answer = { addresses: records.map((r) => r.address), ttlS: Math.min(...records.map((r) => r.ttl)) };
          last.set(key, answer);
          return answer;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? '';
          if (NEGATIVE.has(code)) {
            const none = { addresses: [], ttlS: undefined };
            last.set(key, none);
            return none;
          }
          errors.push(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, `${this.description}: ${type} ${host}: ${code || (error as Error).message}`, { cause: error }));
          return last.get(key) ?? null;
        }
      }),
    );
    const known = families.filter((f): f is Family => f !== null);
    if (known.length === 0) return null;
    return { addresses: known.flatMap((f) => f.addresses), ttlS: minTtl(known.map((f) => f.ttlS)) };
  }

  /** SRV records of `name` from the same servers. */
  srv(name: string): ReturnType<typeof querySrv> {
    return querySrv(name, this.serverList, this.limits);
  }
}

/** What one question (or a host's two) answered: addresses and their smallest TTL (none: a negative answer). */
interface Family {
  readonly addresses: readonly string[];
  readonly ttlS: number | undefined;
}

function minTtl(ttls: readonly (number | undefined)[]): number | undefined {
  const known = ttls.filter((t): t is number => t !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

/**
 * The instances of the lowest-priority SRV records, weighted as RFC 2782 weights them: a target
 * with several addresses splits its weight among them; "records with weight 0 should have a very
 * small chance of being selected" when others weigh more (a hundredth of the smallest weight);
 * all zero means all equal.
 */
export function srvInstances(service: string, records: readonly SrvRecord[], addressesOf: (target: string) => readonly string[]): ServiceInstance[] {
  if (records.length === 0) return [];
  const priority = Math.min(...records.map((r) => r.priority));
  const group = records.filter((r) => r.priority === priority);
  const nonZero = group.map((r) => r.weight).filter((w) => w > 0);
  const floor = nonZero.length === 0 ? undefined : Math.min(...nonZero) / 100;
  const byAddress = new Map<string, { instance: ServiceInstance; weight: number | undefined }>();
  for (const record of group) {
    const addresses = addressesOf(record.target);
    const weight = floor === undefined ? undefined : (record.weight > 0 ? record.weight : floor) / Math.max(1, addresses.length);
    for (const host of addresses) {
      const address = formatAddress(host, record.port);
      const seen = byAddress.get(address);
      if (seen) {
        if (seen.weight !== undefined && weight !== undefined) seen.weight += weight;
        continue;
      }
      byAddress.set(address, { instance: { service, instanceId: address, address, labels: { target: record.target } }, weight });
    }
  }
  return [...byAddress.values()].map(({ instance, weight }) => (weight === undefined ? instance : { ...instance, weight }));
}

/** One watched name: look up, report, sleep until the TTL runs out (or a resync), again. */
class DnsWatch implements WatchSource {
  private readonly name: DnsName;
  private readonly outage: OutageLog;
  private readonly retry;
  private readonly last = new Map<string, Family>();
  private lastSrv: ServiceInstance[] | null = null;
  private readonly skipped = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private due = Infinity;
  private lastStart = -Infinity;
  private busy = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly owner: DnsDiscovery,
    private readonly query: ServiceQuery,
    private readonly sink: WatchHandler,
  ) {
    this.name = parseDnsName(query.service);
    this.outage = new OutageLog(owner.log, `${owner.description}: resolving ${query.service}`, query.service);
    this.retry = registryBackoff(owner.backoffOptions);
    // DNS carries no service config document: say so at once, so instances are not held back for one.
    sink.config(null);
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  resync(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.schedule(Math.max(0, this.lastStart + this.owner.minIntervalMs - performance.now()));
  }

  /** Runs the next lookup in `ms`, unless one is already due sooner. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    const due = performance.now() + ms;
    if (due >= this.due) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => {
      this.due = Infinity;
      void this.run();
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.lastStart = performance.now();
    const errors: GrpcHaError[] = [];
    let result: { instances: ServiceInstance[]; ttlS: number | undefined } | null;
    try {
      result = await this.resolve(errors);
    } catch (error) {
      errors.push(GrpcHaError.from(error, ERROR_CODES.REGISTRY_UNAVAILABLE));
      result = null;
    }
    this.busy = false;
    if (this.stopped) return;
    if (result) this.sink.instances(result.instances);
    const { minIntervalMs, maxIntervalMs } = this.owner;
    if (errors.length > 0) {
      this.outage.failed(errors[0], 'keeping the last known addresses');
      this.sink.error(errors[0]!);
      this.schedule(Math.min(maxIntervalMs, Math.max(this.retry.next(), this.again ? minIntervalMs : 0)));
    } else {
      this.outage.ok();
      this.retry.reset();
      const ttlMs = (result?.ttlS ?? DNS_DISCOVERY_DEFAULTS.negativeTtlS) * 1000;
      this.schedule(this.again ? minIntervalMs : Math.min(maxIntervalMs, Math.max(minIntervalMs, ttlMs)));
    }
    this.again = false;
  }

  /** One lookup of the name; null when nothing is known (an outage before any answer). */
  private async resolve(errors: GrpcHaError[]): Promise<{ instances: ServiceInstance[]; ttlS: number | undefined } | null> {
    const service = this.query.service;
    switch (this.name.t) {
      case 'ip':
        return { instances: [{ service, instanceId: this.name.address, address: this.name.address }], ttlS: this.owner.maxIntervalMs / 1000 };
      case 'host': {
        const { port } = this.name;
        const found = await this.owner.lookupHost(this.name.host, this.last, errors);
        if (found === null) return null;
        const instances = found.addresses.map((host) => {
          const address = formatAddress(host, port);
          return { service, instanceId: address, address };
        });
        return { instances, ttlS: found.ttlS };
      }
      case 'srv': {
        let answer;
        try {
          answer = await this.owner.srv(this.name.name);
        } catch (error) {
          errors.push(GrpcHaError.from(error, ERROR_CODES.REGISTRY_UNAVAILABLE));
          return this.lastSrv === null ? null : { instances: this.lastSrv, ttlS: undefined };
        }
        if (answer.t === 'none') {
          this.lastSrv = [];
          return { instances: [], ttlS: answer.ttlS };
        }
        const ttls: (number | undefined)[] = [answer.ttlS];
        const addresses = new Map<string, readonly string[]>();
        const priority = Math.min(...answer.records.map((r) => r.priority));
        for (const target of new Set(answer.records.filter((r) => r.priority === priority).map((r) => r.target))) {
          const extra = answer.additional.get(target.toLowerCase());
          const found = (extra && extra.length > 0 ? { addresses: extra.map((r) => r.address), ttlS: Math.min(...extra.map((r) => r.ttl)) } : await this.owner.lookupHost(target, this.last, errors)) ?? { addresses: [], ttlS: undefined };
          ttls.push(found.ttlS);
          addresses.set(target, found.addresses);
          if (found.addresses.length === 0 && !this.skipped.has(target)) {
            this.skipped.add(target);
            this.owner.log('error', `${this.owner.description}: SRV target ${target} of ${service} has no address; skipping it`);
          }
        }
        this.lastSrv = srvInstances(service, answer.records, (target) => addresses.get(target) ?? []);
        return { instances: this.lastSrv, ttlS: minTtl(ttls) };
      }
    }
  }
}
