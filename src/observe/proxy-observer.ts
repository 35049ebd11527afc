/**
 * Proxies of this process, as /metrics sees them: each reports its backends' live counters at
 * scrape time (the proxy keeps them anyway; nothing is added to its forwarding path).
 */

/** One backend of one proxy cluster. */
export interface ProxyBackendView {
  readonly cluster: string;
  readonly backend: string;
  readonly inFlight: number;
  readonly completed: number;
  readonly failed: number;
  readonly healthy: boolean;
}

/** A proxy's backends, read at scrape time. */
export interface ProxyView {
  backends(): Iterable<ProxyBackendView>;
}

const proxies = new Set<ProxyView>();

/** Adds a proxy; returns the function that removes it. */
export function observeProxy(view: ProxyView): () => void {
  proxies.add(view);
  return () => proxies.delete(view);
}

/** Every proxy of this process. */
export function observedProxies(): Iterable<ProxyView> {
  return proxies;
}
