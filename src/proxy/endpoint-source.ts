/**
 * Where a cluster's backends come from. A source pushes the full endpoint list whenever it
 * changes; the cluster diffs it against what it has (keeping connections and load of endpoints
 * that stay). `static` is the only built-in scheme for now; a registry resolver plugs in through
 * {@link registerEndpointSourceScheme} without the proxy knowing about it.
 */
import { splitTarget } from '../core/target-uri.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { splitAddress as parseHostPort } from '../core/address.js';

/** One backend a source reports. */
export interface ProxyEndpoint {
  /** `host:port` (IPv6 as `[addr]:port`). */
  readonly address: string;
  /** Static weight (> 0); 1 when the source gives none. */
  readonly weight?: number;
}

/** A live list of backends for one cluster. */
export interface EndpointSource {
  /** Starts delivering lists; `onEndpoints` gets the whole current list on every change. */
  subscribe(onEndpoints: (endpoints: readonly ProxyEndpoint[]) => void): void;
  /** Stops delivering and releases whatever the source holds (watches, timers). */
  close(): void;
}

/**
 * Builds a source from the part of a target after `scheme:`. Throws GrpcHaError on a bad target.
 * It must only parse: watches and connections start at `subscribe` (config validation builds a
 * source and closes it at once).
 */
export type EndpointSourceFactory = (rest: string) => EndpointSource;

const schemes = new Map<string, EndpointSourceFactory>();

/** Makes `scheme:...` targets usable in the proxy config (e.g. a registry resolver). */
export function registerEndpointSourceScheme(scheme: string, factory: EndpointSourceFactory): void {
  schemes.set(scheme, factory);
}

/** A fixed list of addresses; delivered once on subscribe. */
export function staticEndpointSource(addresses: readonly string[]): EndpointSource {
  const endpoints = addresses.map((address) => ({ address }));
  return {
    subscribe: (onEndpoints) => onEndpoints(endpoints),
    close: () => {},
  };
}

/** Parses `a:1,b:2` into addresses; throws GrpcHaError(INVALID_ADDRESS) naming `field`. */
export function parseAddressList(text: string, field: string): string[] {
  const addresses = text
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  if (addresses.length === 0) throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `${field} lists no address`);
  for (const a of addresses) {
    if (!parseHostPort(a)) {
      throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `${field}: ${JSON.stringify(a)} is not host:port (IPv6 as [addr]:port)`);
    }
  }
  return addresses;
}

registerEndpointSourceScheme('static', (rest) => staticEndpointSource(parseAddressList(rest, 'target')));

/** Whether `target` is a bare address list or names a scheme registered in this process. */
export function knowsTarget(target: string): boolean {
  const scheme = splitTarget(target)?.scheme.toLowerCase();
  return scheme === undefined || schemes.has(scheme) || parseHostPort(target.split(',')[0]!.trim()) !== null;
}

/**
 * The source for a target: `scheme:rest` for a registered scheme, or a bare `host:port,...`
 * list (the same as `static:`). Throws GrpcHaError naming `field` when the target is unusable.
 */
export function createEndpointSource(target: string, field = 'target'): EndpointSource {
  const uri = splitTarget(target);
  const scheme = uri?.scheme.toLowerCase();
  if (scheme !== undefined && schemes.has(scheme)) {
    try {
      return schemes.get(scheme)!(target.slice(scheme.length + 1));
    } catch (error) {
      const e = GrpcHaError.from(error, ERROR_CODES.INVALID_CONFIG);
      throw new GrpcHaError(e.code, `${field}: ${e.message}`, { cause: error });
    }
  }
  if (uri && !parseHostPort(target.split(',')[0]!.trim())) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `${field}: unknown scheme ${JSON.stringify(uri.scheme)}; known: ${[...schemes.keys()].join(', ')} (or a bare host:port list)`,
    );
  }
  return staticEndpointSource(parseAddressList(target, field));
}
