/**
 * The embedded registry: a local directory, so processes on one machine register and find each
 * other with nothing to install or start.
 *
 *   <dir>/services/<service>/<instanceId>.json   one file per live instance
 *   <dir>/config/<service>.json                  the service's central service config document
 *
 * (names are URI-encoded). Every write goes to a temporary file in the same directory and is
 * renamed over the target — rename(2) is atomic, so a reader sees the old file or the new one,
 * never a torn one. An entry counts as live while its writer refreshes it within its TTL and, on
 * this host, while the writing process exists (checked by pid), so a killed process disappears
 * at the next scan. Watchers scan on every inotify event and at least every `pollIntervalMs`;
 * files that are not valid entries are logged once per content and skipped. A file that turns
 * bad after it was good — torn by a writer that does not rename, or truncated — keeps its last
 * good entry until that entry's own TTL runs out, so one bad write does not drop an instance.
 * Files above MAX_FILE_BYTES are not read (a registry is no place for them).
 */
import { watch as fsWatch, unlinkSync, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { integer, parseConfig } from '../core/parse-config.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { BackoffOptions } from './backoff.js';
import { checkInstance, parseRegistration, type ServiceInstanceInput, type ServiceInstance } from './instance.js';
import { KeptRegistration } from './kept-registration.js';
import { BadEntryLog, loggerOr, OutageLog, type DiscoveryLogger } from './log.js';
import type { RegisterOptions, Registration, Registry, ServiceQuery, Unsubscribe, WatchHandler } from './registry.js';
import { serviceConfigText } from './service-config-doc.js';
import { WatchHub, type WatchSource } from './watch-hub.js';

/** Options of {@link FileRegistry}. */
export interface FileRegistryOptions {
  /** The registry directory; created when missing. Defaults to {@link defaultRegistryDir}(). */
  readonly dir?: string;
  /** An entry not refreshed for this long is dead, ms. Defaults to 10000. */
  readonly ttlMs?: number;
  /** How often a registration rewrites its entry, ms. Defaults to ttlMs / 3 (as etcd's Go client keeps leases alive). */
  readonly refreshIntervalMs?: number;
  /** Largest time between two scans of a watched service, ms; inotify usually triggers them sooner. Defaults to 100. */
  readonly pollIntervalMs?: number;
  /** Retry timing after a failed write. */
  readonly backoff?: BackoffOptions;
  /** Where to log. Defaults to the process-wide discovery logger. */
  readonly logger?: DiscoveryLogger;
}

/** Defaults of {@link FileRegistryOptions}. */
export const FILE_REGISTRY_DEFAULTS = {
  ttlMs: 10_000,
  pollIntervalMs: 100,
} as const;

const optionsSchema = z
  .object({
    dir: z.string({ error: 'must be a directory path' }).min(1, { error: 'must not be empty' }).optional(),
    ttlMs: integer(100).optional(),
    refreshIntervalMs: integer(10).optional(),
    pollIntervalMs: integer(10, 60_000).optional(),
    backoff: z.unknown().optional(),
    logger: z.unknown().optional(),
  })
  .strict();

/** The default registry directory: $GRPC_HA_REGISTRY_DIR, else `<tmpdir>/grpc-ha-registry-<uid>`. */
export function defaultRegistryDir(): string {
  const fromEnv = process.env['GRPC_HA_REGISTRY_DIR'];
  if (fromEnv) return path.resolve(fromEnv);
  const uid = typeof process.getuid === 'function' ? process.getuid() : os.userInfo().username;
  return path.join(os.tmpdir(), `grpc-ha-registry-${uid}`);
}

/** One entry file's content: the instance plus its writer's liveness. */
interface EntryFile {
  readonly instance: ServiceInstance;
  readonly pid: number;
  readonly hostname: string;
  readonly ttlMs: number;
  readonly updatedAt: number;
}

const FORMAT = 'grpc-ha-file-registry/1';
const HOSTNAME = os.hostname();
/** Temporary files older than this are leftovers of a crashed writer and are removed. */
const STALE_TMP_MS = 60_000;
/** Largest entry or config file read, bytes: an entry is a few hundred bytes; etcd's own default request limit is 1.5 MiB. */
export const MAX_FILE_BYTES = 1024 * 1024;

/** The embedded file registry; see the module doc. */
export class FileRegistry implements Registry {
  /** "file". */
  readonly scheme = 'file';
  /** "file registry <dir>". */
  readonly description: string;
  /** The registry directory (absolute). */
  readonly dir: string;
  /** TTL of entries written here, ms. */
  readonly ttlMs: number;
  private readonly refreshIntervalMs: number;
  /** Largest time between scans of a watched service, ms. */
  readonly pollIntervalMs: number;
  private readonly logger: DiscoveryLogger;
  /** Bad files, logged once per path and content for every watch of this registry. */
  readonly badEntries: BadEntryLog;
  private readonly backoff: BackoffOptions | undefined;
  private readonly hub: WatchHub;
  private readonly registrations = new Set<KeptRegistration>();
  private tmpSeq = 0;

  constructor(options: FileRegistryOptions = {}) {
    const o = parseConfig('file registry', optionsSchema, options);
    this.dir = path.resolve(o.dir ?? defaultRegistryDir());
    this.ttlMs = o.ttlMs ?? FILE_REGISTRY_DEFAULTS.ttlMs;
    this.refreshIntervalMs = o.refreshIntervalMs ?? Math.max(10, Math.floor(this.ttlMs / 3));
    if (this.refreshIntervalMs >= this.ttlMs) {
      throw new GrpcHaError(
        ERROR_CODES.INVALID_CONFIG,
        `file registry: refreshIntervalMs must be < ttlMs, got ${this.refreshIntervalMs} >= ${this.ttlMs}`,
      );
    }
    this.pollIntervalMs = o.pollIntervalMs ?? FILE_REGISTRY_DEFAULTS.pollIntervalMs;
    this.logger = loggerOr(options.logger);
    this.badEntries = new BadEntryLog(this.logger, 'file');
    this.backoff = options.backoff;
    this.description = `file registry ${this.dir}`;
    this.hub = new WatchHub((query, sink) => new FileServiceWatch(this, query, sink), this.logger);
  }

  /** Registers an instance by writing its entry file and rewriting it every refreshIntervalMs. */
  register(input: ServiceInstanceInput, options?: RegisterOptions): Registration {
    const instance = parseRegistration('file registry: register', input);
    const file = this.entryPath(instance.service, instance.instanceId);
    const registration = new KeptRegistration(
      instance,
      { refreshIntervalMs: this.refreshIntervalMs, backoff: this.backoff, logger: this.logger, where: this.description },
      {
        onStateChange: (state) => {
          if (state.t === 'closed') {
            this.registrations.delete(registration);
            exitCleanup.delete(file);
          }
          options?.onStateChange?.(state);
        },
      },
    );
    this.registrations.add(registration);
    const write = async () => {
      await this.writeAtomic(file, JSON.stringify(this.entryFor(instance)));
      exitCleanup.add(file);
    };
    return registration.start({
      put: write,
      refresh: async () => {
        await write();
        return 'ok';
      },
      remove: async () => {
        exitCleanup.delete(file);
        await unlink(file).catch(ignoreMissing);
      },
    });
  }

  /** Watches a service's entries and config document. */
  watch(query: ServiceQuery, handler: WatchHandler): Unsubscribe {
    if (query.datacenter !== undefined) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `file registry: datacenter is a Consul option, got ${JSON.stringify(query.datacenter)}`);
    }
    return this.hub.watch(query, handler);
  }

  /** Scans the service now. */
  resync(query: ServiceQuery): void {
    this.hub.resync(query);
  }

  /** Writes `<dir>/config/<service>.json` atomically, after validating it. */
  async putServiceConfig(service: string, document: string | object): Promise<void> {
    const text = serviceConfigText(service, document);
    await this.writeAtomic(this.configPath(service), text);
  }

  /** Removes the service's config document. */
  async deleteServiceConfig(service: string): Promise<void> {
    await unlink(this.configPath(service)).catch(ignoreMissing);
  }

  /** Deregisters every registration made here and stops every watch. */
  async close(): Promise<void> {
    this.hub.closeAll();
    await Promise.all([...this.registrations].map((r) => r.close()));
  }

  /** The services with at least one entry file. */
  async listServices(): Promise<string[]> {
    const root = path.join(this.dir, 'services');
    const names = await readdir(root).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)));
    const listed: string[] = [];
    for (const name of names.sort()) {
      const entries = await readdir(path.join(root, name)).catch(() => [] as string[]);
      if (entries.some((e) => e.endsWith('.json') && !e.startsWith('.'))) listed.push(decodeURIComponent(name));
    }
    return listed;
  }

  /** Keeps `toJSON` small: grpc-js may log channel options, and a registry may be one. */
  toJSON(): string {
    return this.description;
  }

  /** The directory of a service's entries. */
  serviceDir(service: string): string {
    return path.join(this.dir, 'services', encodeName(service));
  }

  /** The entry file of an instance. */
  entryPath(service: string, instanceId: string): string {
    return path.join(this.serviceDir(service), `${encodeName(instanceId)}.json`);
  }

  /** The config document file of a service. */
  configPath(service: string): string {
    return path.join(this.dir, 'config', `${encodeName(service)}.json`);
  }

  /** The logger (for the watches). */
  get log(): DiscoveryLogger {
    return this.logger;
  }

  private entryFor(instance: ServiceInstance): object {
    return { format: FORMAT, ...instance, pid: process.pid, hostname: HOSTNAME, ttlMs: this.ttlMs, updatedAt: Date.now() };
  }

  /** Writes `file` via a temporary file and rename(2), creating the directory when missing. */
  private async writeAtomic(file: string, text: string): Promise<void> {
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${this.tmpSeq++}.tmp`);
    await mkdir(dir, { recursive: true });
    try {
      await writeFile(tmp, text);
      await rename(tmp, file);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
  }
}

/** Watches one service's directory; see the module doc. */
class FileServiceWatch implements WatchSource {
  private readonly serviceDir: string;
  private readonly configFile: string;
  /** Per file: the version last read, its entry (null: bad), and the last good entry it held. */
  private readonly cache = new Map<string, { signature: string; entry: EntryFile | null; lastGood: EntryFile | null }>();
  private configSignature: string | null | undefined;
  private readonly poll: NodeJS.Timeout;
  private dirWatcher: FSWatcher | null = null;
  private configWatcher: FSWatcher | null = null;
  private scanning = false;
  private again = false;
  private stopped = false;
  private readonly outage: OutageLog;

  constructor(
    private readonly registry: FileRegistry,
    private readonly query: ServiceQuery,
    private readonly sink: WatchHandler,
  ) {
    this.serviceDir = registry.serviceDir(query.service);
    this.configFile = registry.configPath(query.service);
    this.outage = new OutageLog(registry.log, `${registry.description}: reading ${query.service}`, query.service);
    this.poll = setInterval(() => this.kick(), registry.pollIntervalMs);
    this.poll.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    this.dirWatcher?.close();
    this.configWatcher?.close();
  }

  resync(): void {
    this.kick();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.scan();
        } while (this.again && !this.stopped);
      } finally {
        this.scanning = false;
      }
    })();
  }

  private async scan(): Promise<void> {
    try {
      await this.ensureWatchers();
      const config = await this.readConfig();
      const instances = await this.readInstances();
      if (this.stopped) return;
      this.outage.ok();
      if (config !== undefined) this.sink.config(config);
      this.sink.instances(instances);
    } catch (error) {
      if (this.stopped) return;
      const wrapped = new GrpcHaError(
        ERROR_CODES.REGISTRY_UNAVAILABLE,
        `${this.registry.description}: cannot read ${this.query.service}: ${(error as Error).message}`,
        { cause: error },
      );
      this.outage.failed(wrapped, 'keeping the last known instances');
      this.sink.error(wrapped);
    }
  }

  /** inotify watchers make changes visible in milliseconds; the poll is the safety net. */
  private async ensureWatchers(): Promise<void> {
    if (this.dirWatcher && this.configWatcher) return;
    await mkdir(this.serviceDir, { recursive: true });
    await mkdir(path.dirname(this.configFile), { recursive: true });
    if (this.stopped) return;
    this.dirWatcher ??= this.fsWatch(this.serviceDir, () => this.kick(), () => (this.dirWatcher = null));
    const base = path.basename(this.configFile);
    this.configWatcher ??= this.fsWatch(
      path.dirname(this.configFile),
      (name) => {
        if (name === null || name === base) this.kick();
      },
      () => (this.configWatcher = null),
    );
  }

  private fsWatch(dir: string, onChange: (name: string | null) => void, onGone: () => void): FSWatcher | null {
    try {
      const watcher = fsWatch(dir, { persistent: false }, (_event, name) => onChange(name === null ? null : String(name)));
      watcher.on('error', () => {
        watcher.close();
        onGone();
      });
      return watcher;
    } catch {
      return null; // e.g. out of inotify watches: polling still works
    }
  }

  /** The config text when it changed since the last scan (null: removed), undefined when unchanged. */
  private async readConfig(): Promise<string | null | undefined> {
    let signature: string | null;
    let text: string | null = null;
    try {
      const s = await stat(this.configFile);
      signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (signature === this.configSignature) return undefined;
      if (s.size > MAX_FILE_BYTES) {
        // Not read: the last document stays in force, as with an invalid one.
        this.configSignature = signature;
        this.registry.badEntries.report(this.configFile, `size ${s.size}`, `${this.registry.description}: ignoring ${this.configFile}: ${tooLarge(s.size)}`);
        return undefined;
      }
      text = await readFile(this.configFile, 'utf8');
    } catch (error) {
      if (!isMissing(error)) throw error;
      signature = null;
    }
    if (signature === this.configSignature) return undefined;
    this.configSignature = signature;
    return text;
  }

  private async readInstances(): Promise<ServiceInstance[]> {
    let names: string[];
    try {
      names = await readdir(this.serviceDir);
    } catch (error) {
      if (!isMissing(error)) throw error;
      names = [];
    }
    const now = Date.now();
    const seen = new Set<string>();
    const live: ServiceInstance[] = [];
    for (const name of names) {
      const file = path.join(this.serviceDir, name);
      if (name.startsWith('.')) {
        if (name.endsWith('.tmp')) await removeIfOlder(file, STALE_TMP_MS);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const entry = await this.readEntry(name, file);
      if (entry === undefined) continue; // vanished between readdir and stat
      seen.add(name);
      if (entry === null) continue;
      const processGone = entry.hostname === HOSTNAME && !pidAlive(entry.pid);
      const expired = now > entry.updatedAt + entry.ttlMs;
      if (processGone || now > entry.updatedAt + 3 * entry.ttlMs) {
        // Nobody will refresh it again: remove it so the directory does not fill up with the dead.
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (expired) continue;
      if (!(this.query.tags ?? []).every((t) => entry.instance.tags?.includes(t))) continue;
      live.push(entry.instance);
    }
    for (const name of this.cache.keys()) if (!seen.has(name)) this.cache.delete(name);
    return live;
  }

  /**
   * The entry in force (null: invalid and never good, logged once per content), or undefined
   * when the file is gone. An invalid version of a file that held a good entry keeps that entry.
   */
  private async readEntry(name: string, file: string): Promise<EntryFile | null | undefined> {
    let signature = '';
    let content: string;
    let decoded: ReturnType<typeof decodeEntry>;
    const cached = this.cache.get(name);
    try {
      const s = await stat(file);
      signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (cached?.signature === signature) return cached.entry ?? cached.lastGood;
      if (s.size > MAX_FILE_BYTES) {
        content = `size ${s.size}`;
        decoded = { ok: false, reason: tooLarge(s.size) };
      } else {
        content = await readFile(file, 'utf8');
        decoded = decodeEntry(content, this.query.service);
      }
    } catch (error) {
      if (isMissing(error)) return undefined;
      // One unreadable file (a directory, no permission) must not hide the others.
      decoded = { ok: false, reason: `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
      signature ||= decoded.reason;
      content = decoded.reason;
    }
    const lastGood = decoded.ok ? decoded.entry : (cached?.lastGood ?? null);
    if (decoded.ok) {
      this.registry.badEntries.clear(file);
    } else {
      const kept = lastGood ? '; keeping its last good entry until its TTL runs out' : '';
      this.registry.badEntries.report(file, content, `${this.registry.description}: skipping ${file}: ${decoded.reason}${kept}`);
    }
    const entry = decoded.ok ? decoded.entry : null;
    this.cache.set(name, { signature, entry, lastGood });
    return entry ?? lastGood;
  }
}

