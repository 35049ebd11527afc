/**
 * `grpc-ha serve-example`: the example Echo backend as a grpc-ha instance (serve(): health, drain
 * on SIGTERM, A9 connection age), for experiments, and the one backend process the tests, the
 * benchmarks and the demo start (src/example/backend-process.ts spawns it). Flags set its faults
 * (latency, failures, NOT_SERVING), its drain, its registration in any registry, several servers
 * in one process (--servers) or one port on several Node workers (--workers), and --control reads
 * commands on stdin while it runs.
 *
 * Prints {"event":"listening","address":"...","port":N,"id":"..."} per server once it serves, and
 * {"event":"registered","instanceId":"..."} once registered. SIGTERM/SIGINT drain and exit 0.
 */
import cluster from 'node:cluster';
import { createInterface } from 'node:readline';
import { status } from '@grpc/grpc-js';
import { ECHO_SERVICE_NAME, echoServiceDefinition } from '../example/echo-service.js';
import { createEchoService, type FailureSpec } from '../example/example-server.js';
import { serve, type HaServer, type RegisterHook, type ServeOptions } from '../server/ha-server.js';
import { runWorkers } from '../server/workers.js';
import { CliError, EXIT } from './exit-codes.js';

/** One server of the process. */
export interface ExampleServerSpec {
  /** server_id replies carry; defaults to the bound host:port. */
  readonly id?: string;
  /** Port to bind; 0 picks a free one. */
  readonly port?: number;
  /** Added latency per reply, ms. */
  readonly latencyMs?: number;
  /** Extra latency per reply drawn uniformly from [0, latencyJitterMs), ms. */
  readonly latencyJitterMs?: number;
  /** Injected failure of calls. */
  readonly failure?: FailureSpec | null;
  /** Whether it starts SERVING. */
  readonly serving?: boolean;
}

/** Options of serve-example, as the command line gives them. */
export interface ServeExampleOptions {
  readonly host: string;
  /** Address to register (serve()'s advertiseAddress). */
  readonly advertiseAddress?: string | undefined;
  readonly port: number;
  readonly id?: string;
  readonly latencyMs: number;
  readonly failRate?: number;
  readonly failCode?: number;
  /** Start NOT_SERVING. */
  readonly notServing: boolean;
  readonly drainNoticeMs?: number;
  readonly drainGraceMs?: number;
  /** serve()'s maxStreamAgeMs. */
  readonly maxStreamAgeMs?: number | undefined;
  /** Stream handlers ignore drainSignal. */
  readonly ignoreDrain?: boolean;
  /** A registry as `grpc-ha register --registry` takes it; with `service`. */
  readonly registry?: string;
  readonly service?: string;
  readonly weight?: number;
  readonly zone?: string;
  /** How long the registry keeps the entry once it is no longer refreshed, ms. */
  readonly registryTtlMs?: number;
  /** Node workers sharing the port (runWorkers). */
  readonly workers?: number;
  /** Read control commands on stdin. */
  readonly control: boolean;
  /** Several servers in this process, as JSON: [{"id":"a"},{"id":"b","latencyMs":20}]. */
  readonly servers?: string;
}

/** The flags --servers and --workers exclude (commander's names of them). */
const SINGLE_SERVER_FLAGS = ['port', 'id', 'latency', 'failRate', 'failCode', 'notServing', 'registry', 'service', 'control'] as const;

/**
 * Starts the example backend(s); they run until SIGTERM/SIGINT, which drain them and exit 0.
 * `given(name)` tells whether the flag commander calls `name` was on the command line.
 */
export async function runServeExample(options: ServeExampleOptions, given: (name: string) => boolean): Promise<void> {
  if ((options.registry === undefined) !== (options.service === undefined)) throw usage('--service and --registry go together');
  for (const [flag, excludes] of [['servers', [...SINGLE_SERVER_FLAGS, 'workers']], ['workers', ['control']]] as const) {
    const clash = excludes.filter((name) => given(name));
    if (given(flag) && clash.length > 0) throw usage(`--${flag} excludes ${clash.map(flagName).join(', ')}`);
  }
  // With workers, the primary registers the shared address once; the workers only serve.
  const { registry, service } = options;
  const registers = registry !== undefined && service !== undefined && (options.workers === undefined || cluster.isPrimary);
  const register = registers ? await registerHook(options, registry, service) : undefined;
  const common = {
    host: options.host,
    ...(options.advertiseAddress !== undefined && { advertiseAddress: options.advertiseAddress }),
    ...(options.drainNoticeMs !== undefined && { drainNoticeMs: options.drainNoticeMs }),
    ...(options.drainGraceMs !== undefined && { drainGraceMs: options.drainGraceMs }),
    ...(options.maxStreamAgeMs !== undefined && { maxStreamAgeMs: options.maxStreamAgeMs }),
    ignoreDrain: options.ignoreDrain ?? false,
  };

  if (options.workers !== undefined) {
    const handle = await runWorkers({
      workers: options.workers,
      host: options.host,
      ...(options.advertiseAddress !== undefined && { advertiseAddress: options.advertiseAddress }),
      ...(register && { register }),
      // Replies carry "<id>/<worker pid>" so a client can see which worker answered.
      worker: async () => (await startOne({ ...specOf(options), id: `${options.id ?? 'workers'}/${process.pid}` }, { ...common, exitOnSignal: true })).instance.port,
    });
    if (handle) printListening(`${options.host}:${handle.port}`, handle.port, options.id ?? 'workers');
    return;
  }

  const specs = options.servers !== undefined ? parseServers(options.servers) : [specOf(options)];
  // Each server's serve() listens for SIGTERM and SIGINT: many servers in one process are expected.
  if (specs.length > 4) process.setMaxListeners(Math.max(process.getMaxListeners(), 2 * specs.length + 4));
  const started: HaServer[] = [];
  for (const spec of specs) {
    // The process exits once every server of it has drained (below), not when the first has.
    const { instance, echo } = await startOne(spec, { ...common, exitOnSignal: false, ...(register && { register }) }).catch(async (error: unknown) => {
      await Promise.all(started.map((s) => s.shutdown({ force: true })));
      throw error;
    });
    started.push(instance);
    printListening(instance.address, instance.port, echo.id());
    if (options.control) control(instance, echo);
  }
  // Each server drains on the signal by itself (serve() handles it; a second signal forces):
  // exit once all have stopped.
  const exitWhenStopped = () => void Promise.all(started.map((s) => s.shutdown())).then(() => process.exit(0));
  process.once('SIGTERM', exitWhenStopped);
  process.once('SIGINT', exitWhenStopped);
}

