/** `grpc-ha proxy` as a child process, for the tests that drive it with real signals. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from './run-cli.js';

/** A running `grpc-ha proxy` process. */
export interface ProxyProcess {
  child: ChildProcess;
  port: number;
  adminPort: number | null;
  /** Worker process ids it printed when listening (with --workers). */
  workers: number[];
  /** JSON events printed after "listening". */
  events: Record<string, unknown>[];
  stderr: string[];
  /** Sends `signal` (SIGTERM by default), SIGKILLs it after 5 s, resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `grpc-ha proxy ...args`; resolves once it printed its listening event (rejects after 10 s). */
export async function startProxyProcess(args: string[]): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [CLI, 'proxy', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event.event === 'listening') resolve(event);
      else events.push(event);
    });
    void exited.then((code) => reject(new Error(`proxy exited ${code}: ${stderr.join('\n')}`)));
    setTimeout(() => reject(new Error('proxy did not start in 10 s')), 10_000).unref();
  });
  return {
    child,
    port: listening.port as number,
    adminPort: listening.adminPort as number | null,
    workers: (listening.workers as number[] | undefined) ?? [],
    events,
    stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `check` every 20 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
