/**
 * A FAKE Consul agent for tests — not Consul. No Consul server can be installed here, so this
 * implements, over node:http on 127.0.0.1, the documented behaviour of the few HTTP endpoints
 * grpc-ha uses (https://developer.hashicorp.com/consul/api-docs):
 *
 * - PUT /v1/agent/service/register (ID defaults to Name; one `Check` or `Checks`; TTL checks
 *   start "critical" unless `Status` is given), PUT /v1/agent/service/deregister/:id,
 *   GET /v1/agent/service/:id, PUT /v1/agent/check/{pass,warn,fail}/:check_id.
 * - gRPC checks ("GRPC": "host:port/service", "Interval") call grpc.health.v1.Health/Check:
 *   SERVING is passing, anything else (or no answer within a second) critical.
 * - TTL checks turn critical when not updated within their TTL; a check critical for longer than
 *   its DeregisterCriticalServiceAfter gets its service deregistered by a periodic reaper.
 *   Consul raises that timeout to at least one minute and reaps every 30 s; the fake takes both
 *   as options so tests stay short.
 * - GET /v1/health/service/:name with `passing` (only entries whose checks all pass), `tag`
 *   (repeatable, all must match), `dc` (only "dc1" exists; others fail with 500 "No path to
 *   datacenter"), and blocking: `index` + `wait` (default 5m, capped at 10m, plus up to wait/16
 *   of jitter) — the request returns at once when the resource's index is past `index`,
 *   otherwise on a change or at the timeout, with X-Consul-Index.
 * - GET/PUT/DELETE /v1/kv/:key with the same blocking semantics; a missing key is a 404 that
 *   still carries X-Consul-Index. Values come back base64-encoded.
 * - ACL: with `token` set, requests without that X-Consul-Token get 403.
 *
 * Test controls: stop()/start() (an agent outage; state kept, or lost with `forget`), hang()/resume()
 * (a hung agent — SIGSTOP, a stuck raft: connections are accepted, and requests, blocking or
 * not, get no answer until it resumes; then they are served as usual), rewindIndex() (indexes going backwards, as after a snapshot restore),
 * zeroIndex (a buggy index of 0), forgetService(), and request counters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { credentials, makeGenericClientConstructor, type Client } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

const HealthClient = makeGenericClientConstructor(healthService, 'Health');

interface Check {
  CheckID: string;
  Name: string;
  ServiceID: string;
  ServiceName: string;
  Status: 'passing' | 'warning' | 'critical';
  Output: string;
  ttlMs: number | null;
  /** A gRPC check: target "host:port", service name, interval. */
  grpc: { target: string; service: string; intervalMs: number; client?: Client; probing: boolean; lastProbe: number } | null;
  deregisterAfterMs: number | null;
  updatedAt: number;
  criticalSince: number | null;
}

interface Service {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Weights: { Passing: number; Warning: number };
}

/** Options of the fake. */
export interface FakeConsulOptions {
  /** Required ACL token; none when unset. */
  readonly token?: string;
  /** Lower bound applied to DeregisterCriticalServiceAfter, ms. Consul: 60000. Defaults to 60000. */
  readonly minDeregisterAfterMs?: number;
  /** Period of the TTL and reaper sweep, ms. Consul reaps every 30 s. Defaults to 50. */
  readonly sweepMs?: number;
}

/** Parses a Consul duration ("10s", "1m", "500ms", "1h"). */
function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** The fake agent; see the module doc. */
export class FakeConsul {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private port = 0;
  private index = 10;
  private catalogIndex = 10;
  private kvIndex = 10;
  private readonly serviceIndex = new Map<string, number>();
  private readonly services = new Map<string, Service>();
  private readonly checks = new Map<string, Check>();
  private readonly kv = new Map<string, { value: Buffer; createIndex: number; modifyIndex: number }>();
  private readonly waiters = new Set<() => void>();
  private sweep: NodeJS.Timeout | undefined;
  /** Set while hung: requests wait for it. */
  private hung: { promise: Promise<void>; resume: () => void } | null = null;
  /** When true, every X-Consul-Index is 0 (a Consul bug the docs warn about). */
  zeroIndex = false;
  /** Requests received, per "METHOD /path" without the query. */
  readonly requests = new Map<string, number>();

  constructor(private readonly options: FakeConsulOptions = {}) {}