function specOf(options: ServeExampleOptions): ExampleServerSpec {
  const failing = options.failRate !== undefined || options.failCode !== undefined;
  return {
    port: options.port,
    ...(options.id !== undefined && { id: options.id }),
    latencyMs: options.latencyMs,
    // A code alone fails every call; a rate alone fails with UNAVAILABLE, the usual backend error.
    failure: failing ? { code: options.failCode ?? status.UNAVAILABLE, rate: options.failRate ?? 1 } : null,
    serving: !options.notServing,
  };
}

async function startOne(spec: ExampleServerSpec, common: Pick<ServeOptions, 'host' | 'advertiseAddress' | 'drainNoticeMs' | 'drainGraceMs' | 'maxStreamAgeMs' | 'register' | 'exitOnSignal'> & { ignoreDrain: boolean }) {
  const { ignoreDrain, ...serveOptions } = common;
  const echo = createEchoService({
    ...(spec.id !== undefined && { id: spec.id }),
    latencyMs: spec.latencyMs ?? 0,
    latencyJitterMs: spec.latencyJitterMs ?? 0,
    failure: spec.failure ?? null,
    ignoreDrain,
  });
  const instance = await serve({
    ...serveOptions,
    services: [{ definition: echoServiceDefinition, implementation: echo.implementation, name: ECHO_SERVICE_NAME }],
    port: spec.port ?? 0,
  });
  if (spec.id === undefined) echo.setId(instance.address);
  if (spec.serving === false) instance.setServing(false);
  return { instance, echo };
}

/** The register hook for `registry`, printing a line once registered. */
async function registerHook(options: ServeExampleOptions, registryText: string, service: string): Promise<RegisterHook> {
  // Loaded only when asked for: the registry clients (etcd's gRPC stack among them) are heavy.
  const [{ parseDiscoveryTarget }, { registrar }, { serviceTarget }] = await Promise.all([
    import('../discovery/target.js'),
    import('../discovery/registrar.js'),
    import('./target-uri.js'),
  ]);
  const uri = serviceTarget(registryText, service);
  let registry;
  try {
    registry = parseDiscoveryTarget(uri).createRegistry({
      ...(options.registryTtlMs !== undefined && { entryTtlMs: options.registryTtlMs }),
    });
  } catch (error) {
    throw usage(`--registry: ${(error as Error).message}`);
  }
  let hook;
  try {
    hook = registrar(registry, {
      service,
      // The server id doubles as the instance id, so a test or the demo can name the entry.
      ...(options.id !== undefined && { instanceId: options.id }),
      ...(options.weight !== undefined && { weight: options.weight }),
      ...(options.zone !== undefined && { zone: options.zone }),
    });
  } catch (error) {
    throw usage((error as Error).message);
  }
  return async (bound) => {
    const registration = await hook(bound);
    void registration.ready.then((ok) => ok && console.log(JSON.stringify({ event: 'registered', instanceId: registration.instance.instanceId })));
    return registration;
  };
}

/** Parses `--servers JSON`: a non-empty array of server specs. */
function parseServers(json: string): ExampleServerSpec[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw usage(`--servers must be a JSON array, got '${json}'`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
    throw usage(`--servers must be a non-empty JSON array of objects, got '${json}'`);
  }
  // createEchoService and serve() validate each field and name it in their errors.
  return parsed as ExampleServerSpec[];
}

/**
 * Control commands on stdin, one a line: `latency MS` (calls started from now on), `serving
 * true|false` (the health status) and `fail RATE` (share of calls answered UNAVAILABLE, 0..1).
 * stdin closing (the parent is gone) drains the server as SIGTERM would.
 */
function control(instance: HaServer, echo: ReturnType<typeof createEchoService>): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [command, value] = line.trim().split(/\s+/);
    const n = Number(value);
    if (command === 'latency' && value !== undefined && n >= 0) echo.setLatency(n);
    else if (command === 'serving' && (value === 'true' || value === 'false')) instance.setServing(value === 'true');
    else if (command === 'fail' && value !== undefined && n >= 0 && n <= 1) echo.setFailure(n > 0 ? { code: status.UNAVAILABLE, rate: n } : null);
    else if (line.trim() !== '') process.stderr.write(`grpc-ha: serve-example: unknown control line '${line}' (latency MS | serving true|false | fail RATE)\n`);
  });
  lines.on('close', () => process.kill(process.pid, 'SIGTERM'));
}

function printListening(address: string, port: number, id: string): void {
  console.log(JSON.stringify({ event: 'listening', address, port, id }));
}

function flagName(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function usage(message: string): CliError {
  return new CliError(`serve-example: ${message}`, EXIT.USAGE);
}
