/** Runs one of the package's own scripts (the demo, the benchmarks) as a child with this terminal. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Runs `relative` (from dist/src/cli/) with `args`; resolves with its exit code, forwarding Ctrl-C. */
export function runScript(relative: string, args: string[]): Promise<number> {
  const script = fileURLToPath(new URL(relative, import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
  // The child gets the terminal's SIGINT itself; keep this process alive until it has finished.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 1 : 0));
    }),
  );
}
