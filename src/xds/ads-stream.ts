/**
 * One Aggregated Discovery Service stream, state of the world (the xDS protocol,
 * envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol): per resource type, what the client
 * subscribes to, what was sent, the last nonce, ACKs and NACKs.
 *
 * - Every request of a type names the whole set of resources the client wants of it; the
 *   stream holds a reference on each service's feed for as long as a type names it.
 * - A response answers a request: after sending, the stream waits for the client's next request
 *   of that type (its ACK or NACK) before sending that type again, so a burst of changes is one
 *   response per round trip and never a queue.
 * - "A request with a response_nonce that is not the latest nonce sent [...] is stale" and is
 *   ignored: the client has a newer response on its way and its ACK will say what it wants.
 * - A NACK (error_detail set) is recorded and logged with the client's detail; nothing is sent
 *   again until the resources change (the client keeps the version it last accepted).
 * - A resource is in a response once its service has heard from the registry; for Listener and
 *   Cluster (whose responses carry the whole set) a resource never sent is not yet "removed".
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../observe/logger.js';
import type { XdsClientView, XdsNackView, XdsSubscriptionView } from '../observe/xds-observer.js';
import { clientLimits, NO_LIMITS, type ClientLimits } from './client-quirks.js';
import type { DiscoveryRequest, DiscoveryResponse, XdsNode } from './envoy-protos.js';
import { RESOURCE_TYPES, resourceTypeOf, type ResourceType } from './resources.js';
import type { ServiceFeed } from './service-feed.js';

/**
 * Most names one request of a type may subscribe to. Each distinct service is a registry watch and
 * health checks of its instances; a gRPC client names a handful, a hostile one must not make
 * thousands.
 */
export const MAX_NAMES_PER_TYPE = 100;

/** What a stream needs of its server. */
export interface StreamHost {
  /** The feed of `service` (a reference the stream must release), or undefined for a name that cannot be a service. */
  acquire(service: string): ServiceFeed | undefined;
  /** Releases a reference taken by acquire. */
  release(service: string): void;
  /** Counts a response sent or a NACK received. */
  count(kind: 'responses' | 'nacks', type: ResourceType): void;
  readonly log: Logger;
}

interface Subscription {
  readonly feed: ServiceFeed | undefined;
  readonly off: () => void;
}

interface TypeState {
  readonly subscriptions: Map<string, Subscription>;
  /** The client has a request this stream has not answered yet. */
  waiting: boolean;
  /** version of each resource in the last response. */
  sent: Map<string, number>;
  lastNonce: string;
  sentVersion: string;
  versions: number;
  ackedVersion: string;
  responses: number;
  nacks: number;
  lastNack: XdsNackView | undefined;
}

/** One connected client. */
export class AdsStream {
  /** When the stream opened, ms since the epoch. */
  readonly connectedAt = Date.now();
  private node: XdsNode | undefined;
  private limits: ClientLimits = NO_LIMITS;
  private nonces = 0;
  private closed = false;
  private readonly types = new Map<ResourceType, TypeState>();

  constructor(
    private readonly call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>,
    private readonly host: StreamHost,
    /** The client's address. */
    readonly peer: string,
  ) {}

  /** Handles one request of the client. */
  onRequest(request: DiscoveryRequest): void {
    if (this.closed) return;
    if (request.node && !this.node) {
      this.node = request.node;
      this.limits = clientLimits(request.node);
      this.host.log.info(
        { event: 'xds.client_connected', node: request.node.id, peer: this.peer, userAgent: `${request.node.user_agent_name} ${request.node.user_agent_version}` },
        `xDS client ${request.node.id} connected from ${this.peer}`,
      );
      for (const note of this.limits.notes) this.host.log.info({ event: 'xds.client_limited', node: request.node.id }, `xDS client ${request.node.id}: ${note}`);
    }
    const type = resourceTypeOf(request.type_url);
    if (type === undefined) {
      this.host.log.debug({ event: 'xds.unknown_type', node: this.node?.id, typeUrl: request.type_url }, `xDS client asked for ${request.type_url}, which is not served`);
      return;
    }
    const state = this.state(type);
    if (request.response_nonce !== '') {
      if (request.response_nonce !== state.lastNonce) return; // stale
      const detail = request.error_detail;
      if (detail && (detail.code !== 0 || detail.message !== '')) {
        state.nacks++;
        state.lastNack = { at: Date.now(), nonce: request.response_nonce, keptVersion: request.version_info, message: detail.message };
        this.host.count('nacks', type);
        this.host.log.warn(
          { event: 'xds.nack', node: this.node?.id, type, nonce: request.response_nonce, keptVersion: request.version_info, detail: detail.message },
          `xDS client ${this.node?.id ?? this.peer} rejected the ${type} response ${request.response_nonce} and keeps version ${request.version_info || '(none)'}: ${detail.message}`,
        );
      } else {
        state.ackedVersion = request.version_info;
      }
    }
    state.waiting = true;
    this.subscribe(type, state, request.resource_names);
    this.send(type);
  }

