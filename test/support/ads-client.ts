/**
 * A scripted ADS client on a real grpc-js channel, for the protocol tests and the scale
 * benchmark: it subscribes, ACKs (or NACKs when told to), and records every response with the
 * time it arrived. It plays the client side of the xDS protocol the way gRPC clients do (every
 * request of a type carries the whole subscription and the latest nonce), nothing more.
 */
import * as grpc from '@grpc/grpc-js';
import { envoyCodec, type DiscoveryRequest, type DiscoveryResponse, type EnvoyCodec } from '../../src/xds/envoy-protos.js';
import { RESOURCE_TYPES, resourceTypeOf, type ResourceType } from '../../src/xds/resources.js';

/** A response as received. */
export interface ReceivedResponse {
  readonly type: ResourceType;
  readonly version: string;
  readonly nonce: string;
  /** Decoded resources. */
  readonly resources: Record<string, unknown>[];
  /** Encoded size of the resources, bytes. */
  readonly bytes: number;
  /** Epoch ms (sub-ms precision) at arrival. */
  readonly at: number;
}

/** Options of an AdsClient. */
export interface AdsClientOptions {
  readonly nodeId: string;
  readonly userAgent?: { readonly name: string; readonly version: string };
  readonly credentials?: grpc.ChannelCredentials;
  /** Decode resources of responses (off for the scale benchmark, where only arrival times count). */
  readonly decode?: boolean;
  /** Called on every response, after it is recorded. */
  readonly onResponse?: (response: ReceivedResponse) => void;
}

/** One ADS stream. */
export class AdsClient {
  /** Every response, in order. */
  readonly responses: ReceivedResponse[] = [];
  private readonly codec: EnvoyCodec = envoyCodec();
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  private readonly names = new Map<ResourceType, string[]>();
  private readonly last = new Map<ResourceType, { version: string; nonce: string }>();
  private readonly nackNext = new Map<ResourceType, string>();
  private sentNode = false;
  /** Resolves with the status the stream ended with. */
  readonly ended: Promise<grpc.StatusObject>;

  constructor(address: string, private readonly options: AdsClientOptions) {
    const Client = grpc.makeGenericClientConstructor(this.codec.adsService, 'AggregatedDiscoveryService');
    this.client = new Client(address, options.credentials ?? grpc.credentials.createInsecure());
    this.call = (this.client as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources();
    this.ended = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('error', () => undefined);
    this.call.on('data', (message: DiscoveryResponse) => this.onResponse(message));
  }

  /** Asks for `names` of `type` (the whole set, as state-of-the-world requests do). */
  subscribe(type: ResourceType, names: string[]): void {
    this.names.set(type, names);
    this.send(type, this.last.get(type)?.version ?? '', this.last.get(type)?.nonce ?? '');
  }

  /** The next response to `type` is rejected with `message`. */
  nackNextResponse(type: ResourceType, message: string): void {
    this.nackNext.set(type, message);
  }

  /** Sends a raw request (stale nonces and the like). */
  sendRaw(request: Partial<DiscoveryRequest> & { type_url: string }): void {
    this.call.write({ version_info: '', resource_names: [], response_nonce: '', ...request } as DiscoveryRequest);
  }

  /** Waits for a response of `type` after the `seen`-th one that satisfies `check`. */
  async next(type: ResourceType, check: (r: ReceivedResponse) => boolean = () => true, timeoutMs = 5000, after = 0): Promise<ReceivedResponse> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.responses.slice(after).find((r) => r.type === type && check(r));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no ${type} response within ${timeoutMs} ms (got ${this.responses.map((r) => `${r.type}@${r.version}`).join(', ') || 'none'})`);
  }

  /** Ends the stream and closes the channel. */
  close(): void {
    this.call.end();
    this.call.cancel();
    this.client.close();
  }

  private send(type: ResourceType, version: string, nonce: string, error?: string): void {
    const request: Record<string, unknown> = {
      version_info: version,
      resource_names: this.names.get(type) ?? [],
      type_url: RESOURCE_TYPES[type],
      response_nonce: nonce,
    };
    if (!this.sentNode) {
      this.sentNode = true;
      request.node = {
        id: this.options.nodeId,
        user_agent_name: this.options.userAgent?.name ?? 'grpc-ha test ADS client',
        user_agent_version: this.options.userAgent?.version ?? '0',
        client_features: ['xds.config.resource-in-sotw'],
      };
    }
    if (error !== undefined) request.error_detail = { code: 3, message: error };
    this.call.write(request as unknown as DiscoveryRequest);
  }

  private onResponse(message: DiscoveryResponse): void {
    const at = performance.timeOrigin + performance.now();
    const type = resourceTypeOf(message.type_url);
    if (!type) return;
    const decode = this.options.decode ?? true;
    const received: ReceivedResponse = {
      type,
      version: message.version_info,
      nonce: message.nonce,
      resources: decode ? message.resources.map((r) => this.codec.decodeResource(r)) : [],
      bytes: message.resources.reduce((sum, r) => sum + r.value.length, 0),
      at,
    };
    this.responses.push(received);
    const nack = this.nackNext.get(type);
    if (nack !== undefined) {
      this.nackNext.delete(type);
      // A NACK names the version still in use and the nonce of the response it rejects.
      this.send(type, this.last.get(type)?.version ?? '', message.nonce, nack);
      this.last.set(type, { version: this.last.get(type)?.version ?? '', nonce: message.nonce });
    } else {
      this.last.set(type, { version: message.version_info, nonce: message.nonce });
      this.send(type, message.version_info, message.nonce);
    }
    this.options.onResponse?.(received);
  }
}
