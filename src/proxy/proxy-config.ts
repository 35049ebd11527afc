/**
 * The proxy's configuration: one YAML file validated at start (and again on every SIGHUP
 * reload) with errors naming the field, or the zero-config form `--listen :8080 --target a,b`
 * that builds the same structure for one cluster. Defaults live here, each with its reference.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { METHOD_SELECTOR, METHOD_SELECTOR_RULE } from '../core/idempotent-methods.js';
import { integer, parseConfig } from '../core/parse-config.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { PolicyConfig } from '../core/policies/policy-config.js';
import type { PickerFactory } from '../core/pickers/picker.js';
import type { EwmaSettings } from '../core/pickers/endpoint-load.js';
import { splitAddress as parseHostPort } from '../core/address.js';
import { adminTokenError } from '../observe/admin-access.js';
import { DEFAULT_HEALTH_SETTINGS, HEALTH_FIELD_NAMES, healthFields, toHealthSettings, type HealthSettings } from '../core/health/health-config.js';
import { parseClusterPolicy } from './cluster-policy.js';
import { createEndpointSource } from './endpoint-source.js';
import './registry-endpoint-source.js';

/** Defaults of the listener and of every cluster. */
export const PROXY_DEFAULTS = {
  /** The zero-config listen address. */
  listen: ':8080',
  /** "the admin endpoints bound to 127.0.0.1 by default" - issue 7; Envoy's admin port is 9901. */
  adminListen: '127.0.0.1:9901',
  /** SETTINGS_MAX_CONCURRENT_STREAMS per client connection; nginx http2_max_concurrent_streams is 128, grpc-go's server 100..unlimited. */
  maxConcurrentStreams: 1000,
  /** SETTINGS_MAX_HEADER_LIST_SIZE; gRPC's usual metadata limit is 8 KiB (grpc-go/C core 16 KiB). */
  maxHeaderListSize: 16_384,
  /** A connection with no stream open for this long is closed (nginx keepalive_timeout is 75 s; Envoy idle_timeout 1 h). */
  idleTimeoutMs: 300_000,
  /** A new connection must open its first stream within this of being accepted, TLS handshake included (slowloris: Envoy's request_headers_timeout, nginx client_header_timeout 60 s). */
  firstStreamTimeoutMs: 10_000,
  /** A TLS handshake must finish within this of the socket being accepted, however slowly its bytes trickle (nginx ssl_handshake_timeout 60 s, Go's TLSHandshakeTimeout 10 s; a handshake is two round trips). */
  handshakeTimeoutMs: 5_000,
  /** Bytes a client connection may leave unread before the proxy stops reading it, MiB (was nghttp2's session memory cap; Node's default is 10). */
  maxSessionMemoryMb: 32,
  /** HTTP/2 stream flow-control window we advertise, bytes: large enough for 16 MiB messages to stream fast, small enough to bound memory. */
  streamWindowBytes: 1 << 20,
  /** Calls in flight per backend before a call waits (Envoy circuit breaker max_requests: 1024). */
  maxConcurrentStreamsPerBackend: 1024,
  /**
   * HTTP/2 connections per backend that take new streams (Envoy's cluster max_connections is
   * 1024): one usually; more while a backend's SETTINGS_MAX_CONCURRENT_STREAMS is reached, or a
   * connection is replaced (GOAWAY, reset tolerance spent; the retiring one is not counted).
   */
  maxConnectionsPerBackend: 16,
  /** Calls waiting for a backend before new ones get UNAVAILABLE (Envoy max_pending_requests: 1024). */
  maxPending: 1024,
  /** How long a call may wait for a backend, ms. */
  pendingTimeoutMs: 5_000,
  /** How long a backend connection may take to establish, ms (grpc-js min connect timeout: 20 s; shorter for a proxy). */
  connectTimeoutMs: 5_000,
  /** Health checking with the Watch stream (grpc-js and gRFC A17 do) or Check polls (Envoy). */
  healthMode: 'watch',
  /** Health check period; in watch mode, the delay before a Watch stream that ended is opened again (Envoy has no default). */
  healthIntervalMs: 5_000,
  /** Health check deadline. */
  healthTimeoutMs: 1_000,
  /** Consecutive failed checks that mark a backend unhealthy (Envoy unhealthy_threshold, commonly 2). */
  unhealthyThreshold: 2,
  /** Consecutive passed checks that mark it healthy again. */
  healthyThreshold: 1,
  /** Attempts per call, first included, when retries are enabled. */
  retryAttempts: 2,
  /** Processes that serve calls: one, as nginx's `worker_processes 1` (`auto`: one per core Node reports). */
  workers: 1,
} as const;