  /** "127.0.0.1:PORT". */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts listening (on the same port as before after a stop). */
  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    this.sweep = setInterval(() => this.sweepChecks(), this.options.sweepMs ?? 50);
  }

  /**
   * Stops listening and drops every connection. State survives (a Consul agent persists services
   * registered through its API in its data dir) unless `forget` is set.
   */
  async stop(options: { forget?: boolean } = {}): Promise<void> {
    clearInterval(this.sweep);
    for (const check of this.checks.values()) {
      check.grpc?.client?.close();
      if (check.grpc) check.grpc.client = undefined;
    }
    const server = this.server;
    this.server = null;
    for (const wake of this.waiters) wake();
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (options.forget) {
      this.services.clear();
      this.checks.clear();
      this.kv.clear();
    }
  }

  /** Hangs: requests already blocking and new ones get no answer until resume(). */
  hang(): void {
    if (this.hung) return;
    let resume = () => undefined as void;
    const promise = new Promise<void>((resolve) => (resume = resolve));
    this.hung = { promise, resume };
  }

  /** Ends a hang: the waiting requests are served. */
  resume(): void {
    this.hung?.resume();
    this.hung = null;
  }

  /** Sets the raft index back to `to` (as after a snapshot restore): later changes get indexes below earlier ones. */
  rewindIndex(to: number): void {
    this.index = to;
    this.catalogIndex = Math.min(this.catalogIndex, to);
    this.kvIndex = Math.min(this.kvIndex, to);
    for (const [name, i] of this.serviceIndex) this.serviceIndex.set(name, Math.min(i, to));
  }

  /** Removes a service without telling its owner (as a reaper or an agent restart would). */
  forgetService(id: string): void {
    const service = this.services.get(id);
    if (!service) return;
    this.services.delete(id);
    this.dropChecks(id);
    this.changed(service.Service);
  }

  private dropChecks(serviceId: string): void {
    for (const [checkId, check] of this.checks) {
      if (check.ServiceID !== serviceId) continue;
      check.grpc?.client?.close();
      this.checks.delete(checkId);
    }
  }

  /** The registered services (for assertions). */
  listServices(): Service[] {
    return [...this.services.values()];
  }

  /** A check's status (for assertions). */
  checkStatus(checkId: string): string | undefined {
    return this.checks.get(checkId)?.Status;
  }

  private bump(): number {
    return ++this.index;
  }

  private changed(serviceName: string): void {
    const i = this.bump();
    this.catalogIndex = i;
    this.serviceIndex.set(serviceName, i);
    this.wake();
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private sweepChecks(): void {
    if (this.hung) return; // a hung agent runs no checks either
    const now = Date.now();
    for (const check of [...this.checks.values()]) {
      const g = check.grpc;
      if (g && !g.probing && now - g.lastProbe >= g.intervalMs) this.probe(check, g);
      if (check.ttlMs !== null && check.Status !== 'critical' && now - check.updatedAt > check.ttlMs) {
        check.Status = 'critical';
        check.Output = 'TTL expired';
        check.criticalSince = now;
        this.changed(check.ServiceName);
      }
      if (check.Status === 'critical' && check.deregisterAfterMs !== null && check.criticalSince !== null && now - check.criticalSince > check.deregisterAfterMs) {
        this.forgetService(check.ServiceID);
      }
    }
  }

  private probe(check: Check, g: NonNullable<Check['grpc']>): void {
    g.probing = true;
    g.lastProbe = Date.now();
    g.client ??= new HealthClient(g.target, credentials.createInsecure());
    g.client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (x: { service: string }) => Buffer.from(healthService['Check']!.requestSerialize(x)),
      (b: Buffer) => healthService['Check']!.responseDeserialize(b) as { status: string },
      { service: g.service },
      { deadline: Date.now() + 1000 },
      (error, reply) => {
        g.probing = false;
        if (this.checks.get(check.CheckID) !== check) return;
        const status = !error && reply?.status === 'SERVING' ? 'passing' : 'critical';
        check.Output = error ? error.message : `HealthCheckResponse: ${reply?.status}`;
        if (check.Status !== status) {
          check.Status = status;
          check.criticalSince = status === 'critical' ? Date.now() : null;
          this.changed(check.ServiceName);
        }
      },
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = `${req.method} ${url.pathname}`;
    const counted = route.replace(/^(\w+ \/v1\/(?:health\/service|kv|agent\/check\/\w+|agent\/service\/deregister|agent\/service))\/.*$/, '$1');
    this.requests.set(counted, (this.requests.get(counted) ?? 0) + 1);
    const send = (status: number, body: unknown, index?: number) => {
      const headers: Record<string, string> = { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json' };
      if (index !== undefined) headers['X-Consul-Index'] = String(this.zeroIndex ? 0 : index);
      res.writeHead(status, headers).end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (this.options.token !== undefined && req.headers['x-consul-token'] !== this.options.token) {
      send(403, 'ACL not found');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.hung) await this.hung.promise;
    const body = Buffer.concat(chunks);
    const p = url.pathname;
    let m: RegExpExecArray | null;
    try {
      if (req.method === 'PUT' && p === '/v1/agent/service/register') return send(...this.register(body));
      if (req.method === 'PUT' && (m = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(p))) {
        const id = decodeURIComponent(m[1]!);
        if (!this.services.has(id)) return send(404, `Unknown service ID "${id}"`);
        this.forgetService(id);
        return send(200, '');
      }
      if (req.method === 'GET' && (m = /^\/v1\/agent\/service\/(.+)$/.exec(p))) {
        const service = this.services.get(decodeURIComponent(m[1]!));
        return service ? send(200, service) : send(404, 'unknown service ID');
      }
      if (req.method === 'PUT' && (m = /^\/v1\/agent\/check\/(pass|warn|fail)\/(.+)$/.exec(p))) {
        const check = this.checks.get(decodeURIComponent(m[2]!));
        if (!check || check.ttlMs === null) return send(404, `CheckID "${decodeURIComponent(m[2]!)}" does not have associated TTL`);
        const status = ({ pass: 'passing', warn: 'warning', fail: 'critical' } as const)[m[1] as 'pass' | 'warn' | 'fail'];
        check.updatedAt = Date.now();
        check.Output = url.searchParams.get('note') ?? '';
        if (check.Status !== status) {
          check.Status = status;
          check.criticalSince = status === 'critical' ? Date.now() : null;
          this.changed(check.ServiceName);
        }
        return send(200, '');
      }
      if (req.method === 'GET' && (m = /^\/v1\/health\/service\/(.+)$/.exec(p))) {
        const dc = url.searchParams.get('dc');
        if (dc !== null && dc !== 'dc1') return send(500, `No path to datacenter`);
        const name = decodeURIComponent(m[1]!);
        await this.block(url, () => this.serviceIndex.get(name) ?? this.catalogIndex);
        if (!this.server) return void res.destroy();
        return send(200, this.healthEntries(name, url), this.serviceIndex.get(name) ?? this.catalogIndex);
      }
      if ((m = /^\/v1\/kv\/(.+)$/.exec(p))) {
        const key = decodeURIComponent(m[1]!);
        if (req.method === 'PUT') {
          const i = this.bump();
          this.kvIndex = i;
          const existing = this.kv.get(key);
          this.kv.set(key, { value: body, createIndex: existing?.createIndex ?? i, modifyIndex: i });
          this.wake();
          return send(200, true);
        }
        if (req.method === 'DELETE') {
          if (this.kv.delete(key)) {
            this.kvIndex = this.bump();
            this.wake();
          }
          return send(200, true);
        }
        if (req.method === 'GET') {
          const indexOf = () => this.kv.get(key)?.modifyIndex ?? this.kvIndex;
          await this.block(url, indexOf);
          if (!this.server) return void res.destroy();
          const entry = this.kv.get(key);
          if (!entry) return send(404, '', indexOf());
          return send(200, [{ Key: key, Value: entry.value.toString('base64'), Flags: 0, CreateIndex: entry.createIndex, ModifyIndex: entry.modifyIndex, LockIndex: 0 }], indexOf());
        }
      }
      send(404, `fake Consul does not implement ${route}`);
    } catch (error) {
      send(400, (error as Error).message);
    }
  }

  /** Waits while the resource's index is not past the request's `index`, at most `wait` (+ jitter). */
  private async block(url: URL, currentIndex: () => number): Promise<void> {
    const index = Number(url.searchParams.get('index') ?? '0');
    if (!(index > 0) || currentIndex() > index) return;
    const waitMs = Math.min(parseDuration(url.searchParams.get('wait') ?? '5m') ?? 300_000, 600_000);
    const deadline = Date.now() + waitMs + Math.random() * (waitMs / 16);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (!this.server || currentIndex() > index) done();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.waiters.add(check);
    });
    // Hung mid blocking query: the answer waits too.
    if (this.hung) await this.hung.promise;
  }

  private register(body: Buffer): [number, unknown] {
    const spec = JSON.parse(body.toString() || '{}') as Record<string, unknown>;
    if (typeof spec['Name'] !== 'string' || spec['Name'] === '') return [400, 'Missing service name'];
    const id = typeof spec['ID'] === 'string' && spec['ID'] ? spec['ID'] : spec['Name'];
    const service: Service = {
      ID: id,
      Service: spec['Name'],
      Tags: Array.isArray(spec['Tags']) ? (spec['Tags'] as string[]) : [],
      Address: typeof spec['Address'] === 'string' ? spec['Address'] : '',
      Port: typeof spec['Port'] === 'number' ? spec['Port'] : 0,
      Meta: (spec['Meta'] as Record<string, string>) ?? {},
      Weights: (spec['Weights'] as Service['Weights']) ?? { Passing: 1, Warning: 1 },
    };
    const specs = [spec['Check'], ...((spec['Checks'] as unknown[]) ?? [])].filter((c) => c && typeof c === 'object') as Record<string, unknown>[];
    const checks: Check[] = [];
    for (const [i, c] of specs.entries()) {
      const ttlMs = parseDuration(c['TTL']);
      let grpc: Check['grpc'] = null;
      if (typeof c['GRPC'] === 'string') {
        const slash = c['GRPC'].indexOf('/');
        const intervalMs = parseDuration(c['Interval']);
        if (intervalMs === null) return [400, 'Interval is required for gRPC checks'];
        grpc = { target: slash < 0 ? c['GRPC'] : c['GRPC'].slice(0, slash), service: slash < 0 ? '' : c['GRPC'].slice(slash + 1), intervalMs, probing: false, lastProbe: 0 };
      } else if (ttlMs === null) {
        return [400, 'fake Consul supports TTL and gRPC checks only'];
      }
      const after = parseDuration(c['DeregisterCriticalServiceAfter']);
      const status = (c['Status'] as Check['Status']) ?? 'critical';
      checks.push({
        CheckID: (c['CheckID'] as string) ?? (specs.length > 1 ? `service:${id}:${i + 1}` : `service:${id}`),
        Name: (c['Name'] as string) ?? `Service '${service.Service}' check`,
        ServiceID: id,
        ServiceName: service.Service,
        Status: status,
        Output: '',
        ttlMs,
        grpc,
        deregisterAfterMs: after === null ? null : Math.max(after, this.options.minDeregisterAfterMs ?? 60_000),
        updatedAt: Date.now(),
        criticalSince: status === 'critical' ? Date.now() : null,
      });
    }
    const previous = this.services.get(id);
    if (previous && previous.Service !== service.Service) this.forgetService(id);
    this.dropChecks(id);
    this.services.set(id, service);
    for (const check of checks) this.checks.set(check.CheckID, check);
    this.changed(service.Service);
    return [200, ''];
  }

  private healthEntries(name: string, url: URL): unknown[] {
    const tags = url.searchParams.getAll('tag');
    const passing = url.searchParams.has('passing');
    const entries: unknown[] = [];
    for (const service of this.services.values()) {
      if (service.Service !== name || !tags.every((t) => service.Tags.includes(t))) continue;
      const checks = [...this.checks.values()].filter((c) => c.ServiceID === service.ID);
      if (passing && checks.some((c) => c.Status !== 'passing')) continue;
      entries.push({
        Node: { ID: 'fake-node-id', Node: 'fake-node', Address: '127.0.0.1', Datacenter: 'dc1', TaggedAddresses: null, Meta: {} },
        Service: { ...service, EnableTagOverride: false },
        Checks: [
          { Node: 'fake-node', CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', ServiceID: '', ServiceName: '' },
          ...checks.map((c) => ({ Node: 'fake-node', CheckID: c.CheckID, Name: c.Name, Status: c.Status, Output: c.Output, ServiceID: c.ServiceID, ServiceName: c.ServiceName })),
        ],
      });
    }
    return entries;
  }
}
