/**
 * Channel target syntax of the discovery schemes (grpc-js splits a target into scheme, authority
 * and path as in https://github.com/grpc/grpc/blob/master/doc/naming.md; the path may carry a
 * query string):
 *
 *   file:///<service>[?dir=<abs dir>][&tag=<t>...]          embedded registry (default dir: defaultRegistryDir())
 *   etcd://[<host:port>[,<host:port>...]]/<service>[?tag=<t>...]   default endpoint $ETCDCTL_ENDPOINTS or 127.0.0.1:2379
 *   consul://[<host:port>]/<service>[?dc=<dc>][&tag=<t>...]  default agent $CONSUL_HTTP_ADDR or 127.0.0.1:8500
 *   static:///<addr>[;weight=N][;zone=Z][;version=V][;id=I],...
 *   static:///<service>?file=<abs path of a JSON file>
 *   ha-dns://[<dns server ip[:port]>]/<host>:<port>           A/AAAA records, re-resolved on their TTL
 *   ha-dns://[<dns server ip[:port]>]/<SRV name>               SRV records (ports, weights), e.g. _grpc._tcp.echo.example.com
 *   k8s:///<service>[.<namespace>][:<port number or name>]     Kubernetes EndpointSlices
 *
 * The service name may contain "/" (etcd's Go naming uses "foo/bar/my-service"); percent-encode
 * anything else that is not URL-safe.
 */
import path from 'node:path';
import { formatTarget, splitTarget, type TargetUri } from '../core/target-uri.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { ConsulRegistry } from './consul-registry.js';
import { EtcdRegistry } from './etcd-registry.js';
import { defaultRegistryDir, FileRegistry } from './file-registry.js';
import { parseAddress } from '../core/address.js';
import { serviceNameSchema } from './instance.js';
import type { InstanceSource, Registry, ServiceQuery } from './registry.js';
import { parseStaticList, StaticRegistry } from './static-registry.js';
import { DnsDiscovery } from './dns/dns-discovery.js';
import { parseDnsName, parseDnsServer } from './dns/dns-name.js';
import { KubernetesDiscovery } from './kubernetes/kubernetes-discovery.js';
import { parseKubernetesName } from './kubernetes/kubernetes-name.js';

import { DISCOVERY_SCHEMES, type DiscoveryScheme } from './schemes.js';

export { DISCOVERY_SCHEMES, type DiscoveryScheme } from './schemes.js';

/** Settings of a registry created from a target that mean the same for every kind of registry. */
export interface RegistrySettings {
  /**
   * How long an instance stays listed after its server stopped refreshing it (killed, cut off),
   * ms: the file registry's `ttlMs`, the etcd lease TTL and the Consul TTL check, the last two
   * rounded up to whole seconds. Defaults to each registry's own (10 s); static lists ignore it.
   */
  readonly entryTtlMs?: number;
}

/** A parsed discovery target. */
export interface DiscoveryTarget {
  /** Its scheme. */
  readonly scheme: DiscoveryScheme;
  /** What to watch. */
  readonly query: ServiceQuery;
  /** Targets with equal keys share one registry client in a process. */
  readonly registryKey: string;
  /** Creates the source the target names (when none is passed in the channel options). */
  createSource(): InstanceSource;
  /** Creates the registry to register in; throws GrpcHaError(INVALID_CONFIG) for the read-only schemes (ha-dns, k8s). */
  createRegistry(settings?: RegistrySettings): Registry;
  /** The target as given, for messages. */
  readonly text: string;
}

/**
 * The target of `service` in the registry a target without a service names ("file:",
 * "file:///?dir=/tmp/reg", "etcd://127.0.0.1:2379", "consul://127.0.0.1:8500?dc=eu"): how the CLI
 * and the demo let users name a registry once for every service. Null when `registry` is not of
 * that form.
 */
export function serviceTargetIn(registry: string, service: string): TargetUri | null {
  const uri = splitTarget(registry);
  if (uri === null || (uri.path !== '' && !uri.path.startsWith('?'))) return null;
  const path = `${encodeURIComponent(service).replace(/%2F/g, '/')}${uri.path}`;
  return uri.authority === undefined || uri.authority === '' ? { scheme: uri.scheme, path } : { scheme: uri.scheme, authority: uri.authority, path };
}

