/**
 * Registry targets for proxy clusters: `file:///svc?dir=...`, `etcd://host:port/svc`,
 * `consul://host:port/svc`, `static:///addr;weight=N,...`, `ha-dns://server/name:port` and
 * `k8s:///service.namespace:port` — the same target syntax and
 * registries (src/discovery) as the grpc-js resolvers, so a cluster is found the same way from
 * every language. Each watch gets the full live instance list on every change.
 */
import { splitTarget } from '../core/target-uri.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { parseDiscoveryTarget, DISCOVERY_SCHEMES } from '../discovery/target.js';
import type { InstanceSource } from '../discovery/registry.js';
import { registerEndpointSourceScheme, staticEndpointSource, parseAddressList, type EndpointSource } from './endpoint-source.js';

/** A source watching one service in a registry; nothing is contacted before `subscribe`. */
function registrySource(scheme: string, rest: string, log: (message: string) => void): EndpointSource {
  const target = parseDiscoveryTarget(splitTarget(`${scheme}:${rest}`)!);
  let registry: InstanceSource | undefined;
  let unsubscribe: (() => void) | undefined;
  return {
    subscribe(onEndpoints) {
      try {
        registry = target.createSource();
      } catch (error) {
        // e.g. k8s: outside a cluster without a kubeconfig: the cluster stays empty and says why.
        log(`${target.text}: ${(error as Error).message}`);
        return;
      }
      unsubscribe = registry.watch(target.query, {
        instances: (instances) => onEndpoints(instances.map((i) => ({ address: i.address, ...(i.weight !== undefined && { weight: i.weight }) }))),
        config: () => {},
        // What was reported before still stands; the registry retries by itself.
        error: (error) => log(`${target.text}: ${error.message}`),
      });
    },
    close() {
      unsubscribe?.();
      void registry?.close();
    },
  };
}

/** Makes the discovery schemes usable as cluster targets. Idempotent. */
export function registerRegistryTargets(log: (message: string) => void = (m) => console.error(`grpc-ha proxy: ${m}`)): void {
  for (const scheme of DISCOVERY_SCHEMES) {
    registerEndpointSourceScheme(scheme, (rest) => {
      // `static:a:1,b:2` stays the plain list; `static:///...` is the discovery syntax with weights.
      if (scheme === 'static' && !rest.startsWith('//')) return staticEndpointSource(parseAddressList(rest, 'target'));
      try {
        return registrySource(scheme, rest, log);
      } catch (error) {
        throw GrpcHaError.from(error, ERROR_CODES.INVALID_ADDRESS);
      }
    });
  }
}

registerRegistryTargets();
