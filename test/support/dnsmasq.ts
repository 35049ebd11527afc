/**
 * A real DNS server for the tests: Debian's dnsmasq (scripts/ensure-system-deps.sh installs
 * dnsmasq-base), on a loopback port, authoritative for `grpc-ha.test` and answering nothing else.
 * It listens on 127.53.0.1, an address of its own, so that while it is down (kill(), setSrv())
 * no client socket of another test takes its port as an ephemeral local port on 127.0.0.1.
 * A and AAAA records come from a hosts file that `setHosts` rewrites and reloads with SIGHUP;
 * SRV records live in dnsmasq's config, which it reads only at start, so `setSrv` restarts it on
 * the same port. Every record has the TTL given at start (`--local-ttl`). `kill()` is a DNS
 * outage; `queries(name)` counts the questions dnsmasq logged for a name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './discovery.js';

/** The zone dnsmasq answers for. */
export const TEST_ZONE = 'grpc-ha.test';
/** The loopback address dnsmasq listens on. */
const HOST = '127.53.0.1';

/** One SRV record. */
export interface SrvSpec {
  readonly name: string;
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

/** A running dnsmasq and its records. */
export class Dnsmasq {
  private child: ChildProcess | null = null;
  private log = '';
  private readonly tmp = tempDir('grpc-ha-dnsmasq');
  private hosts: Record<string, readonly string[]> = {};
  private srv: readonly SrvSpec[] = [];

  private constructor(
    /** The UDP and TCP port it listens on. */
    readonly port: number,
    private readonly ttlS: number,
  ) {}

  /** Starts dnsmasq with records of `ttlS` seconds on a free loopback port. */
  static async start(options: { ttlS: number; hosts?: Record<string, readonly string[]>; srv?: readonly SrvSpec[] }): Promise<Dnsmasq> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      // dnsmasq checks TCP too: a port taken for TCP makes launch() fail, and we try another.
      const dns = new Dnsmasq(await freeUdpPort(), options.ttlS);
      dns.hosts = options.hosts ?? {};
      dns.srv = options.srv ?? [];
      try {
        await dns.launch();
        return dns;
      } catch (error) {
        lastError = error; // the port was taken meanwhile: try another
        dns.tmp.remove();
      }
    }
    throw lastError;
  }

  /** `127.53.0.1:<port>`, for `ha-dns://127.53.0.1:<port>/...` targets. */
  get address(): string {
    return `${HOST}:${this.port}`;
  }

  /** Replaces every A/AAAA record (name → addresses) and reloads them with SIGHUP; resolves once dnsmasq answers with them. */
  async setHosts(hosts: Record<string, readonly string[]>): Promise<void> {
    this.hosts = hosts;
    this.writeHosts();
    this.child?.kill('SIGHUP');
    const [name, addresses] = Object.entries(hosts)[0] ?? [];
    if (name) await this.until(async (r) => (await r.resolve4(name).catch(() => [] as string[])).sort().join() === addresses!.filter((a) => !a.includes(':')).sort().join());
  }

  /** Sets the A/AAAA records of one name (none: removes it), keeping the others; resolves once dnsmasq answers with them. */
  async setName(name: string, addresses: readonly string[]): Promise<void> {
    const hosts = { ...this.hosts, [name]: addresses };
    if (addresses.length === 0) delete hosts[name];
    this.hosts = hosts;
    this.writeHosts();
    this.child?.kill('SIGHUP');
    const v4 = addresses.filter((a) => !a.includes(':')).sort().join();
    await this.until(async (r) => (await r.resolve4(name).catch(() => [] as string[])).sort().join() === v4);
  }

  /** Replaces every SRV record; restarts dnsmasq on the same port (its config is read only at start). */
  async setSrv(srv: readonly SrvSpec[]): Promise<void> {
    this.srv = srv;
    await this.kill();
    await this.launch();
  }

  /** SIGKILLs dnsmasq: a DNS outage. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Starts it again after kill(), on the same port, with the current records. */
  restart(): Promise<void> {
    return this.launch();
  }

  /** How many questions dnsmasq logged for `name` (any type) since it started last. */
  queries(name: string): number {
    return this.log.split('\n').filter((line) => /query\[/.test(line) && line.includes(` ${name} `)).length;
  }

  /** Stops dnsmasq and removes its files. */
  async stop(): Promise<void> {
    await this.kill();
    this.tmp.remove();
  }

  private writeHosts(): void {
    const lines = Object.entries(this.hosts).flatMap(([name, addresses]) => addresses.map((a) => `${a} ${name}`));
    writeFileSync(path.join(this.tmp.dir, 'hosts'), `${lines.join('\n')}\n`);
  }

  private async launch(): Promise<void> {
    this.writeHosts();
    const conf = [
      `port=${this.port}`,
      `listen-address=${HOST}`,
      'bind-interfaces',
      'no-resolv',
      'no-hosts',
      `addn-hosts=${path.join(this.tmp.dir, 'hosts')}`,
      `local=/${TEST_ZONE}/`,
      `local-ttl=${this.ttlS}`,
      'user=root',
      'pid-file=',
      'log-facility=-',
      'log-queries',
      ...this.srv.map((s) => `srv-host=${s.name},${s.target},${s.port},${s.priority ?? 0},${s.weight ?? 0}`),
    ];
    writeFileSync(path.join(this.tmp.dir, 'dnsmasq.conf'), `${conf.join('\n')}\n`);
    this.log = '';
    const child = spawn('dnsmasq', ['--keep-in-foreground', `--conf-file=${path.join(this.tmp.dir, 'dnsmasq.conf')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (this.log += chunk));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`dnsmasq exited with ${code}: ${this.log.trim().split('\n').slice(-3).join(' | ')}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([this.until(async (r) => (await r.resolveSoa(TEST_ZONE).then(() => true, (e: NodeJS.ErrnoException) => e.code === 'ENODATA' || e.code === 'ENOTFOUND'))), exited]);
  }

  /** Polls dnsmasq with `check` until it holds (bounded). */
  private async until(check: (resolver: Resolver) => Promise<boolean>): Promise<void> {
    const resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([this.address]);
    for (let i = 0; i < 100; i++) {
      if (await check(resolver).catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`dnsmasq on ${this.address} did not answer as expected within 2 s: ${this.log.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** A port free for UDP on HOST, below Linux's ephemeral range (32768..60999), so no outgoing connection takes it. */
async function freeUdpPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const socket = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, HOST, () => resolve(true));
    });
    try {
      socket.close();
    } catch {
      // already closed after the failed bind
    }
    if (free) return port;
  }
}
