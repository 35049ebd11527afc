/**
 * Python peers for the proxy tests (test/python/): Debian's python3-grpcio and python3-h2, run
 * with /usr/bin/python3 as real separate processes. Each prints one JSON object per line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';

/** The path of a script in test/python/. */
export function pythonScript(name: string): string {
  return fileURLToPath(new URL(`../../../test/python/${name}`, import.meta.url));
}

/** Fails with the install command when /usr/bin/python3 cannot import `modules`. */
export function requirePython(...modules: string[]): void {
  const check = spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' });
  if (check.status !== 0) {
    throw new Error(`/usr/bin/python3 cannot import ${modules.join(', ')}: run scripts/ensure-system-deps.sh (apt-get install python3-grpcio python3-h2)`);
  }
}

/** A long-running Python peer: the JSON lines it printed so far, and its port once it printed {"port": N}. */
export interface PythonServer {
  readonly port: number;
  readonly lines: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Starts `script args` and resolves once it printed {"port": N}. */
export function startPythonServer(script: string, args: string[]): Promise<PythonServer> {
  const child = spawn(PYTHON, [pythonScript(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} printed no port within 10 s: ${stderr}`));
    }, 10_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const value = JSON.parse(line) as Record<string, unknown>;
      if (typeof value.port === 'number') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ port: value.port, lines, stop: () => stopChild(child) });
      } else {
        lines.push(value);
      }
    });
  });
}

/** Runs `script args` to its end (at most `timeoutMs`) and resolves with its last JSON line. */
export function runPython(script: string, args: string[], timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const child = spawn(PYTHON, [pythonScript(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || last === '') reject(new Error(`${script} ${args.join(' ')} ended with ${signal ?? code}: ${stderr || stdout}`));
      else resolve(JSON.parse(last) as Record<string, unknown>);
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  });
}
