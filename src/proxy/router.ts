/**
 * Routes a call to a cluster by the service in its `:path` ("Path → ":path" "/" Service-Name "/"
 * {method name}" - PROTOCOL-HTTP2.md): exact service names first, then `:path` prefixes in
 * config order, then the `*` route. Results are cached per path, since a service has few methods.
 */
import type { Cluster } from './cluster.js';
import type { RouteConfig } from './proxy-config.js';

const CACHE_LIMIT = 10_000;

/** An immutable route table; a reload builds a new one. */
export class Router {
  private readonly byService = new Map<string, Cluster>();
  private readonly prefixes: { prefix: string; cluster: Cluster }[] = [];
  private readonly fallback: Cluster | null = null;
  private readonly cache = new Map<string, Cluster | null>();

  constructor(routes: readonly RouteConfig[], clusters: ReadonlyMap<string, Cluster>) {
    for (const r of routes) {
      const cluster = clusters.get(r.cluster)!;
      if (r.prefix !== undefined) this.prefixes.push({ prefix: r.prefix, cluster });
      else if (r.service === '*') this.fallback ??= cluster;
      else if (!this.byService.has(r.service!)) this.byService.set(r.service!, cluster);
    }
  }

  /** The cluster for `path`, or null when no route matches (the call gets UNIMPLEMENTED). */
  route(path: string): Cluster | null {
    const cached = this.cache.get(path);
    if (cached !== undefined) return cached;
    const cluster = this.resolve(path);
    // Paths come from clients: bound the cache so random paths cannot grow it without limit.
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(path, cluster);
    return cluster;
  }

  private resolve(path: string): Cluster | null {
    const end = path.indexOf('/', 1);
    if (path[0] === '/' && end > 1) {
      const byService = this.byService.get(path.slice(1, end));
      if (byService) return byService;
    }
    for (const { prefix, cluster } of this.prefixes) if (path.startsWith(prefix)) return cluster;
    return this.fallback;
  }
}

/** The service part of a `:path`, for messages. */
export function serviceOf(path: string): string {
  const end = path.indexOf('/', 1);
  return end > 1 ? path.slice(1, end) : path;
}