/** TLS of the listener: certificate, key and, for mTLS, the CA client certificates must chain to. */
export interface ListenerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  readonly clientCa?: Buffer;
}

/** TLS to a cluster's backends. */
export interface BackendTls {
  /** CA that backend certificates must chain to; the system CAs when unset. */
  readonly ca?: Buffer;
  /** Client certificate and key, for backends that require mTLS. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** SNI and the name checked in the backend certificate; the backend's host when unset. */
  readonly serverName?: string;
}

/** Active health checking of a cluster's backends with grpc.health.v1.Health/Check. */
export interface ActiveHealthCheckConfig {
  /** `watch`: one grpc.health.v1.Health/Watch stream; `check`: a Check call every intervalMs. */
  readonly mode: 'watch' | 'check';
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** The service name sent in HealthCheckRequest; '' asks about the whole server. */
  readonly service: string;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/** Retries of calls that never reached a backend. */
export interface RetryConfig {
  /** Attempts per call, the first included. */
  readonly attempts: number;
  /** Methods safe to send again: `/pkg.Service/Method` or `/pkg.Service/*`. */
  readonly idempotentMethods: readonly string[];
}

/** One cluster: where its backends come from and how calls are spread over them. */
export interface ClusterConfig {
  readonly name: string;
  /** `static:host:port,...`, a bare `host:port,...` list, or a registered registry scheme. */
  readonly target: string;
  readonly policy: ClusterPolicy;
  /** The policy as written, to tell on reload whether the cluster changed. */
  readonly policyJson: unknown;
  readonly healthCheck: ActiveHealthCheckConfig | null;
  readonly maxConcurrentStreamsPerBackend: number;
  readonly maxConnectionsPerBackend: number;
  readonly maxPending: number;
  readonly pendingTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly retry: RetryConfig | null;
  readonly tls: BackendTls | null;
  /**
   * Outlier ejection, slow start and panic threshold: the library's health settings (the same
   * fields, validation and defaults as a policy's `outlierEjection`, `slowStart`,
   * `panicThresholdPercent`), set on the cluster.
   */
  readonly health: HealthSettings;
}

/**
 * What a cluster uses of its parsed policy config: the policy's picker and the options it was
 * given. A PolicyConfig has this shape; a proxy worker, handed configs the primary validated,
 * rebuilds it without the schemas (cluster-pickers.ts).
 */
export interface ClusterPolicy {
  readonly definition: {
    /** The policy's config key. */
    readonly name: string;
    readonly createPicker: PickerFactory<unknown>;
    /** Give the picker every backend, not only usable ones (ring_hash). */
    readonly includeUnavailable?: boolean;
  };
  /** Picker options after defaults and clamps. */
  readonly options: unknown;
  /** Static weights by "host:port". */
  readonly weights: ReadonlyMap<string, number>;
  /** Latency estimate settings of the backends' load. */
  readonly ewma: EwmaSettings;
  /** Metadata key for ring hashing, if any. */
  readonly hashHeader: string | undefined;
}

/** A route: calls whose service matches go to `cluster`. */
export interface RouteConfig {
  /** Exact fully-qualified service name, or '*' for any. */
  readonly service?: string;
  /** A `:path` prefix such as `/grpcha.example.`. */
  readonly prefix?: string;
  readonly cluster: string;
}

/** Limits that protect the listener from misbehaving clients. */
export interface ListenerLimits {
  readonly maxConcurrentStreams: number;
  readonly maxHeaderListSize: number;
  readonly idleTimeoutMs: number;
  readonly firstStreamTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxSessionMemoryMb: number;
  readonly streamWindowBytes: number;
}

/** The whole validated configuration. */
export interface ProxyConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls: ListenerTls | null;
  /** null when the admin endpoint is off. `token` is required when `host` is not a loopback address. */
  readonly admin: { readonly host: string; readonly port: number; readonly token?: string } | null;
  readonly limits: ListenerLimits;
  readonly clusters: ReadonlyMap<string, ClusterConfig>;
  readonly routes: readonly RouteConfig[];
  /** Processes serving calls (`auto`: one per core); more than one runs a primary and its workers. */
  readonly workers: number | 'auto';
}