function tooLarge(size: number): string {
  return `it is ${size} bytes, more than the ${MAX_FILE_BYTES} a registry file may hold`;
}

/** Decodes an entry file; never throws. */
function decodeEntry(text: string, service: string): { ok: true; entry: EntryFile } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON (${(error as Error).message})` };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, reason: 'not a JSON object' };
  const { format, pid, hostname, ttlMs, updatedAt, ...rest } = json as Record<string, unknown>;
  if (format !== FORMAT) return { ok: false, reason: `format must be ${JSON.stringify(FORMAT)}, got ${JSON.stringify(format)}` };
  if (!Number.isInteger(pid) || (pid as number) <= 0) return { ok: false, reason: 'pid must be a positive integer' };
  if (typeof hostname !== 'string') return { ok: false, reason: 'hostname must be a string' };
  if (typeof ttlMs !== 'number' || !(ttlMs > 0)) return { ok: false, reason: 'ttlMs must be a number > 0' };
  if (typeof updatedAt !== 'number' || !Number.isFinite(updatedAt)) return { ok: false, reason: 'updatedAt must be a number' };
  const checked = checkInstance(rest);
  if (!checked.ok) return checked;
  if (checked.instance.service !== service) {
    return { ok: false, reason: `service is ${JSON.stringify(checked.instance.service)}, not ${JSON.stringify(service)}` };
  }
  return { ok: true, entry: { instance: checked.instance, pid: pid as number, hostname, ttlMs, updatedAt } };
}

/** Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Encodes a service name or instance id as one path segment that no scan mistakes for a temporary file. */
function encodeName(name: string): string {
  return encodeURIComponent(name).replace(/^\./, '%2E');
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

function ignoreMissing(error: unknown): void {
  if (!isMissing(error)) throw error;
}

async function removeIfOlder(file: string, ageMs: number): Promise<void> {
  try {
    const s = await stat(file);
    if (Date.now() - s.mtimeMs > ageMs) await unlink(file);
  } catch {
    // gone already, or not ours to remove
  }
}

/**
 * Entry files of this process's live registrations, removed when the process exits normally
 * without closing them (a killed process is caught by the pid check instead).
 */
const exitCleanup = new Set<string>();
process.once('exit', () => {
  for (const file of exitCleanup) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
});
