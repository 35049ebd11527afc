/**
 * Locates the package's `proto/` directory. The same module runs from `src/` (tsx) and from
 * `dist/src/` (compiled), at different depths, so we search upward for our own package.json
 * instead of hard-coding a relative path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `name` in the package.json that marks the package root. */
export const PACKAGE_NAME = 'grpc-ha';

/** Returns the nearest ancestor directory of `startUrl` whose package.json is named `grpc-ha`. */
export function findPackageRoot(startUrl: string | URL = import.meta.url): string {
  let dir = dirname(fileURLToPath(startUrl));
  while (true) {
    if (isPackageRoot(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${fileURLToPath(startUrl)}; is proto/ shipped?`);
    }
    dir = parent;
  }
}

function isPackageRoot(dir: string): boolean {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) return false;
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    // An unreadable or malformed package.json higher up is not ours; keep walking.
    return false;
  }
}

/** Absolute path of the package's `proto/` directory (the include root for every .proto file). */
export const PROTO_DIR: string = join(findPackageRoot(), 'proto');

/** Path of the example Echo proto, relative to {@link PROTO_DIR} (as proto-loader expects). */
export const ECHO_PROTO_FILE = 'example/v1/echo.proto';
