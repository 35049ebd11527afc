/**
 * Static discovery: a fixed list of addresses (with optional weights, zones, versions) given in
 * the channel target, or services described in a JSON file that is watched and re-read when it
 * changes. It is also an in-memory registry: `register()` adds an instance that this process's
 * watchers see at once — handy in tests and for in-process servers.
 *
 * File format (one object, service name → service):
 *
 *   { "greeter": { "instances": ["10.0.0.1:50051", { "address": "10.0.0.2:50051", "weight": 3 }],
 *                  "serviceConfig": { "loadBalancingConfig": [{ "least_request": {} }] } } }
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { parseAddress } from '../core/address.js';
import { checkInstance, parseRegistration, type ServiceInstanceInput, type ServiceInstance } from './instance.js';
import { KeptRegistration } from './kept-registration.js';
import { loggerOr, OutageLog, type DiscoveryLogger } from './log.js';
import type { RegisterOptions, Registration, Registry, ServiceQuery, Unsubscribe, WatchHandler } from './registry.js';
import { serviceConfigText } from './service-config-doc.js';
import { WatchHub, type WatchSource } from './watch-hub.js';

/** Options of {@link StaticRegistry}. */
export interface StaticRegistryOptions {
  /** Fixed instances per service name. */
  readonly services?: Readonly<Record<string, readonly ServiceInstanceInput[]>>;
  /** A JSON file of services (see the module doc), re-read when it changes. */
  readonly file?: string;
  /** Largest time between two checks of the file, ms. Defaults to 250. */
  readonly pollIntervalMs?: number;
  /** Where to log. */
  readonly logger?: DiscoveryLogger;
}

/** Parses the address list of a `static:` target: `addr[;weight=N][;zone=Z][;version=V][;id=ID],...`. */
export function parseStaticList(list: string): ServiceInstance[] {
  const items = list.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) {
    throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `static target: address list must be comma-separated host:port entries, got ${JSON.stringify(list)}`);
  }
  return items.map((item, i) => {
    const [address, ...params] = item.split(';');
    parseAddress(address!, `static target: entry ${i} (${JSON.stringify(item)})`);
    const spec: Record<string, unknown> = { service: list, address, instanceId: address };
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = eq < 0 ? param : param.slice(0, eq);
      const value = eq < 0 ? '' : decodeURIComponent(param.slice(eq + 1));
      if (key === 'weight') spec['weight'] = Number(value);
      else if (key === 'zone' || key === 'version') spec[key] = value;
      else if (key === 'id') spec['instanceId'] = value;
      else {
        throw new GrpcHaError(
          ERROR_CODES.INVALID_ADDRESS,
          `static target: entry ${i} (${JSON.stringify(item)}) has unknown parameter ${JSON.stringify(key)}; known: weight, zone, version, id`,
        );
      }
    }
    try {
      return parseRegistration(`static target: entry ${i} (${JSON.stringify(item)})`, spec);
    } catch (error) {
      throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, (error as Error).message, { cause: error });
    }
  });
}

/** Static and in-memory registry; see the module doc. */
export class StaticRegistry implements Registry {
  /** "static". */
  readonly scheme = 'static';
  /** "static list" or "static file <path>". */
  readonly description: string;
  private readonly memory = new Map<string, Map<string, ServiceInstance>>();
  private readonly configs = new Map<string, string>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly registrations = new Set<KeptRegistration>();
  private readonly hub: WatchHub;
  private readonly logger: DiscoveryLogger;
  private readonly file: string | undefined;
  private readonly pollIntervalMs: number;

  constructor(options: StaticRegistryOptions = {}) {
    this.logger = loggerOr(options.logger);
    this.file = options.file === undefined ? undefined : path.resolve(options.file);
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.description = this.file ? `static file ${this.file}` : 'static list';
    for (const [service, instances] of Object.entries(options.services ?? {})) {
      const map = new Map<string, ServiceInstance>();
      for (const [i, input] of instances.entries()) {
        const instance = parseRegistration(`static registry: ${service}[${i}]`, { ...input, service });
        map.set(instance.instanceId, instance);
      }
      this.memory.set(service, map);
    }
    this.hub = new WatchHub((query, sink) => this.startWatch(query, sink), this.logger);
  }

