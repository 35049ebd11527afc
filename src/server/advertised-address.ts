/**
 * The address a server publishes in a registry, which is not always the one it binds: a server
 * in a container binds `0.0.0.0` (every interface), and clients must be told an address they
 * can dial — the pod IP, a NAT address, a DNS name. In order: the `advertiseAddress` option,
 * then the GRPC_HA_ADVERTISE_ADDRESS environment variable (set it from the pod IP with the
 * Kubernetes downward API, `status.podIP`), then the bound host unless it is a wildcard, and for
 * a wildcard an interface address of this machine — non-loopback if there is one — which is logged.
 * Consul's `-advertise` and etcd's `--advertise-client-urls` make the same split.
 */
import os from 'node:os';
import { formatAddress, ipVersion, isWildcardHost, splitHostOptionalPort } from '../core/address.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { Logger } from '../observe/logger.js';

/** The environment variable naming the address to advertise: a host (`10.0.0.7`) or `host:port`. */
export const ADVERTISE_ADDRESS_ENV = 'GRPC_HA_ADVERTISE_ADDRESS';

/** Where an advertised address came from. */
export type AdvertisedFrom = 'option' | 'environment' | 'bound host' | 'interface';

/** The address a server registers. */
export interface AdvertisedAddress {
  readonly host: string;
  readonly port: number;
  /** "host:port", IPv6 in brackets. */
  readonly address: string;
  readonly from: AdvertisedFrom;
}

/**
 * Checks an address to advertise as it enters (option or environment variable); throws
 * GrpcHaError(INVALID_CONFIG) naming `field`. Returns the host and the port, when one is given.
 */
export function parseAdvertiseAddress(field: string, text: unknown): { host: string; port?: number } {
  const fail = (rule: string): never => {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${field} ${rule}, got ${JSON.stringify(text)}`);
  };
  if (typeof text !== 'string') return fail('must be a host or host:port (IPv6 as [addr]:port)');
  const parsed = splitHostOptionalPort(text.trim());
  if (!parsed) return fail('must be a host or host:port (IPv6 as [addr]:port) with a port in 1..65535');
  if (isWildcardHost(parsed.host)) return fail('must be an address clients can dial, not a wildcard (0.0.0.0 or ::): give this instance\'s own IP or DNS name');
  return parsed;
}

/** An address to advertise as configured (option or environment), before the port is known. */
export interface AdvertiseSetting {
  readonly host: string;
  readonly port?: number;
  readonly from: 'option' | 'environment';
}

/**
 * Reads the address to advertise from the advertiseAddress option, else from
 * GRPC_HA_ADVERTISE_ADDRESS; undefined when neither is set. Call it before binding: a bad value
 * throws GrpcHaError(INVALID_CONFIG) naming the option or the variable.
 */
export function advertiseSetting(given: unknown, env: NodeJS.ProcessEnv = process.env): AdvertiseSetting | undefined {
  if (given !== undefined) return { ...parseAdvertiseAddress('server: advertiseAddress', given), from: 'option' };
  const fromEnv = env[ADVERTISE_ADDRESS_ENV];
  if (fromEnv === undefined || fromEnv === '') return undefined;
  return { ...parseAdvertiseAddress(`server: environment variable ${ADVERTISE_ADDRESS_ENV}`, fromEnv), from: 'environment' };
}

/** The address to register for a server bound at `bound`, given its {@link advertiseSetting}. */
export function advertisedAddress(bound: { readonly host: string; readonly port: number }, setting: AdvertiseSetting | undefined, log: Logger): AdvertisedAddress {
  const make = (host: string, port: number, from: AdvertisedFrom): AdvertisedAddress => ({ host, port, address: formatAddress(host, port), from });
  if (setting) return make(setting.host, setting.port ?? bound.port, setting.from);
  if (!isWildcardHost(bound.host)) return make(bound.host, bound.port, 'bound host');
  const { host, name, others } = pickInterfaceAddress(ipVersion(bound.host) === 6 ? 6 : 4);
  const picked = make(host, bound.port, 'interface');
  log.info(
    { event: 'server.advertise_picked', bound: formatAddress(bound.host || '0.0.0.0', bound.port), advertised: picked.address, interface: name, others },
    `bound a wildcard; advertising ${picked.address} (${name}) — set the advertiseAddress option or ${ADVERTISE_ADDRESS_ENV} to choose`,
  );
  return picked;
}

/**
 * An address of this machine for a wildcard bind: the first non-loopback address of the bound
 * family in the OS's interface order (an IPv6 wildcard also takes IPv4, as Linux binds `::`
 * dual-stack), else loopback. Link-local IPv6 (fe80::/10) is skipped: it needs a zone to dial.
 */
function pickInterfaceAddress(family: 4 | 6): { host: string; name: string; others: string[] } {
  const candidates: { host: string; name: string; family: 4 | 6 }[] = [];
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.internal) continue;
      const v = a.family === 'IPv6' ? 6 : 4;
      if (v === 6 && /^fe[89ab]/i.test(a.address)) continue;
      candidates.push({ host: a.address, name, family: v });
    }
  }
  // Prefer the bound family; a `::` bind falls back to IPv4 (dual-stack), a `0.0.0.0` bind cannot take IPv6.
  const usable = family === 6 ? [...candidates.filter((c) => c.family === 6), ...candidates.filter((c) => c.family === 4)] : candidates.filter((c) => c.family === 4);
  const first = usable[0];
  if (!first) return { host: family === 6 ? '::1' : '127.0.0.1', name: 'loopback: no other interface is up', others: [] };
  return { host: first.host, name: first.name, others: usable.slice(1).map((c) => `${c.name} ${c.host}`) };
}
