/**
 * Runs the example backend (`grpc-ha serve-example`, a grpc-ha instance) as a separate process,
 * for tests, benchmarks and the demo that need real processes: killed with real signals,
 * registered in a real registry, isolated from the client's event loop. The one spawner of the
 * tree: every option maps to a serve-example flag.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Options of a backend process. */
export interface BackendProcessOptions {
  /** server_id the backend reports (and its instance id in a registry). Defaults to "127.0.0.1:PORT". */
  readonly id?: string;
  /** Port to bind; 0 picks a free one. Defaults to 0. */
  readonly port?: number;
  /** Interface to bind. Defaults to 127.0.0.1 (the process is still dialled on 127.0.0.1: bind that or a wildcard). */
  readonly host?: string;
  /** Address to register (serve()'s advertiseAddress). */
  readonly advertiseAddress?: string;
  /** Added latency per reply, ms. Defaults to 0. */
  readonly latencyMs?: number;
  /** Status code failing calls end with. Defaults to UNAVAILABLE when `failRate` is given. */
  readonly failCode?: number;
  /** Share of calls that fail, 0..1. Defaults to 0 (1 when failCode is given alone). */
  readonly failRate?: number;
  /** Starts NOT_SERVING when false. Defaults to true. */
  readonly serving?: boolean;
  /**
   * Wait between NOT_SERVING + deregistration and closing the listener on SIGTERM, ms. Defaults
   * to 0 here, so that tests and benchmarks stop backends fast (serve() itself defaults to 1000).
   */
  readonly drainNoticeMs?: number;
  /** How long calls in flight may finish on SIGTERM, ms. Defaults to serve()'s 10 000. */
  readonly drainGraceMs?: number;
  /** serve()'s maxStreamAgeMs. Defaults to none. */
  readonly maxStreamAgeMs?: number;
  /** Stream handlers ignore drainSignal (ExampleServerOptions.ignoreDrain). Defaults to false. */
  readonly ignoreDrain?: boolean;
  /** Register as this service in `registry`. */
  readonly service?: string;
  /** A registry as `grpc-ha register --registry` takes it: `file:///?dir=DIR`, `etcd://HOST:PORT`, `consul://HOST:PORT`. */
  readonly registry?: string;
  /** How long the registry keeps the entry of a killed backend, ms (file TTL, etcd lease, Consul TTL check). */
  readonly registryTtlMs?: number;
  /** Registered weight. */
  readonly weight?: number;
  /** Node worker processes sharing the port (runWorkers); replies carry "<id>/<worker pid>". */
  readonly workers?: number;
  /** Pipe stdin for control lines (see {@link BackendProcess.send}). Defaults to false. */
  readonly control?: boolean;
  /** Extra environment. GRPC_HA_LOG_LEVEL defaults to "warn" (this process's value, if set, wins). */
  readonly env?: Record<string, string>;
  /** How long to wait for the listening line, ms. Defaults to 10 000 (20 000 with workers). */
  readonly startTimeoutMs?: number;
}

/** A running backend process. */
export interface BackendProcess {
  /** The id it reports as server_id. */
  readonly id: string;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** "127.0.0.1:PORT". */
  readonly address: string;
  /** The child process. */
  readonly child: ChildProcess;
  /** Resolves once it reports it is registered (with `registry`); rejects if it exits first. */
  readonly registered: Promise<void>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM: drain and exit 0) and waits for the exit, SIGKILLing after `timeoutMs` (default 5 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  /**
   * Sends one control line (`latency MS`, `serving true|false`, `fail RATE`); needs
   * `control: true`, throws otherwise. Ignored once the process has exited.
   */
  send(line: string): void;
}

/** One server of a {@link BackendGroup}. */
export interface GroupServerOptions {
  /** server_id it reports. */
  readonly id: string;
  /** Added latency per call, ms. Defaults to 0. */
  readonly latencyMs?: number;
  /** Extra latency per call drawn uniformly from [0, latencyJitterMs), ms. Defaults to 0. */
  readonly latencyJitterMs?: number;
}