const str = (what = 'must be a string') => z.string({ error: what }).min(1, { error: 'must not be empty' });
const listenRule = 'must be host:port or :port (IPv6 as [addr]:port), port 0..65535';
const listenAddress = z.string({ error: listenRule }).refine((s) => parseHostPort(s, true) !== null, { error: listenRule });

const clusterSchema = z
  .object({
    target: str(),
    policy: z.unknown().optional(),
    healthCheck: z
      .object({
        mode: z.enum(['watch', 'check'], { error: 'must be "watch" or "check"' }).optional(),
        intervalMs: integer(10).optional(),
        timeoutMs: integer(1).optional(),
        service: z.string({ error: 'must be a string' }).optional(),
        unhealthyThreshold: integer(1).optional(),
        healthyThreshold: integer(1).optional(),
      })
      .strict()
      .optional(),
    ...healthFields,
    maxConcurrentStreamsPerBackend: integer(1).optional(),
    maxConnectionsPerBackend: integer(1).optional(),
    maxPending: integer(0).optional(),
    pendingTimeoutMs: integer(1).optional(),
    connectTimeoutMs: integer(1).optional(),
    retry: z
      .object({
        attempts: integer(1, 5).optional(),
        idempotentMethods: z.array(z.string({ error: METHOD_SELECTOR_RULE }).regex(METHOD_SELECTOR, { error: METHOD_SELECTOR_RULE })),
      })
      .strict()
      .optional(),
    tls: z
      .object({ ca: str().optional(), cert: str().optional(), key: str().optional(), serverName: str().optional() })
      .strict()
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { error: 'needs both cert and key, or neither' })
      .optional(),
  })
  .strict();

const configSchema = z
  .object({
    listen: listenAddress.optional(),
    workers: z.union([integer(1, 256), z.literal('auto')], { error: 'must be an integer in [1, 256] or "auto"' }).optional(),
    tls: z.object({ cert: str(), key: str(), clientCa: str().optional() }).strict().optional(),
    admin: z
      .object({
        listen: z.union([z.literal('off'), listenAddress], { error: `must be "off" or ${listenRule.slice(5)}` }).optional(),
        token: str().optional(),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        maxConcurrentStreams: integer(1, 2 ** 31 - 1).optional(),
        maxHeaderListSize: integer(1024, 2 ** 31 - 1).optional(),
        idleTimeoutMs: integer(1).optional(),
        firstStreamTimeoutMs: integer(1).optional(),
        handshakeTimeoutMs: integer(1).optional(),
        maxSessionMemoryMb: integer(1).optional(),
        streamWindowBytes: integer(65_535, 2 ** 31 - 1).optional(),
      })
      .strict()
      .optional(),
    clusters: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'cluster names use letters, digits, "_", "." and "-"' }), clusterSchema, {
        error: 'must map cluster names to clusters',
      })
      .refine((c) => Object.keys(c).length > 0, { error: 'must define at least one cluster' }),
    routes: z
      .array(
        z
          .object({ service: str().optional(), prefix: str().optional(), cluster: str() })
          .strict()
          .refine((r) => (r.service === undefined) !== (r.prefix === undefined), { error: 'needs exactly one of service or prefix' }),
      )
      .optional(),
  })
  .strict();

