/**
 * xDS clients no one here wrote, as the xDS tests and benchmark run them: Debian's python3-grpcio
 * (test/python/xds_client.py in a loop, one JSON line per call) and the bootstrap file that
 * points a gRPC client at the control plane (gRFC A27).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PY_XDS_CLIENT = fileURLToPath(new URL('../../../test/python/xds_client.py', import.meta.url));

/** The bootstrap of a client of the control plane at `serverUri` (plaintext). */
export function bootstrapJson(serverUri: string, nodeId: string, zone = 'test-zone'): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: serverUri, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, cluster: 'grpc-ha-tests', locality: { zone } },
  });
}

/** Writes a bootstrap file in `dir`; returns its path. */
export function writeBootstrap(dir: string, serverUri: string, nodeId: string): string {
  const file = path.join(dir, `bootstrap-${nodeId}.json`);
  writeFileSync(file, bootstrapJson(serverUri, nodeId));
  return file;
}

/** One call of the Python client. */
export interface PyCall {
  readonly n: number;
  readonly server?: string;
  readonly error?: string;
  readonly key?: string;
  /** Epoch ms when the call ended. */
  readonly at: number;
}

/** A running Python xDS client. */
export interface PyXdsClient {
  /** Every call so far. */
  readonly calls: PyCall[];
  readonly child: ChildProcess;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<number | string>;
  /** Calls that ended after `since` (epoch ms). */
  after(since: number): PyCall[];
  /** Stops the loop (SIGTERM, then SIGKILL after 2 s). */
  stop(): Promise<number | string>;
}

/** Options of the Python client. */
export interface PyXdsClientOptions {
  /** Pause between calls, ms. Defaults to 5. */
  readonly intervalMs?: number;
  /** Values of the hash header, cycled over the calls. */
  readonly keys?: readonly string[];
  /** Metadata key the keys go in. Defaults to x-user. */
  readonly header?: string;
  /** Extra environment (GRPC_EXPERIMENTAL_* switches). */
  readonly env?: Record<string, string>;
  /** The loop ends by itself after this long, s (tests stop it sooner). Defaults to 60. */
  readonly durationS?: number;
}

/** Starts `xds_client.py target` with GRPC_XDS_BOOTSTRAP=bootstrap; resolves once it runs. */
export async function startPythonXdsClient(bootstrap: string, target: string, options: PyXdsClientOptions = {}): Promise<PyXdsClient> {
  const args = [PY_XDS_CLIENT, target, '--interval-ms', String(options.intervalMs ?? 5), '--duration-s', String(options.durationS ?? 60)];
  if (options.keys) args.push('--keys', options.keys.join(','), '--header', options.header ?? 'x-user');
  const child = spawn('/usr/bin/python3', args, {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap, GRPC_VERBOSITY: 'NONE', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const calls: PyCall[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Python xDS client did not start within 10 s')), 10_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: PyCall & { event?: string };
      try {
        parsed = JSON.parse(line) as PyCall & { event?: string };
      } catch {
        return;
      }
      if (parsed.event === 'started') {
        clearTimeout(timer);
        resolve();
      } else calls.push(parsed);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the Python xDS client exited (${code}) before starting: ${stderr}`));
    });
  });
  return {
    calls,
    child,
    exited,
    after: (since) => calls.filter((c) => c.at > since),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A `grpc-ha xds` process. */
export interface XdsProcess {
  readonly port: number;
  readonly address: string;
  readonly adminPort: number | null;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr (its log), so far. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves with the exit code or signal. */
  stop(): Promise<number | string>;
}

/** Runs `grpc-ha xds ...args` and resolves once it prints its listening line. */
export async function spawnXdsControlPlane(args: readonly string[], env: Record<string, string> = {}): Promise<XdsProcess> {
  const child = spawn(process.execPath, [CLI, 'xds', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const listening = await new Promise<{ port: number; adminPort: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`grpc-ha xds did not listen within 15 s: ${log}`));
    }, 15_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; port?: number; adminPort?: number | null };
        if (event.event === 'listening' && typeof event.port === 'number') {
          clearTimeout(timer);
          resolve({ port: event.port, adminPort: event.adminPort ?? null });
        }
      } catch {
        // not a JSON line
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`grpc-ha xds exited (${code}) before listening: ${log}`));
    });
  });
  return {
    ...listening,
    address: `127.0.0.1:${listening.port}`,
    child,
    stderr: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}
