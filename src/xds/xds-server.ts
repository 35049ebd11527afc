/**
 * The xDS control plane: an Aggregated Discovery Service (state of the world) on a grpc-js
 * server, serving Listener, RouteConfiguration, Cluster and ClusterLoadAssignment for every
 * service of a grpc-ha registry, so a gRPC client in any language that dials
 * `xds:///<service>` balances over the registry's instances with their health, weights, zones
 * and the service's policy ("proxyless gRPC", gRFC A27).
 *
 * A service is watched from the first client that asks for it until `lingerMs` after the last
 * one leaves; every client stream shares its feed (service-feed.ts).
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { formatAddress, splitAddress } from '../core/address.js';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import { serviceNameSchema } from '../discovery/instance.js';
import type { Registry } from '../discovery/registry.js';
import { parseDiscoveryTarget, serviceTargetIn } from '../discovery/target.js';
import { formatTarget } from '../core/target-uri.js';
import { createLogger } from '../observe/logger.js';
import { observeXdsServer, type XdsServerView } from '../observe/xds-observer.js';
import { AdsStream, type StreamHost } from './ads-stream.js';
import { envoyCodec, type DiscoveryRequest, type DiscoveryResponse } from './envoy-protos.js';
import type { ResourceType } from './resources.js';
import { ServiceFeed, type FeedSettings } from './service-feed.js';
import { XDS_DEFAULTS, type XdsServerOptions } from './xds-config.js';

export type { XdsServerOptions } from './xds-config.js';

/** A running control plane. */
export interface XdsServer {
  /** The bound port. */
  readonly port: number;
  /** `host:port` clients put in their bootstrap's server_uri. */
  readonly address: string;
  /** Where the Envoy protos came from, e.g. "@grpc/grpc-js-xds 1.14.1". */
  readonly protos: string;
  /** What the admin API shows. */
  readonly view: XdsServerView;
  /** Ends every stream, stops watching, closes the listener and (when created here) the registry client. */
  close(): Promise<void>;
}

interface FeedRef {
  readonly feed: ServiceFeed;
  refs: number;
  linger: NodeJS.Timeout | undefined;
}

/** Creates the registry client `registry` names ("file:", "etcd://127.0.0.1:2379", ...). */
function registryFrom(registry: string): Registry {
  const uri = serviceTargetIn(registry, 'xds');
  if (uri === null) {
    throw new GrpcHaError(
      ERROR_CODES.INVALID_CONFIG,
      `xds: registry must name a registry without a service (file:, file:///?dir=DIR, etcd://HOST:PORT, consul://HOST:PORT, static:///?file=FILE), got ${JSON.stringify(registry)}`,
    );
  }
  return parseDiscoveryTarget(formatTarget(uri)).createRegistry();
}

/** Starts the control plane; resolves once it listens. Throws GrpcHaError on bad options or a missing proto package. */
export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const listen = splitAddress(options.listen ?? XDS_DEFAULTS.listen, true);
  if (listen === null) {
    throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `xds: listen must be host:port (IPv6 as [addr]:port), got ${JSON.stringify(options.listen)}`);
  }
  const codec = envoyCodec();
  const ownRegistry = typeof options.registry === 'string';
  const registry = typeof options.registry === 'string' ? registryFrom(options.registry) : options.registry;
  const log = createLogger('xds');
  const settings: FeedSettings = {
    registry,
    codec,
    healthChecks: options.healthChecks ?? XDS_DEFAULTS.healthChecks,
    healthTimeoutMs: options.healthTimeoutMs ?? XDS_DEFAULTS.healthTimeoutMs,
    drainingHoldMs: options.drainingHoldMs ?? XDS_DEFAULTS.drainingHoldMs,
    log,
  };
  const lingerMs = options.lingerMs ?? XDS_DEFAULTS.lingerMs;
  const feeds = new Map<string, FeedRef>();
  const streams = new Set<AdsStream>();
  const responses: Record<string, number> = {};
  const nacks: Record<string, number> = {};

  const host: StreamHost = {
    log,
    acquire: (service) => {
      if (!serviceNameSchema.safeParse(service).success) return undefined;
      let ref = feeds.get(service);
      if (!ref) feeds.set(service, (ref = { feed: new ServiceFeed(service, settings), refs: 0, linger: undefined }));
      clearTimeout(ref.linger);
      ref.linger = undefined;
      ref.refs++;
      return ref.feed;
    },
    release: (service) => {
      const ref = feeds.get(service);
      if (!ref || --ref.refs > 0) return;
      ref.linger = setTimeout(() => {
        if (ref.refs > 0) return;
        ref.feed.close();
        feeds.delete(service);
      }, lingerMs);
      ref.linger.unref();
    },
    count: (kind: 'responses' | 'nacks', type: ResourceType) => {
      const table = kind === 'responses' ? responses : nacks;
      table[type] = (table[type] ?? 0) + 1;
    },
  };

  const server = new Server({
    // Control plane streams live for hours; keepalive pings find clients that vanished.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
  });
  server.addService(codec.adsService, {
    StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
      const stream = new AdsStream(call, host, call.getPeer());
      streams.add(stream);
      const end = () => {
        streams.delete(stream);
        stream.close();
      };
      call.on('data', (request: DiscoveryRequest) => {
        try {
          stream.onRequest(request);
        } catch (error) {
          // A request this server cannot handle ends its own stream, never the process.
          log.error({ event: 'xds.stream_failed', peer: call.getPeer(), err: error }, 'xDS stream failed');
          end();
          call.destroy(error as Error);
        }
      });
      call.on('end', () => {
        end();
        call.end();
      });
      call.on('error', end);
      call.on('close', end);
      call.on('cancelled', end);
    },
  });

  const credentials = options.tls
    ? ServerCredentials.createSsl(
        options.tls.clientCa ?? null,
        [{ cert_chain: options.tls.cert, private_key: options.tls.key }],
        options.tls.clientCa !== undefined,
      )
    : ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(formatAddress(listen.host || '0.0.0.0', listen.port), credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  ).catch(async (error: Error) => {
    if (ownRegistry) await registry.close();
    throw new GrpcHaError(ERROR_CODES.INVALID_CONFIG, `xds: cannot listen on ${options.listen}: ${error.message}`, { cause: error });
  });
  const address = formatAddress(listen.host || '127.0.0.1', port);

  const view: XdsServerView = {
    address,
    registry: registry.description,
    services: () => [...feeds.values()].map((r) => r.feed.view()),
    clients: () => [...streams].map((s) => s.view()),
    counters: () => ({ responses: { ...responses }, nacks: { ...nacks } }),
  };
  const unobserve = observeXdsServer(view);
  log.info({ event: 'xds.listening', address, registry: registry.description, protos: codec.source, tls: options.tls !== undefined }, `xDS control plane on ${address} serving ${registry.description}`);

  let closing: Promise<void> | undefined;
  return {
    port,
    address,
    protos: codec.source,
    view,
    close: () => {
      closing ??= (async () => {
        unobserve();
        for (const stream of streams) stream.close();
        streams.clear();
        server.forceShutdown();
        for (const ref of feeds.values()) {
          clearTimeout(ref.linger);
          ref.feed.close();
        }
        feeds.clear();
        if (ownRegistry) await registry.close();
      })();
      return closing;
    },
  };
}
