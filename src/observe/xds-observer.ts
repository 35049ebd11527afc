/**
 * xDS control planes of this process, as the admin API and /metrics see them: what each serves
 * (services, their endpoints and published health) and who is connected — node id, locality,
 * subscriptions, the last version each client ACKed and the NACKs it sent, like Envoy's CSDS
 * (gRFC A40) seen from the server. The control plane implements the view; nothing here is filled
 * in from outside.
 */

/** One endpoint of a served service. */
export interface XdsEndpointView {
  readonly instanceId: string;
  readonly address: string;
  readonly zone?: string;
  readonly weight: number;
  /** The EDS health_status published, or "not published" (health answer pending, host unresolved, gone). */
  readonly published: string;
  /** What the control plane's health check sees, in words. */
  readonly condition: string;
}

/** One service the control plane serves. */
export interface XdsServiceView {
  readonly service: string;
  /** The registry has answered. */
  readonly ready: boolean;
  /** The health service checked ("" the whole server), or null with health checks off. */
  readonly healthCheckService: string | null;
  /** Policies of the Cluster's load_balancing_policy, in order. */
  readonly policies: readonly string[];
  readonly outlierDetection: boolean;
  /** What the service config asked that xDS cannot carry. */
  readonly notes: readonly string[];
  /** Why the last service config document was rejected (the one before it stays). */
  readonly configRejected?: string;
  readonly registryError?: string;
  /** Current version of each resource. */
  readonly versions: Readonly<Record<string, number>>;
  /** When the input behind the last change arrived, epoch ms. */
  readonly changedAt: number;
  readonly endpoints: readonly XdsEndpointView[];
}

/** A NACK a client sent. */
export interface XdsNackView {
  readonly at: number;
  /** The nonce of the response it rejected. */
  readonly nonce: string;
  /** The version it keeps using. */
  readonly keptVersion: string;
  /** The client's error detail. */
  readonly message: string;
}

/** A client's subscription to one resource type. */
export interface XdsSubscriptionView {
  /** "listener", "route", "cluster", "endpoints". */
  readonly type: string;
  readonly names: readonly string[];
  /** version_info of the last response sent. */
  readonly sentVersion: string;
  /** version_info the client last ACKed ("" before the first ACK). */
  readonly ackedVersion: string;
  readonly responses: number;
  readonly nacks: number;
  readonly lastNack?: XdsNackView;
}

/** One connected client (one ADS stream). */
export interface XdsClientView {
  readonly nodeId: string;
  readonly cluster: string;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string } | null;
  /** "gRPC C-core linux Python C-core 29.0.0 Python 1.51.1". */
  readonly userAgent: string;
  readonly peer: string;
  readonly connectedAt: number;
  readonly subscriptions: readonly XdsSubscriptionView[];
  /** What is left out for this client and why (client-quirks.ts). */
  readonly limits: readonly string[];
}

/** A control plane, read by the admin API. */
export interface XdsServerView {
  /** "host:port" it listens on. */
  readonly address: string;
  /** The registry it serves from. */
  readonly registry: string;
  services(): XdsServiceView[];
  clients(): XdsClientView[];
  /** Responses sent and NACKs received, by resource type, since start. */
  counters(): { readonly responses: Readonly<Record<string, number>>; readonly nacks: Readonly<Record<string, number>> };
}

const servers = new Set<XdsServerView>();

/** Adds a control plane; returns the function that removes it. */
export function observeXdsServer(view: XdsServerView): () => void {
  servers.add(view);
  return () => servers.delete(view);
}

/** Every control plane of this process. */
export function observedXdsServers(): Iterable<XdsServerView> {
  return servers;
}
