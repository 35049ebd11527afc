/**
 * One grpc-js per process. grpc-ha registers its policies and resolvers in the copy of
 * `@grpc/grpc-js` it imports, and grpc-js recognises its own objects with `instanceof`: a client
 * class or credentials from a second copy (grpc-ha installed from a linked folder with its own
 * node_modules, or an app on a grpc-js outside grpc-ha's peer range) fail far from the cause —
 * "Channel credentials must be a ChannelCredentials object", or every call ending in
 * "Failed to parse DNS address dns:file:///...". grpc-ha checks what crosses the boundary and
 * names both copies instead.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ChannelCredentials, Client, experimental } from '@grpc/grpc-js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';

/** One copy of grpc-js: its folder and version. */
export interface GrpcJsCopy {
  readonly dir: string;
  readonly version: string;
}

const require = createRequire(import.meta.url);
const ENTRY = /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/]index\.js$/;

function copyAt(entry: string): GrpcJsCopy {
  const dir = entry.replace(/[\\/]build[\\/]src[\\/]index\.js$/, '');
  let version = 'unknown version';
  try {
    version = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // A copy without its package.json: named by folder only.
  }
  return { dir, version };
}

/** The grpc-js grpc-ha registers its policies and resolvers in. */
export function ownGrpcJs(): GrpcJsCopy {
  return copyAt(require.resolve('@grpc/grpc-js'));
}

/** The oldest grpc-js whose experimental balancer API grpc-ha builds on (the peer range's floor). */
export const OLDEST_GRPC_JS = '1.14.0';

/**
 * Throws GrpcHaError(GRPC_JS_MISMATCH) when grpc-ha's grpc-js predates the API it needs. npm
 * refuses such an install, but `--legacy-peer-deps` or `--force` lets it through, and the first
 * resolution would then fail as "statusOrFromValue is not a function" deep inside a resolver.
 * Feature-tested rather than version-compared: the StatusOr resolver results arrived in 1.14.0.
 */
export function assertSupportedGrpcJs(): void {
  if (typeof (experimental as { statusOrFromValue?: unknown }).statusOrFromValue === 'function') return;
  const own = ownGrpcJs();
  throw new GrpcHaError(
    ERROR_CODES.GRPC_JS_MISMATCH,
    `grpc-ha needs @grpc/grpc-js >= ${OLDEST_GRPC_JS} (its experimental resolver API with StatusOr results); this app loads ${own.version} at ${own.dir}. ` +
      `Install a supported one: npm install @grpc/grpc-js@^${OLDEST_GRPC_JS}`,
  );
}

/** Every copy of grpc-js loaded in this process (grpc-js is CommonJS, so each sits in the module cache). */
export function loadedGrpcJsCopies(): GrpcJsCopy[] {
  return Object.keys(require.cache)
    .filter((key) => ENTRY.test(key))
    .map(copyAt);
}

/**
 * Throws GrpcHaError(GRPC_JS_MISMATCH) unless `Ctor` and `credentials` come from grpc-ha's
 * grpc-js; `where` names the caller.
 */
export function assertOwnGrpcJs(where: string, Ctor: abstract new (...args: never[]) => unknown, credentials: unknown): void {
  const foreignClient = !(Ctor.prototype instanceof Client);
  const foreignCredentials = credentials !== undefined && !(credentials instanceof ChannelCredentials);
  if (!foreignClient && !foreignCredentials) return;
  const what = foreignClient ? 'the client class' : 'the credentials';
  throw new GrpcHaError(ERROR_CODES.GRPC_JS_MISMATCH, `${where}: ${what} come${foreignClient ? 's' : ''} from another copy of @grpc/grpc-js than grpc-ha's. ${twoCopies()}`);
}

let warned = false;

/**
 * Logs once when another copy of grpc-js is loaded beside grpc-ha's: channel options carry no
 * class to check, and a channel of the other copy would fail every call far from the cause.
 */
export function warnIfSeveralGrpcJs(log: (message: string) => void): void {
  if (warned) return;
  const own = ownGrpcJs().dir;
  if (!loadedGrpcJsCopies().some((c) => c.dir !== own)) return;
  warned = true;
  log(`several copies of @grpc/grpc-js are loaded; a channel of another copy than grpc-ha's will not find its policies and resolvers. ${twoCopies()}`);
}

/** What is loaded, and how to end up with one copy. */
export function twoCopies(): string {
  const own = ownGrpcJs();
  const others = loadedGrpcJsCopies().filter((c) => c.dir !== own.dir);
  const seen = others.length > 0 ? `; also loaded: ${others.map((c) => `${c.version} at ${c.dir}`).join(', ')}` : '';
  return (
    `grpc-ha uses ${own.version} at ${own.dir}${seen}. ` +
    "grpc-ha's policies and resolvers live in its copy, so channels of another cannot use them. " +
    '@grpc/grpc-js is a peer dependency of grpc-ha: install grpc-ha from the registry or from a packed tarball (npm pack), ' +
    'not as a linked folder with its own node_modules/@grpc/grpc-js, and keep one grpc-js >= 1.14 in the app (npm ls @grpc/grpc-js shows the copies).'
  );
}
