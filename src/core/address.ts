/**
 * `host:port` addresses, parsed and formatted once for the whole tree (registrations, listen
 * addresses, proxy backends, CLI flags). IP literals are recognised without node:net, so the
 * transport-neutral core can use them.
 */
import { ERROR_CODES, GrpcHaError } from './errors.js';

/** IPv4 dotted quad, each part 0..255 without leading zeros. */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** 4 for an IPv4 literal, 6 for an IPv6 literal (a zone suffix "%eth0" allowed), 0 otherwise: node:net's isIP. */
export function ipVersion(host: string): 0 | 4 | 6 {
  if (IPV4.test(host)) return 4;
  if (!host.includes(':')) return 0;
  const zone = host.indexOf('%');
  const bare = zone < 0 ? host : host.slice(0, zone);
  if (zone >= 0 && !/^%[\w.-]+$/.test(host.slice(zone))) return 0;
  if (!/^[0-9A-Fa-f:.]+$/.test(bare)) return 0;
  try {
    new URL(`http://[${bare}]/`);
    return 6;
  } catch {
    return 0;
  }
}

/** A parsed `host:port`. */
export interface HostPort {
  /** IP address or DNS name, without brackets; '' only in a listen address (every interface). */
  readonly host: string;
  /** TCP port, 1..65535 (0 only in a listen address: an ephemeral port). */
  readonly port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Parses `host:port` (`[v6]:port` for IPv6); null when it is not one. With `listen`, a listen
 * address: the host may be empty (every interface) and the port 0 (an ephemeral port).
 */
export function splitAddress(address: string, listen = false): HostPort | null {
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0 || address[end + 1] !== ':') return null;
    host = address.slice(1, end);
    portText = address.slice(end + 2);
    if (ipVersion(host) !== 6) return null;
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0 || (colon === 0 && !listen)) return null;
    host = address.slice(0, colon);
    portText = address.slice(colon + 1);
    if (host !== '' && ipVersion(host) !== 4 && !HOSTNAME.test(host)) return null;
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535 || (port < 1 && !listen)) return null;
  return { host, port };
}

/** Parses `host:port`; throws GrpcHaError(INVALID_ADDRESS) naming `field` when it is not one. */
export function parseAddress(address: string, field = 'address'): HostPort {
  const parsed = typeof address === 'string' ? splitAddress(address) : null;
  if (!parsed) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_ADDRESS,
      `${field} must be host:port (IPv6 as [addr]:port) with a port in 1..65535, got ${JSON.stringify(address)}`,
    );
  }
  return parsed;
}

/** Formats host and port as an address, bracketing IPv6. */
export function formatAddress(host: string, port: number): string {
  return ipVersion(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}


/**
 * Whether `host` means "every interface" (`0.0.0.0`, `::`, or empty): fine to bind, never an
 * address to publish — no other machine can dial it (Linux maps it to loopback locally).
 */
export function isWildcardHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '' || bare === '0.0.0.0') return true;
  // Every spelling of the IPv6 unspecified address (RFC 4291 §2.5.2): only zero groups.
  return ipVersion(bare) === 6 && /^[0:]+$/.test(bare);
}

/**
 * Parses a host with an optional port: `10.0.0.7`, `pod.example.com`, `fd00::7` (bare IPv6, no
 * port), `10.0.0.7:50051` or `[fd00::7]:50051`; null when it is neither.
 */
export function splitHostOptionalPort(text: string): { host: string; port?: number } | null {
  if (ipVersion(text) !== 0) return { host: text };
  if (HOSTNAME.test(text)) return { host: text };
  return splitAddress(text);
}