/** Several example servers in one process (serve-example --servers). */
export interface BackendGroup {
  /** The servers, in the order asked for. */
  readonly servers: readonly { readonly id: string; readonly port: number; readonly address: string }[];
  /** The shared process. */
  readonly child: ChildProcess;
  /** Stops the process (all its servers), SIGTERM then SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

/** The compiled CLI entry point (this file is dist/src/example/; the CLI dist/src/cli/main.js). */
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** Starts one example backend process and resolves once it is listening. */
export async function spawnBackend(options: BackendProcessOptions = {}): Promise<BackendProcess> {
  const args = ['--port', String(options.port ?? 0), '--drain-notice', `${options.drainNoticeMs ?? 0}ms`];
  const add = (flag: string, value: string | number | undefined) => value !== undefined && args.push(flag, String(value));
  add('--id', options.id);
  add('--host', options.host);
  add('--advertise', options.advertiseAddress);
  add('--latency', options.latencyMs === undefined ? undefined : `${options.latencyMs}ms`);
  add('--fail-code', options.failCode);
  add('--fail-rate', options.failRate);
  if (options.serving === false) args.push('--not-serving');
  add('--drain-grace', options.drainGraceMs === undefined ? undefined : `${options.drainGraceMs}ms`);
  add('--max-stream-age', options.maxStreamAgeMs === undefined ? undefined : `${options.maxStreamAgeMs}ms`);
  if (options.ignoreDrain) args.push('--ignore-drain');
  add('--service', options.service);
  add('--registry', options.registry);
  add('--registry-ttl', options.registryTtlMs === undefined ? undefined : `${options.registryTtlMs}ms`);
  add('--weight', options.weight);
  add('--workers', options.workers);
  if (options.control) args.push('--control');
  const started = await start(args, 1, options.startTimeoutMs ?? (options.workers ? 20_000 : 10_000), options.env, options.control ? 'pipe' : 'ignore');
  const { child, exited, listening, registered, stop } = started;
  const { port, id } = listening[0]!;
  // Writing to the stdin of a process that just died raises EPIPE on the stream: not an error here.
  child.stdin?.on('error', () => undefined);
  const send = (line: string) => {
    if (!child.stdin) throw new Error('send() needs a backend spawned with control: true');
    if (child.exitCode === null && child.signalCode === null && child.stdin.writable) child.stdin.write(`${line}\n`);
  };
  return { id, port, address: `127.0.0.1:${port}`, child, exited, registered, stop, send };
}

/**
 * Starts several example servers in one process: on a small machine a process per backend
 * competes with the client for cores and adds scheduling noise to latency measurements.
 */
export async function spawnBackendGroup(servers: readonly GroupServerOptions[], startTimeoutMs = 10_000): Promise<BackendGroup> {
  const specs = servers.map((s) => ({ id: s.id, latencyMs: s.latencyMs ?? 0, latencyJitterMs: s.latencyJitterMs ?? 0 }));
  const { child, listening, stop } = await start(['--servers', JSON.stringify(specs), '--drain-notice', '0ms'], servers.length, startTimeoutMs);
  return {
    servers: listening.map(({ port, id }) => ({ id, port, address: `127.0.0.1:${port}` })),
    child,
    stop,
  };
}

async function start(args: string[], expected: number, startTimeoutMs: number, env?: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore') {
  const child = spawn(process.execPath, [CLI, 'serve-example', ...args], {
    stdio: [stdin, 'pipe', 'inherit'],
    env: { GRPC_HA_LOG_LEVEL: 'warn', ...process.env, ...env },
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let onRegistered: () => void = () => undefined;
  const registered = new Promise<void>((resolve, reject) => {
    onRegistered = resolve;
    void exited.then((code) => reject(new Error(`example backend exited (${code}) before registering`)));
  });
  registered.catch(() => undefined); // observed by the callers that await it
  const lines = createInterface({ input: child.stdout! });
  const listening = await new Promise<{ port: number; id: string }[]>((resolve, reject) => {
    const seen: { port: number; id: string }[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`example backend did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    lines.on('line', (line) => {
      let event: { event?: string; port?: number; id?: string };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return; // not a JSON line: the backend may print other output
      }
      if (event.event === 'registered') onRegistered();
      if (event.event === 'listening' && typeof event.port === 'number') {
        seen.push({ port: event.port, id: event.id ?? `127.0.0.1:${event.port}` });
        if (seen.length === expected) {
          clearTimeout(timer);
          resolve(seen);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`example backend exited (${code}) before listening`));
    });
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  return { child, exited, listening, registered, stop };
}
