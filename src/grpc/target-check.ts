/**
 * A channel target checked before grpc-js sees it. grpc-js resolves a target whose scheme has no
 * registered resolver as a DNS name, so `flie:///inventory` fails every call with "Failed to
 * parse DNS address dns:flie:///inventory"; and a registry target's mistakes (`file://inventory`)
 * would surface only when the first call starts. Here they are one error at `createClient`.
 */
import { experimental } from '@grpc/grpc-js';
import { didYouMean } from '../core/did-you-mean.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { splitTarget } from '../core/target-uri.js';
import { DISCOVERY_SCHEMES, parseDiscoveryTarget } from '../discovery/target.js';

/** Schemes grpc-js resolves itself (resolver-dns.ts, resolver-ip.ts, resolver-uds.ts). */
const GRPC_JS_SCHEMES = ['dns', 'ipv4', 'ipv6', 'unix', 'unix-abstract'];

/**
 * Throws GrpcHaError(INVALID_ADDRESS) when `target` names a scheme no resolver handles (with the
 * closest one), or is a registry target that does not parse. Call after registering the resolvers.
 */
export function checkTarget(target: string): void {
  const uri = splitTarget(target);
  // No scheme ("10.0.0.1:50051"), or "host:port" read as scheme "host": grpc-js's default, DNS.
  if (uri === null || (uri.authority === undefined && /^\d*$/.test(uri.path))) return;
  const scheme = uri.scheme.toLowerCase();
  if ((DISCOVERY_SCHEMES as readonly string[]).includes(scheme)) {
    parseDiscoveryTarget(target);
    return;
  }
  if (GRPC_JS_SCHEMES.includes(scheme) || uri.authority === undefined || isRegistered(uri)) return;
  const known = [...GRPC_JS_SCHEMES.filter((s) => s !== 'unix-abstract'), ...DISCOVERY_SCHEMES];
  throw new GrpcHaError(
    ERROR_CODES.INVALID_ADDRESS,
    `target ${JSON.stringify(target)}: no resolver for scheme ${JSON.stringify(uri.scheme)}${didYouMean(uri.scheme, known)} ` +
      `(schemes: ${known.join(', ')}; "host:port" alone is resolved by DNS)`,
  );
}

/** Whether a resolver of another library (e.g. @grpc/grpc-js-xds's "xds") is registered for the scheme. */
function isRegistered(uri: { readonly scheme: string; readonly authority?: string; readonly path: string }): boolean {
  try {
    experimental.createResolver(uri, () => true, {}).destroy();
    return true;
  } catch {
    return false;
  }
}