const KNOWN_PARAMS: Record<DiscoveryScheme, readonly string[]> = {
  file: ['dir', 'tag'],
  etcd: ['tag'],
  consul: ['dc', 'tag'],
  static: ['file', 'tag'],
  'ha-dns': [],
  k8s: [],
};

/**
 * Parses a discovery target, as text (`etcd://127.0.0.1:2379/greeter`) or split as grpc-js
 * splits it; throws GrpcHaError(INVALID_ADDRESS) naming what is wrong.
 */
export function parseDiscoveryTarget(target: string | { readonly scheme?: string; readonly authority?: string; readonly path: string }): DiscoveryTarget {
  const split = typeof target === 'string' ? splitTarget(target) : target.scheme === undefined ? null : (target as TargetUri);
  const text = typeof target === 'string' ? target : split ? formatTarget(split) : target.path;
  const fail = (message: string): never => {
    throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `target ${JSON.stringify(text)}: ${message}`);
  };
  if (split === null) return fail(`must look like scheme:///service or scheme://authority/service, with scheme one of ${DISCOVERY_SCHEMES.join(', ')}`);
  const uri = split;
  const scheme = uri.scheme as DiscoveryScheme;
  if (!DISCOVERY_SCHEMES.includes(scheme)) fail(`scheme must be one of ${DISCOVERY_SCHEMES.join(', ')}`);
  const q = uri.path.indexOf('?');
  const rawPath = q < 0 ? uri.path : uri.path.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : uri.path.slice(q + 1));
  for (const key of new Set(params.keys())) {
    if (!KNOWN_PARAMS[scheme].includes(key)) {
      fail(`unknown parameter ${JSON.stringify(key)}; ${scheme} targets take ${KNOWN_PARAMS[scheme].join(', ')}`);
    }
  }
  for (const key of ['dir', 'dc', 'file']) {
    if (params.getAll(key).length > 1) fail(`parameter ${key} given more than once`);
  }
  let service: string;
  try {
    service = decodeURIComponent(rawPath);
  } catch {
    return fail('the service name is not valid percent-encoding');
  }
  const tags = params.getAll('tag');
  if (tags.some((t) => t === '')) fail('tag must not be empty');
  const withTags = (query: ServiceQuery): ServiceQuery => (tags.length > 0 ? { ...query, tags } : query);
  if ((scheme === 'etcd' || scheme === 'consul') && uri.authority && !uri.authority.includes(':') && rawPath === '') {
    fail(`the authority is the registry's host:port and the service comes after it${suggestNoAuthority(uri)}`);
  }
  const checkService = () => {
    const result = serviceNameSchema.safeParse(service);
    if (!result.success) fail(`service name ${result.error.issues[0]!.message}, got ${JSON.stringify(service)}`);
  };

  const checked = (parse: () => unknown) => {
    try {
      parse();
    } catch (error) {
      fail((error as Error).message);
    }
  };

  switch (scheme) {
    case 'ha-dns': {
      const servers = uri.authority ? [uri.authority] : undefined;
      checked(() => {
        parseDnsName(service);
        if (servers) parseDnsServer(servers[0]!);
      });
      return {
        scheme,
        text,
        query: { service },
        registryKey: `ha-dns|${uri.authority ?? ''}`,
        createSource: () => new DnsDiscovery(servers ? { servers } : {}),
        createRegistry: () => readOnly(scheme, "the DNS zone's owner writes its records"),
      };
    }
    case 'k8s': {
      if (uri.authority) fail('k8s targets take no authority: write k8s:///service.namespace:port');
      checked(() => parseKubernetesName(service));
      return {
        scheme,
        text,
        query: { service },
        registryKey: 'k8s|',
        createSource: () => new KubernetesDiscovery(),
        createRegistry: () => readOnly(scheme, 'the kubelet and the EndpointSlice controller publish ready pods; pair serve() with a gRPC readiness probe'),
      };
    }
    case 'file': {
      if (uri.authority) fail(`file targets take no authority${suggestNoAuthority(uri)}: write file:///<service>?dir=<dir>`);
      checkService();
      const dirParam = params.get('dir');
      if (dirParam !== null && !path.isAbsolute(dirParam)) fail(`dir must be an absolute path, got ${JSON.stringify(dirParam)}`);
      const dir = path.resolve(dirParam ?? defaultRegistryDir());
      return {
        scheme,
        text,
        query: withTags({ service }),
        registryKey: `file|${dir}`,
        ...registryTarget((settings) => new FileRegistry({ dir, ...(settings?.entryTtlMs !== undefined && { ttlMs: settings.entryTtlMs }) })),
      };
    }
    case 'etcd': {
      checkService();
      const endpoints = splitHosts(uri.authority || process.env['ETCDCTL_ENDPOINTS'] || '127.0.0.1:2379', fail);
      return {
        scheme,
        text,
        query: withTags({ service }),
        registryKey: `etcd|${endpoints.join(',')}`,
        ...registryTarget((settings) => new EtcdRegistry({ endpoints, ...(settings?.entryTtlMs !== undefined && { leaseTtlS: Math.ceil(settings.entryTtlMs / 1000) }) })),
      };
    }
    case 'consul': {
      checkService();
      const address = uri.authority || process.env['CONSUL_HTTP_ADDR'] || '127.0.0.1:8500';
      const [agent] = splitHosts(address, fail);
      if (address.includes(',')) fail('consul targets take one agent address');
      const dc = params.get('dc');
      if (dc === '') fail('dc must not be empty');
      return {
        scheme,
        text,
        query: withTags(dc === null ? { service } : { service, datacenter: dc }),
        registryKey: `consul|${agent}`,
        ...registryTarget((settings) =>
          new ConsulRegistry({ address: agent!, ...(settings?.entryTtlMs !== undefined && { check: { type: 'ttl', ttlS: Math.ceil(settings.entryTtlMs / 1000) } }) })),
      };
    }
    case 'static': {
      if (uri.authority) fail(`static targets take no authority${suggestNoAuthority(uri)}: write static:///<addr>,<addr>`);
      const file = params.get('file');
      if (file !== null) {
        if (!path.isAbsolute(file)) fail(`file must be an absolute path, got ${JSON.stringify(file)}`);
        checkService();
        return {
          scheme,
          text,
          query: withTags({ service }),
          registryKey: `static-file|${path.resolve(file)}`,
          ...registryTarget(() => new StaticRegistry({ file })),
        };
      }
      const instances = parseStaticList(service);
      return {
        scheme,
        text,
        query: withTags({ service }),
        registryKey: `static|${service}`,
        ...registryTarget(() => new StaticRegistry({ services: { [service]: instances } })),
      };
    }
  }
}

/** The two factories of a registry scheme: the registry is its own source. */
function registryTarget(create: (settings?: RegistrySettings) => Registry): Pick<DiscoveryTarget, 'createSource' | 'createRegistry'> {
  return { createSource: () => create(), createRegistry: create };
}

function readOnly(scheme: string, why: string): never {
  throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `${scheme}: targets are read-only, nothing registers in them: ${why}`);
}

/** `; did you mean "file:///inventory"?` for `file://inventory`: the service written where the authority goes. */
function suggestNoAuthority(uri: TargetUri): string {
  const rest = uri.path === '' || uri.path.startsWith('?') ? uri.path : `/${uri.path}`;
  return `; did you mean ${JSON.stringify(`${uri.scheme}:///${uri.authority}${rest}`)}?`;
}

/** Splits `host:port,host:port` (an optional http:// or https:// prefix each) and checks every address. */
function splitHosts(list: string, fail: (message: string) => never): string[] {
  return list.split(',').map((raw) => {
    const address = raw.trim().replace(/^https?:\/\//, '');
    try {
      parseAddress(address, 'registry address');
    } catch (error) {
      fail((error as Error).message);
    }
    return raw.trim();
  });
}
