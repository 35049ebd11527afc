/**
 * Where `grpc-ha proxy` takes its config from — a YAML file, or the zero-config flags — and the
 * short-lived process that reads and validates it. The proxy's own processes never load the
 * validation and YAML libraries nor the registry clients only the validation of a registry
 * target needs: the proxy forks proxy-config-child.ts at start and on every SIGHUP, which answers
 * with the validated config (src/proxy/wire-config.ts) or the error, and exits.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { ProxyConfig } from '../proxy/proxy-config.js';
import { fromWire, type WireProxyConfig } from '../proxy/wire-config.js';

/** Where the config comes from: a file, or the zero-config flags. */
export type ProxyConfigSource =
  | { readonly configPath: string }
  | { readonly listen?: string; readonly target: string; readonly policy?: string; readonly admin?: string };

/** What the child answers. */
export type ConfigAnswer = { readonly ok: true; readonly config: WireProxyConfig } | { readonly ok: false; readonly message: string };

const CHILD = fileURLToPath(new URL('./proxy-config-child.js', import.meta.url));
/** A config is read and checked in well under this, ms; a child that takes longer is stuck. */
const CHILD_TIMEOUT_MS = 30_000;

/** Reads and validates the config from `source` in a child process; rejects with GrpcHaError(INVALID_CONFIG) naming the field or flag. */
export async function loadConfigInChild(source: ProxyConfigSource): Promise<ProxyConfig> {
  const child = fork(CHILD, [], {
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    execArgv: process.execArgv.filter((a) => !a.startsWith('--test') && !a.startsWith('--experimental-test') && !a.startsWith('--inspect')),
  });
  const answer = await new Promise<ConfigAnswer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the config check did not answer within ${CHILD_TIMEOUT_MS} ms`));
    }, CHILD_TIMEOUT_MS);
    child.once('message', (m: ConfigAnswer) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the config check exited (${signal ?? `code ${code}`}) without an answer`));
    });
    child.send(source);
  });
  if (!answer.ok) throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, answer.message);
  return fromWire(answer.config);
}
