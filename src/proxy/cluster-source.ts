/**
 * The endpoint source of a cluster's target, validated already. An address list needs nothing
 * more; a registry target (file, etcd, Consul, ha-dns, k8s, static:///) loads the discovery layer
 * and its registry clients when the cluster first subscribes, so a proxy whose clusters list
 * addresses never loads them.
 */
import { createEndpointSource, knowsTarget, type EndpointSource } from './endpoint-source.js';

/** The source of `target` (`field` names it in errors); a failure to load the discovery layer goes to `log`. */
export function clusterSource(target: string, field: string, log: (message: string) => void): EndpointSource {
  if (knowsTarget(target)) return createEndpointSource(target, field);
  let inner: EndpointSource | undefined;
  let closed = false;
  return {
    subscribe(onEndpoints) {
      // Registers the discovery schemes with endpoint-source.ts.
      import('./registry-endpoint-source.js').then(
        () => {
          if (closed) return;
          inner = createEndpointSource(target, field);
          inner.subscribe(onEndpoints);
        },
        (error: unknown) => log(`${field}: ${target}: cannot load the discovery layer: ${(error as Error).message}`),
      );
    },
    close() {
      closed = true;
      inner?.close();
    },
  };
}