  /** Releases every subscription; nothing is sent after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.types.values()) {
      for (const [name, sub] of state.subscriptions) {
        sub.off();
        if (sub.feed) this.host.release(name);
      }
      state.subscriptions.clear();
    }
    if (this.node) this.host.log.info({ event: 'xds.client_disconnected', node: this.node.id, peer: this.peer }, `xDS client ${this.node.id} disconnected`);
  }

  /** The client as the admin API shows it. */
  view(): XdsClientView {
    const node = this.node;
    const subscriptions: XdsSubscriptionView[] = [...this.types].map(([type, s]) => ({
      type,
      names: [...s.subscriptions.keys()],
      sentVersion: s.sentVersion,
      ackedVersion: s.ackedVersion,
      responses: s.responses,
      nacks: s.nacks,
      ...(s.lastNack && { lastNack: s.lastNack }),
    }));
    return {
      nodeId: node?.id ?? '',
      cluster: node?.cluster ?? '',
      locality: node?.locality ? { region: node.locality.region, zone: node.locality.zone, subZone: node.locality.sub_zone } : null,
      userAgent: node ? `${node.user_agent_name} ${node.user_agent_version}`.trim() : '',
      peer: this.peer,
      connectedAt: this.connectedAt,
      subscriptions,
      limits: this.limits.notes,
    };
  }

  private state(type: ResourceType): TypeState {
    let state = this.types.get(type);
    if (!state) {
      state = {
        subscriptions: new Map(),
        waiting: false,
        sent: new Map(),
        lastNonce: '',
        sentVersion: '',
        versions: 0,
        ackedVersion: '',
        responses: 0,
        nacks: 0,
        lastNack: undefined,
      };
      this.types.set(type, state);
    }
    return state;
  }

  private subscribe(type: ResourceType, state: TypeState, names: readonly string[]): void {
    const wanted = new Set(names);
    if (wanted.size > MAX_NAMES_PER_TYPE) {
      this.host.log.warn(
        { event: 'xds.too_many_names', node: this.node?.id, peer: this.peer, type, names: wanted.size },
        `xDS client ${this.node?.id ?? this.peer} asked for ${wanted.size} ${type} resources; only the first ${MAX_NAMES_PER_TYPE} are served`,
      );
      for (const name of [...wanted].slice(MAX_NAMES_PER_TYPE)) wanted.delete(name);
    }
    for (const [name, sub] of state.subscriptions) {
      if (wanted.has(name)) continue;
      sub.off();
      if (sub.feed) this.host.release(name);
      state.subscriptions.delete(name);
    }
    for (const name of wanted) {
      if (state.subscriptions.has(name)) continue;
      const feed = this.host.acquire(name);
      const off = feed ? feed.onChange((changed) => changed.has(type) && this.send(type)) : () => undefined;
      state.subscriptions.set(name, { feed, off });
    }
  }

  /** Answers the client's open request of `type` when what it would get differs from what it has. */
  private send(type: ResourceType): void {
    const state = this.types.get(type);
    if (!state || !state.waiting || this.closed) return;
    const resources = [];
    const versions = new Map<string, number>();
    for (const [name, sub] of state.subscriptions) {
      const current = sub.feed?.resource(type, this.limits.ringHash);
      if (!current) continue;
      resources.push(current.resource);
      versions.set(name, current.version);
    }
    if (versions.size === state.sent.size && [...versions].every(([name, v]) => state.sent.get(name) === v)) return;
    state.waiting = false;
    state.sent = versions;
    state.sentVersion = String(++state.versions);
    state.lastNonce = String(++this.nonces);
    state.responses++;
    this.call.write({ version_info: state.sentVersion, resources, type_url: RESOURCE_TYPES[type], nonce: state.lastNonce });
    this.host.count('responses', type);
  }
}
