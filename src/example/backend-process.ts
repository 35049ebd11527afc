/**
 * Runs the example server as a separate process (serve-cli), for tests, benchmarks and the demo
 * that need real processes: killed with real signals, isolated from the client's event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Options of a backend process; each maps to a serve-cli flag. */
export interface BackendProcessOptions {
  /** server_id the backend reports. Defaults to "127.0.0.1:PORT". */
  readonly id?: string;
  /** Added latency per call, ms. Defaults to 0. */
  readonly latencyMs?: number;
  /** Status code failing calls end with. */
  readonly failCode?: number;
  /** Share of calls that fail, 0..1. Defaults to 0 (1 when failCode is given alone). */
  readonly failRate?: number;
  /** Port to bind; 0 picks a free one. Defaults to 0. */
  readonly port?: number;
  /** How long to wait for the listening line. Defaults to 10 s. */
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
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM) and waits for the exit, SIGKILLing after `timeoutMs` (default 5 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

const SERVE_CLI = fileURLToPath(new URL('./serve-cli.js', import.meta.url));
const HA_BACKEND = fileURLToPath(new URL('./ha-backend.js', import.meta.url));
const HA_CLUSTER = fileURLToPath(new URL('./ha-cluster.js', import.meta.url));

/** Options of a grpc-ha instance process (ha-backend: serve() with health and drain). */
export interface HaBackendOptions {
  readonly id?: string;
  readonly port?: number;
  readonly latencyMs?: number;
  readonly drainNoticeMs?: number;
  readonly drainGraceMs?: number;
  /** Register as this service in the file registry at `registryDir`. */
  readonly service?: string;
  /** Directory of the embedded file registry. */
  readonly registryDir?: string;
  /** Or any registry, as `grpc-ha register --registry` takes it (e.g. `etcd://127.0.0.1:2379`). */
  readonly registry?: string;
  /** Extra environment, e.g. GRPC_HA_LOG_LEVEL. */
  readonly env?: Record<string, string>;
  /** Pipe the process's stdin for control commands (see {@link HaBackendProcess.send}). Defaults to false. */
  readonly control?: boolean;
}

/** A running grpc-ha instance process (ha-backend). */
export interface HaBackendProcess extends BackendProcess {
  /**
   * Sends one control line (`latency MS`, `serving true|false`); needs `control: true`, throws
   * otherwise. Ignored once the process has exited.
   */
  send(line: string): void;
}

/** Starts the example service on `workers` processes sharing one port (ha-cluster); `id` is the cluster's. */
export async function spawnHaCluster(workers: number, id: string, env?: Record<string, string>): Promise<BackendProcess> {
  const { child, exited, listening, stop } = await startScript(HA_CLUSTER, ['--workers', String(workers), '--id', id], 1, 20_000, env);
  const { port } = listening[0]!;
  return { id, port, address: `127.0.0.1:${port}`, child, exited, stop };
}

/** Starts the example service as a full grpc-ha instance in its own process. */
export async function spawnHaBackend(options: HaBackendOptions = {}): Promise<HaBackendProcess> {
  const args = ['--port', String(options.port ?? 0)];
  if (options.id !== undefined) args.push('--id', options.id);
  if (options.latencyMs !== undefined) args.push('--latency-ms', String(options.latencyMs));
  if (options.drainNoticeMs !== undefined) args.push('--drain-notice-ms', String(options.drainNoticeMs));
  if (options.drainGraceMs !== undefined) args.push('--drain-grace-ms', String(options.drainGraceMs));
  if (options.service !== undefined) args.push('--service', options.service);
  if (options.registryDir !== undefined) args.push('--registry-dir', options.registryDir);
  if (options.registry !== undefined) args.push('--registry', options.registry);
  if (options.control) args.push('--control');
  const { child, exited, listening, stop } = await startScript(HA_BACKEND, args, 1, undefined, options.env, options.control ? 'pipe' : 'ignore');
  const { port, id } = listening[0]!;
  // Writing to the stdin of a process that just died raises EPIPE on the stream: not an error here.
  child.stdin?.on('error', () => undefined);
  const send = (line: string) => {
    if (!child.stdin) throw new Error('send() needs a backend spawned with control: true');
    if (child.exitCode === null && child.signalCode === null && child.stdin.writable) child.stdin.write(`${line}\n`);
  };
  return { id, port, address: `127.0.0.1:${port}`, child, exited, stop, send };
}

/** Starts one example backend process and resolves once it is listening. */
export async function spawnBackend(options: BackendProcessOptions = {}): Promise<BackendProcess> {
  const args = ['--port', String(options.port ?? 0)];
  if (options.id !== undefined) args.push('--id', options.id);
  if (options.latencyMs !== undefined) args.push('--latency-ms', String(options.latencyMs));
  if (options.failCode !== undefined) args.push('--fail-code', String(options.failCode));
  if (options.failRate !== undefined) args.push('--fail-rate', String(options.failRate));
  const { child, exited, listening, stop } = await startServeCli(args, 1, options.startTimeoutMs);
  const { port, id } = listening[0]!;
  return { id, port, address: `127.0.0.1:${port}`, child, exited, stop };
}

/** One server of a {@link BackendGroup}. */
export interface GroupServerOptions {
  /** server_id it reports. */
  readonly id: string;
  /** Added latency per call, ms. Defaults to 0. */
  readonly latencyMs?: number;
}

/** Several example servers in one process (see serve-cli --servers). */
export interface BackendGroup {
  /** The servers, in the order asked for. */
  readonly servers: readonly { readonly id: string; readonly port: number; readonly address: string }[];
  /** The shared process. */
  readonly child: ChildProcess;
  /** Stops the process (all its servers), SIGTERM then SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

/**
 * Starts several example servers in one process: on a small machine a process per backend
 * competes with the client for cores and adds scheduling noise to latency measurements.
 */
export async function spawnBackendGroup(servers: readonly GroupServerOptions[], startTimeoutMs?: number): Promise<BackendGroup> {
  const { child, listening, stop } = await startServeCli(['--servers', JSON.stringify(servers)], servers.length, startTimeoutMs);
  return {
    servers: listening.map(({ port, id }) => ({ id, port, address: `127.0.0.1:${port}` })),
    child,
    stop,
  };
}

function startServeCli(args: string[], expected: number, startTimeoutMs?: number) {
  return startScript(SERVE_CLI, args, expected, startTimeoutMs);
}

async function startScript(
  script: string,
  args: string[],
  expected: number,
  startTimeoutMs = 10_000,
  env?: Record<string, string>,
  stdin: 'ignore' | 'pipe' = 'ignore',
) {
  const child = spawn(process.execPath, [script, ...args], { stdio: [stdin, 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const lines = createInterface({ input: child.stdout! });
  const listening = await new Promise<{ port: number; id: string }[]>((resolve, reject) => {
    const seen: { port: number; id: string }[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`example backend did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; port?: number; id?: string };
        if (event.event === 'listening' && typeof event.port === 'number') {
          seen.push({ port: event.port, id: event.id ?? `127.0.0.1:${event.port}` });
          if (seen.length === expected) {
            clearTimeout(timer);
            resolve(seen);
          }
        }
      } catch {
        // Not a JSON line: ignore, the backend may print other output.
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
  return { child, exited, listening, stop };
}
