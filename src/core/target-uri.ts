/**
 * Channel targets split once, the way gRPC's naming doc (doc/naming.md) and grpc-js's parseUri
 * do: `scheme:[//authority/]path`, the path keeping any `?query`. Also takes a registry named
 * without a service (`etcd://127.0.0.1:2379`, `consul://h:8500?dc=eu`), whose path is then empty
 * or only the query.
 */

/** The parts of a target, as grpc-js's GrpcUri names them. */
export interface TargetUri {
  readonly scheme: string;
  /** Present when the target has `//authority` (possibly empty, as in `file:///svc`). */
  readonly authority?: string;
  /** Everything after the authority's slash, query included. */
  readonly path: string;
}

const TARGET = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?]*)(?:\/|(?=\?)|$))?(.*)$/s;

/** Splits `target`, or null when it has no `scheme:`. */
export function splitTarget(target: string): TargetUri | null {
  const m = TARGET.exec(target);
  if (!m) return null;
  return m[2] === undefined ? { scheme: m[1]!, path: m[3]! } : { scheme: m[1]!, authority: m[2], path: m[3]! };
}

/** The target text of `uri`. */
export function formatTarget(uri: TargetUri): string {
  return `${uri.scheme}:${uri.authority === undefined ? '' : `//${uri.authority}/`}${uri.path}`;
}

/** The path without its query, percent-decoded (the service a discovery target names); the raw path when it does not decode. */
export function targetService(uri: TargetUri): string {
  const q = uri.path.indexOf('?');
  const raw = q < 0 ? uri.path : uri.path.slice(0, q);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
