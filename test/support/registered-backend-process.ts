/** Runs registered-backend-cli as a child process, for tests and benchmarks that kill servers for real. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./registered-backend-cli.js', import.meta.url));

/** Options of {@link spawnRegisteredBackend}; each maps to a CLI flag. */
export interface RegisteredBackendOptions {
  /** Service to register. */
  readonly service: string;
  /** Registry kind. */
  readonly registry: 'file' | 'etcd' | 'consul';
  /** File registry directory. */
  readonly registryDir?: string;
  /** File registry TTL, ms. */
  readonly ttlMs?: number;
  /** etcd endpoints. */
  readonly etcd?: readonly string[];
  /** etcd lease TTL, s. */
  readonly leaseTtlS?: number;
  /** Consul agent address. */
  readonly consulAddr?: string;
  /** Consul TTL check, s. */
  readonly checkTtlS?: number;
  /** server_id the backend reports. Defaults to "127.0.0.1:PORT". */
  readonly id?: string;
  /** Registered instance id. */
  readonly instanceId?: string;
  /** Registered weight. */
  readonly weight?: number;
  /** How long to wait for the listening line, ms. Defaults to 10000. */
  readonly startTimeoutMs?: number;
}

/** A running registered backend. */
export interface RegisteredBackend {
  /** The server_id it reports. */
  readonly id: string;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** "127.0.0.1:PORT". */
  readonly address: string;
  /** The child process. */
  readonly child: ChildProcess;
  /** Resolves once the process reports it is registered. */
  readonly registered: Promise<void>;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM: deregister and exit) and waits, SIGKILLing after `timeoutMs` (default 5000). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

/** Starts a registered backend process; resolves once it listens (registration follows; await `registered`). */
export async function spawnRegisteredBackend(options: RegisteredBackendOptions): Promise<RegisteredBackend> {
  const args = ['--service', options.service, '--registry', options.registry];
  const add = (flag: string, value: unknown) => {
    if (value !== undefined) args.push(flag, Array.isArray(value) ? value.join(',') : String(value));
  };
  add('--registry-dir', options.registryDir);
  add('--ttl-ms', options.ttlMs);
  add('--etcd', options.etcd);
  add('--lease-ttl-s', options.leaseTtlS);
  add('--consul-addr', options.consulAddr);
  add('--check-ttl-s', options.checkTtlS);
  add('--id', options.id);
  add('--instance-id', options.instanceId);
  add('--weight', options.weight);
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let onRegistered: () => void = () => undefined;
  const registered = new Promise<void>((resolve, reject) => {
    onRegistered = resolve;
    void exited.then((code) => reject(new Error(`registered backend exited (${code}) before registering`)));
  });
  registered.catch(() => undefined); // observed by callers that await it
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const listening = await new Promise<{ port: number; id: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`registered backend did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: { event?: string; port?: number; id?: string };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        return;
      }
      if (event.event === 'listening' && typeof event.port === 'number') {
        clearTimeout(timer);
        resolve({ port: event.port, id: event.id ?? `127.0.0.1:${event.port}` });
      } else if (event.event === 'registered') {
        onRegistered();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`registered backend exited (${code}) before listening`));
    });
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', stopTimeoutMs = 5000): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  return { ...listening, address: `127.0.0.1:${listening.port}`, child, registered, exited, stop };
}