  /** Adds an instance in memory until the registration is closed. */
  register(input: ServiceInstanceInput, options?: RegisterOptions): Registration {
    const instance = parseRegistration('static registry: register', input);
    const registration = new KeptRegistration(
      instance,
      { refreshIntervalMs: 2 ** 30, logger: this.logger, where: this.description },
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
        let map = this.memory.get(instance.service);
        if (!map) this.memory.set(instance.service, (map = new Map()));
        map.set(instance.instanceId, instance);
        this.changed(instance.service);
      },
      refresh: async () => 'ok',
      remove: async () => {
        if (this.memory.get(instance.service)?.delete(instance.instanceId)) this.changed(instance.service);
      },
    });
  }

  /** Watches a service of the list, the memory, or the file. */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    if (query.datacenter !== undefined) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `static registry: datacenter is a Consul option, got ${JSON.stringify(query.datacenter)}`);
    }
    return this.hub.watch(query, handler);
  }

  /** Re-reads the file now. */
  resync(query: ServiceQuery): void {
    this.hub.resync(query);
  }

  /** Sets a service's config document in memory (a file registry is edited by editing the file). */
  async putServiceConfig(service: string, document: string | object): Promise<void> {
    this.configs.set(service, serviceConfigText(service, document));
    this.changed(service);
  }

  /** Removes a service's in-memory config document. */
  async deleteServiceConfig(service: string): Promise<void> {
    if (this.configs.delete(service)) this.changed(service);
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

  private changed(service: string): void {
    for (const notify of this.watchers.get(service) ?? []) notify();
  }

  private startWatch(query: ServiceQuery, sink: WatchHandler): WatchSource {
    const matches = (i: ServiceInstance) => (query.tags ?? []).every((t) => i.tags?.includes(t));
    if (!this.file) {
      const report = () => {
        sink.config(this.configs.get(query.service) ?? null);
        sink.instances([...(this.memory.get(query.service)?.values() ?? [])].filter(matches));
      };
      let set = this.watchers.get(query.service);
      if (!set) this.watchers.set(query.service, (set = new Set()));
      set.add(report);
      const first = setImmediate(report);
      return {
        stop: () => {
          clearImmediate(first);
          set.delete(report);
        },
      };
    }
    return new StaticFileWatch(this.file, query, sink, this.pollIntervalMs, this.logger, matches);
  }
}

/** Re-reads a static file on change (inotify on its directory, plus a poll). */
class StaticFileWatch implements WatchSource {
  private signature: string | undefined;
  private readonly poll: NodeJS.Timeout;
  private watcher: FSWatcher | null = null;
  private stopped = false;
  private busy = false;
  private readonly outage: OutageLog;

  constructor(
    private readonly file: string,
    private readonly query: ServiceQuery,
    private readonly sink: WatchHandler,
    pollIntervalMs: number,
    logger: DiscoveryLogger,
    private readonly matches: (i: ServiceInstance) => boolean,
  ) {
    this.outage = new OutageLog(logger, `static file ${file}`);
    this.poll = setInterval(() => void this.check(), pollIntervalMs);
    this.poll.unref();
    try {
      this.watcher = fsWatch(path.dirname(file), { persistent: false }, (_e, name) => {
        if (name === null || String(name) === path.basename(file)) void this.check();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      this.watcher = null; // the poll still works
    }
    void this.check();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    this.watcher?.close();
  }

  resync(): void {
    this.signature = undefined;
    void this.check();
  }

  private async check(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const s = await stat(this.file);
      const signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (signature === this.signature) return;
      const text = await readFile(this.file, 'utf8');
      if (this.stopped) return;
      this.signature = signature;
      const parsed = parseStaticFile(text, this.query.service);
      this.outage.ok();
      this.sink.config(parsed.config);
      this.sink.instances(parsed.instances.filter(this.matches));
    } catch (error) {
      if (this.stopped) return;
      this.signature = undefined;
      const wrapped = GrpcHaError.from(error, ERROR_CODES.REGISTRY_UNAVAILABLE);
      this.outage.failed(wrapped, 'keeping the last known instances');
      this.sink.error(wrapped);
    } finally {
      this.busy = false;
    }
  }
}

/** Parses a static file's entry for `service`; throws GrpcHaError naming what is wrong. */
export function parseStaticFile(text: string, service: string): { instances: ServiceInstance[]; config: string | null } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `static file is not JSON: ${(error as Error).message}`);
  }
  const entry = (json as Record<string, unknown> | null)?.[service];
  if (entry === undefined) return { instances: [], config: null };
  if (entry === null || typeof entry !== 'object') {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `static file: ${service} must be an object with "instances"`);
  }
  const { instances, serviceConfig } = entry as { instances?: unknown; serviceConfig?: unknown };
  if (!Array.isArray(instances)) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `static file: ${service}.instances must be an array`);
  }
  const out: ServiceInstance[] = [];
  for (const [i, item] of instances.entries()) {
    const spec = typeof item === 'string' ? { address: item } : (item as Record<string, unknown>);
    const address = (spec as { address?: unknown })?.address;
    const checked = checkInstance({ instanceId: typeof address === 'string' ? address : undefined, ...spec, service });
    if (!checked.ok) throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `static file: ${service}.instances[${i}]: ${checked.reason}`);
    out.push(checked.instance);
  }
  return { instances: out, config: serviceConfig === undefined ? null : JSON.stringify(serviceConfig) };
}
