/**
 * Options of the xDS control plane, their defaults (one place, each with its reason), and the
 * config file form of `grpc-ha xds --config FILE` (YAML or JSON):
 *
 *   listen: 127.0.0.1:18000
 *   registry: etcd://127.0.0.1:2379          # as `grpc-ha register --registry` takes it
 *   tls: { cert: server.pem, key: server.key, clientCa: clients-ca.pem }   # clientCa: mTLS
 *   healthChecks: true
 *   healthTimeoutMs: 2000
 *   drainingHoldMs: 10000
 *   admin: 127.0.0.1:9902                    # or off
 *
 * Relative file paths are read from the config file's folder.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { splitAddress } from '../core/address.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { integer, parseConfig } from '../core/parse-config.js';
import type { Registry } from '../discovery/registry.js';

/** Defaults of the control plane. */
export const XDS_DEFAULTS = {
  /** Loopback, ephemeral port: serving other hosts is a decision. The CLI requires --listen. */
  listen: '127.0.0.1:0',
  /** The control plane checks instances itself; clients in any language cannot. */
  healthChecks: true,
  /**
   * A first health answer takes one connection and one message on a LAN; 2 s without one marks
   * the instance UNHEALTHY rather than leaving it unpublished forever (a blackholed address).
   */
  healthTimeoutMs: 2_000,
  /** A deregistered instance still reachable is DRAINING this long at most: grpc-ha's drain grace (10 s). */
  drainingHoldMs: 10_000,
  /** A service nobody subscribes to any more is watched this long still, so a reconnecting client finds it warm. */
  lingerMs: 30_000,
  /** Admin endpoint of the CLI (the proxy's is 9901). */
  admin: '127.0.0.1:9902',
} as const;

/** TLS of the xDS listener, PEM. */
export interface XdsTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  readonly clientCa?: Buffer;
}

/** Options of `startXdsServer`. */
export interface XdsServerOptions {
  /** The registry to serve: a Registry, or text as `grpc-ha register --registry` takes it ("file:", "etcd://127.0.0.1:2379"). */
  readonly registry: Registry | string;
  /** `host:port` to listen on; port 0 picks one. Defaults to 127.0.0.1:0. */
  readonly listen?: string;
  /** TLS (and mTLS with clientCa) on the listener. Defaults to plaintext. */
  readonly tls?: XdsTls;
  /** Health-check instances with grpc.health.v1 Watch. Defaults to true. */
  readonly healthChecks?: boolean;
  /** ms without a first health answer before an instance is published UNHEALTHY. Defaults to 2000. */
  readonly healthTimeoutMs?: number;
  /** ms a deregistered, still reachable instance stays DRAINING at most. Defaults to 10 000. */
  readonly drainingHoldMs?: number;
  /** ms a service without subscribers is still watched. Defaults to 30 000. */
  readonly lingerMs?: number;
}

/** What a config file may hold. */
const fileSchema = z
  .object({
    listen: z.string({ error: 'must be host:port' }).refine((a) => splitAddress(a, true) !== null, { error: 'must be host:port (IPv6 as [addr]:port), port 0..65535' }),
    registry: z.string({ error: 'must be a registry, e.g. file: or etcd://127.0.0.1:2379' }).min(1, { error: 'must not be empty' }),
    tls: z
      .object({ cert: z.string(), key: z.string(), clientCa: z.string().optional() }, { error: 'must be an object with cert and key (and clientCa for mTLS)' })
      .strict()
      .optional(),
    healthChecks: z.boolean({ error: 'must be true or false' }).optional(),
    healthTimeoutMs: integer(1).optional(),
    drainingHoldMs: integer(0).optional(),
    admin: z.string({ error: 'must be host:port or off' }).optional(),
  })
  .strict();

/** A parsed config file: the server options and the admin address (null for off). */
export interface XdsFileConfig {
  readonly options: XdsServerOptions & { readonly registry: string };
  readonly admin: string | null;
}

/** Reads PEM files of a TLS config, checking that they work together; throws INVALID_CONFIG naming the field. */
export function loadTls(files: { cert: string; key: string; clientCa?: string | undefined }, base = process.cwd()): XdsTls {
  const read = (file: string, field: string): Buffer => {
    try {
      return readFileSync(path.resolve(base, file));
    } catch (error) {
      throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `xds: ${field} cannot be read: ${(error as Error).message}`);
    }
  };
  const tls: XdsTls = {
    cert: read(files.cert, 'tls.cert'),
    key: read(files.key, 'tls.key'),
    ...(files.clientCa !== undefined && { clientCa: read(files.clientCa, 'tls.clientCa') }),
  };
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.clientCa && { ca: tls.clientCa }) });
  } catch (error) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `xds: tls.cert, tls.key${tls.clientCa ? ' and tls.clientCa' : ''} cannot be used: ${(error as Error).message}`);
  }
  return tls;
}

/** Reads a config file; throws GrpcHaError(INVALID_CONFIG) naming the field. */
export function loadXdsConfigFile(file: string): XdsFileConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `xds: cannot read ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `xds: ${file} is not YAML or JSON: ${(error as Error).message}`);
  }
  const c = parseConfig(`xds config ${file}`, fileSchema, raw);
  const admin = c.admin === undefined ? XDS_DEFAULTS.admin : c.admin === 'off' ? null : c.admin;
  if (admin !== null && splitAddress(admin, true) === null) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `xds config ${file}: admin must be host:port or off, got ${JSON.stringify(admin)}`);
  }
  return {
    admin,
    options: {
      registry: c.registry,
      listen: c.listen,
      ...(c.tls && { tls: loadTls(c.tls, path.dirname(path.resolve(file))) }),
      ...(c.healthChecks !== undefined && { healthChecks: c.healthChecks }),
      ...(c.healthTimeoutMs !== undefined && { healthTimeoutMs: c.healthTimeoutMs }),
      ...(c.drainingHoldMs !== undefined && { drainingHoldMs: c.drainingHoldMs }),
    },
  };
}