/** The config as YAML or JSON text would give it, before validation. */
export type ProxyConfigInput = z.input<typeof configSchema>;

const COMPONENT = 'proxy config';

/** Validates a config object (parsed YAML); throws GrpcHaError(INVALID_CONFIG) naming the field. */
export function parseProxyConfig(input: unknown, baseDir = process.cwd()): ProxyConfig {
  const raw = parseConfig(COMPONENT, configSchema, input);
  const fail = (message: string): never => {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${COMPONENT}: ${message}`);
  };
  const file = (path: string, field: string): Buffer => {
    try {
      return readFileSync(path.startsWith('/') ? path : `${baseDir}/${path}`);
    } catch (error) {
      return fail(`${field}: cannot read ${path}: ${(error as Error).message}`);
    }
  };

  const clusters = new Map<string, ClusterConfig>();
  for (const [name, c] of Object.entries(raw.clusters)) {
    const field = `clusters.${name}`;
    let policy: PolicyConfig<unknown>;
    try {
      policy = parseClusterPolicy(c.policy, `${field}.policy`);
    } catch (error) {
      return fail((error as Error).message);
    }
    if (policy.health !== DEFAULT_HEALTH_SETTINGS) {
      // One place per setting: the proxy's clusters carry them, as Envoy's clusters do.
      const [policyName, options] = Object.entries(c.policy as Record<string, object>)[0]!;
      const name = HEALTH_FIELD_NAMES.find((n) => n in options)!;
      fail(`${field}.policy.${policyName}.${name}: set ${name} on the cluster (${field}.${name}), not inside its policy`);
    }
    try {
      // Sources only parse their target until subscribed, so this validates without side effects.
      createEndpointSource(c.target, `${field}.target`).close();
    } catch (error) {
      return fail((error as Error).message);
    }
    const hc = c.healthCheck;
    clusters.set(name, {
      name,
      target: c.target,
      policy,
      policyJson: c.policy ?? null,
      healthCheck: hc
        ? {
            mode: hc.mode ?? PROXY_DEFAULTS.healthMode,
            intervalMs: hc.intervalMs ?? PROXY_DEFAULTS.healthIntervalMs,
            timeoutMs: hc.timeoutMs ?? PROXY_DEFAULTS.healthTimeoutMs,
            service: hc.service ?? '',
            unhealthyThreshold: hc.unhealthyThreshold ?? PROXY_DEFAULTS.unhealthyThreshold,
            healthyThreshold: hc.healthyThreshold ?? PROXY_DEFAULTS.healthyThreshold,
          }
        : null,
      maxConcurrentStreamsPerBackend: c.maxConcurrentStreamsPerBackend ?? PROXY_DEFAULTS.maxConcurrentStreamsPerBackend,
      maxConnectionsPerBackend: c.maxConnectionsPerBackend ?? PROXY_DEFAULTS.maxConnectionsPerBackend,
      maxPending: c.maxPending ?? PROXY_DEFAULTS.maxPending,
      pendingTimeoutMs: c.pendingTimeoutMs ?? PROXY_DEFAULTS.pendingTimeoutMs,
      connectTimeoutMs: c.connectTimeoutMs ?? PROXY_DEFAULTS.connectTimeoutMs,
      retry: c.retry ? { attempts: c.retry.attempts ?? PROXY_DEFAULTS.retryAttempts, idempotentMethods: c.retry.idempotentMethods } : null,
      tls: c.tls
        ? {
            ...(c.tls.ca !== undefined && { ca: file(c.tls.ca, `${field}.tls.ca`) }),
            ...(c.tls.cert !== undefined && { cert: file(c.tls.cert, `${field}.tls.cert`) }),
            ...(c.tls.key !== undefined && { key: file(c.tls.key, `${field}.tls.key`) }),
            ...(c.tls.serverName !== undefined && { serverName: c.tls.serverName }),
          }
        : null,
      health: toHealthSettings(c),
    });
  }

  let routes: RouteConfig[];
  if (raw.routes) {
    routes = raw.routes;
    raw.routes.forEach((r, i) => {
      if (!clusters.has(r.cluster)) fail(`routes.${i}.cluster names no cluster: ${JSON.stringify(r.cluster)}; defined: ${[...clusters.keys()].join(', ')}`);
    });
  } else if (clusters.size === 1) {
    routes = [{ service: '*', cluster: [...clusters.keys()][0]! }];
  } else {
    return fail('routes is required when more than one cluster is defined');
  }

  // Checked here, so a bad certificate rotated in for a reload is refused before anything changes.
  function listenerTls(certPath: string, keyPath: string, caPath: string | undefined): ListenerTls {
    const t: ListenerTls = {
      cert: file(certPath, 'tls.cert'),
      key: file(keyPath, 'tls.key'),
      ...(caPath !== undefined && { clientCa: file(caPath, 'tls.clientCa') }),
    };
    try {
      createSecureContext({ cert: t.cert, key: t.key });
    } catch (error) {
      fail(`tls.cert and tls.key (${certPath}, ${keyPath}) cannot be used together: ${(error as Error).message}`);
    }
    try {
      if (t.clientCa) createSecureContext({ ca: t.clientCa });
    } catch (error) {
      fail(`tls.clientCa (${caPath}) is not a PEM certificate: ${(error as Error).message}`);
    }
    return t;
  }
  const listen = parseHostPort(raw.listen ?? PROXY_DEFAULTS.listen, true)!;
  const adminListen = raw.admin?.listen ?? PROXY_DEFAULTS.adminListen;
  let admin: ProxyConfig['admin'] = null;
  if (adminListen !== 'off') {
    const { host, port } = parseHostPort(adminListen, true)!;
    // ":9901" binds the admin endpoint to loopback, as the default does.
    admin = { host: host || '127.0.0.1', port, ...(raw.admin?.token !== undefined && { token: raw.admin.token }) };
    const tokenError = adminTokenError(admin.host, admin.token);
    if (tokenError !== null) fail(tokenError);
  }
  const l = raw.limits ?? {};
  return {
    listen,
    tls: raw.tls ? listenerTls(raw.tls.cert, raw.tls.key, raw.tls.clientCa) : null,
    admin,
    limits: {
      maxConcurrentStreams: l.maxConcurrentStreams ?? PROXY_DEFAULTS.maxConcurrentStreams,
      maxHeaderListSize: l.maxHeaderListSize ?? PROXY_DEFAULTS.maxHeaderListSize,
      idleTimeoutMs: l.idleTimeoutMs ?? PROXY_DEFAULTS.idleTimeoutMs,
      firstStreamTimeoutMs: l.firstStreamTimeoutMs ?? PROXY_DEFAULTS.firstStreamTimeoutMs,
      handshakeTimeoutMs: l.handshakeTimeoutMs ?? PROXY_DEFAULTS.handshakeTimeoutMs,
      maxSessionMemoryMb: l.maxSessionMemoryMb ?? PROXY_DEFAULTS.maxSessionMemoryMb,
      streamWindowBytes: l.streamWindowBytes ?? PROXY_DEFAULTS.streamWindowBytes,
    },
    clusters,
    routes,
    workers: raw.workers ?? PROXY_DEFAULTS.workers,
  };
}

/** Reads and validates a YAML config file; errors name the file and the field. */
export function loadProxyConfigFile(path: string): ProxyConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${COMPONENT}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${COMPONENT}: ${path} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) || '/' : process.cwd();
  try {
    return parseProxyConfig(doc, dir);
  } catch (error) {
    const e = GrpcHaError.from(error, ERROR_CODES.INVALID_CONFIG);
    throw new GrpcHaError(e.code, `${e.message} (in ${path})`, { cause: error });
  }
}

/** The zero-config form: one cluster named "default" taking every call. */
export function zeroConfig(listen: string, target: string, policy?: unknown, admin?: string): ProxyConfig {
  return parseProxyConfig({
    listen,
    ...(admin !== undefined && { admin: { listen: admin } }),
    clusters: { default: { target, ...(policy !== undefined && { policy }) } },
  });
}
