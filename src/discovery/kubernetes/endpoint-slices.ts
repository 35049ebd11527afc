/**
 * EndpointSlices (`discovery.k8s.io/v1`) to instances: the fields grpc-ha reads, and which
 * endpoints get new calls.
 *
 * Conditions, as the API reference defines them: `ready` nil "should be interpreted as true";
 * `serving` is ready regardless of termination (nil: defer to `ready`, then true); `terminating`
 * nil means "not terminating". New calls go to endpoints that are ready and not terminating.
 * Only when there is none do they go to endpoints that are serving while terminating — what
 * kube-proxy does (KEP-1669, "ProxyTerminatingEndpoints") so that a rollout of the last replica
 * does not drop traffic. A terminating endpoint that leaves the list keeps its streams: grpc-js
 * closes a subchannel it no longer uses gracefully (HTTP/2 GOAWAY), calls in flight finish.
 *
 * Ports belong to each slice, not to the Service: a port name is looked up per slice.
 */
import { formatAddress } from '../../core/address.js';
import type { ServiceInstance } from '../instance.js';

/** The fields of an EndpointSlice that grpc-ha reads. */
export interface EndpointSlice {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string; readonly labels?: Readonly<Record<string, string>> };
  /** "IPv4", "IPv6" or "FQDN". */
  readonly addressType: string;
  readonly endpoints?: readonly SliceEndpoint[] | null;
  readonly ports?: readonly SlicePort[] | null;
}

/** One endpoint (a pod) of a slice. */
export interface SliceEndpoint {
  readonly addresses: readonly string[];
  readonly conditions?: { readonly ready?: boolean | null; readonly serving?: boolean | null; readonly terminating?: boolean | null } | null;
  readonly hostname?: string | null;
  readonly nodeName?: string | null;
  readonly zone?: string | null;
  readonly hints?: { readonly forZones?: readonly { readonly name: string }[] | null } | null;
  readonly targetRef?: { readonly kind?: string; readonly name?: string; readonly namespace?: string } | null;
}

/** One port of a slice. `port` nil means "all ports", which names nothing we can dial. */
export interface SlicePort {
  readonly name?: string | null;
  readonly port?: number | null;
  readonly protocol?: string | null;
}

/** Where an endpoint stands, from its conditions. */
export type EndpointState = 'ready' | 'terminating-serving' | 'unavailable';

/** The state of an endpoint by the API's rules for nil conditions (see the module doc). */
export function endpointState(endpoint: SliceEndpoint): EndpointState {
  const c = endpoint.conditions ?? {};
  const ready = c.ready ?? true;
  const serving = c.serving ?? c.ready ?? true;
  const terminating = c.terminating ?? false;
  if (ready && !terminating) return 'ready';
  if (serving && terminating) return 'terminating-serving';
  return 'unavailable';
}

/** The port of `slice` that `port` names (a number is used as is), or why there is none. */
export function slicePort(slice: EndpointSlice, port: number | string | undefined): number | string {
  if (typeof port === 'number') return port;
  const tcp = (slice.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP' && typeof p.port === 'number');
  if (port !== undefined) {
    const named = tcp.find((p) => (p.name ?? '') === port);
    return named ? named.port! : `has no TCP port named ${JSON.stringify(port)} (it has ${describePorts(tcp)})`;
  }
  if (tcp.length === 1) return tcp[0]!.port!;
  return tcp.length === 0 ? 'has no TCP port' : `has several ports (${describePorts(tcp)}): name one in the target, as in k8s:///service.namespace:grpc`;
}

function describePorts(ports: readonly SlicePort[]): string {
  return ports.length === 0 ? 'none' : ports.map((p) => `${p.name || '(unnamed)'}=${p.port}`).join(', ');
}

/** The instances of a Service's slices, and one line per slice that had to be skipped. */
export function instancesFromSlices(
  service: string,
  slices: Iterable<EndpointSlice>,
  port: number | string | undefined,
): { instances: ServiceInstance[]; problems: string[] } {
  const problems: string[] = [];
  const byAddress = new Map<string, { state: EndpointState; instance: ServiceInstance }>();
  for (const slice of slices) {
    const endpoints = slice.endpoints ?? [];
    if (endpoints.length === 0) continue; // a Service without pods still has an empty slice
    const resolved = slicePort(slice, port);
    if (typeof resolved === 'string') {
      problems.push(`EndpointSlice ${slice.metadata.name} ${resolved}`);
      continue;
    }
    if (!['IPv4', 'IPv6', 'FQDN'].includes(slice.addressType)) {
      problems.push(`EndpointSlice ${slice.metadata.name} has addressType ${slice.addressType}`);
      continue;
    }
    for (const endpoint of endpoints) {
      const state = endpointState(endpoint);
      if (state === 'unavailable') continue;
      for (const host of endpoint.addresses ?? []) {
        const address = formatAddress(host, resolved);
        const seen = byAddress.get(address);
        // An endpoint can sit in two slices for a moment while the controller moves it.
        if (seen && (seen.state === 'ready' || state !== 'ready')) continue;
        byAddress.set(address, { state, instance: toInstance(service, address, endpoint) });
      }
    }
  }
  const all = [...byAddress.values()];
  const ready = all.filter((e) => e.state === 'ready');
  return { instances: (ready.length > 0 ? ready : all).map((e) => e.instance), problems };
}

function toInstance(service: string, address: string, endpoint: SliceEndpoint): ServiceInstance {
  const labels: Record<string, string> = {};
  if (endpoint.targetRef?.name) labels['pod'] = endpoint.targetRef.name;
  if (endpoint.nodeName) labels['node'] = endpoint.nodeName;
  if (endpoint.hostname) labels['hostname'] = endpoint.hostname;
  const forZones = endpoint.hints?.forZones?.map((z) => z.name).filter(Boolean) ?? [];
  if (forZones.length > 0) labels['forZones'] = forZones.join(',');
  if (endpointState(endpoint) !== 'ready') labels['terminating'] = 'true';
  return {
    service,
    instanceId: address,
    address,
    ...(endpoint.zone ? { zone: endpoint.zone } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  };
}
