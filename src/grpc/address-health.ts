/**
 * The health of one address seen from outside, as a control plane or a prober needs it: a
 * grpc-js channel of its own to the address, and on it the same grpc.health.v1 Watch stream
 * (health-watch.ts, gRFC A17) the client policies run on their subchannels. What it reports is
 * the core's SubchannelFacts — connectivity, whether it ever settled, the health answer — so
 * the caller classifies it with the same rules as the health layer (endpoint-condition.ts).
 */
import { Channel, connectivityState, credentials as grpcCredentials, type ChannelCredentials, type ChannelOptions, type experimental } from '@grpc/grpc-js';
import type { RandomSource } from '../core/pickers/picker.js';
import type { Connectivity, HealthCheckStatus, SubchannelFacts } from '../core/health/endpoint-condition.js';
import { HealthWatch, type WatchedConnection } from './health-watch.js';

/** Defaults of an address health watch. */
export const ADDRESS_HEALTH_DEFAULTS = {
  /**
   * Reconnection backoff cap, ms. gRPC's connection backoff caps at 120 s
   * (doc/connection-backoff.md); an instance that comes back should be seen sooner than that.
   */
  maxReconnectBackoffMs: 10_000,
} as const;

/** Options of {@link watchAddressHealth}. */
export interface AddressHealthOptions {
  /** Service whose health is watched; "" is the server as a whole. */
  readonly serviceName: string;
  /** Credentials of the channel. Defaults to insecure. */
  readonly credentials?: ChannelCredentials;
  /** Reconnection backoff cap, ms. Defaults to 10 000. */
  readonly maxReconnectBackoffMs?: number;
  /** Randomness of the Watch stream's retry backoff. Defaults to Math.random. */
  readonly random?: RandomSource;
}

/** A running watch of one address. */
export interface AddressHealth {
  /** What is known now. */
  readonly facts: SubchannelFacts;
  /** Stops watching and closes the channel; no listener call follows. */
  close(): void;
}

const NAMES: Record<number, Connectivity> = {
  [connectivityState.IDLE]: 'IDLE',
  [connectivityState.CONNECTING]: 'CONNECTING',
  [connectivityState.READY]: 'READY',
  [connectivityState.TRANSIENT_FAILURE]: 'TRANSIENT_FAILURE',
  [connectivityState.SHUTDOWN]: 'SHUTDOWN',
};

/** A channel to one address, dressed as the subchannel a Watch stream runs on; it keeps itself connected. */
class ChannelConnection implements WatchedConnection {
  private readonly listeners = new Set<experimental.ConnectivityStateListener>();
  private closed = false;

  constructor(
    private readonly address: string,
    readonly channel: Channel,
  ) {
    this.follow(channel.getConnectivityState(true));
  }

  getAddress(): string {
    return this.address;
  }

  getChannel(): Channel {
    return this.channel;
  }

  getConnectivityState(): connectivityState {
    return this.channel.getConnectivityState(false);
  }

  addConnectivityStateListener(listener: experimental.ConnectivityStateListener): void {
    this.listeners.add(listener);
  }

  removeConnectivityStateListener(listener: experimental.ConnectivityStateListener): void {
    this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.channel.close();
  }

  private follow(current: connectivityState): void {
    this.channel.watchConnectivityState(current, Infinity, () => {
      if (this.closed) return;
      // Asking for the state with tryToConnect reconnects a channel that went IDLE after
      // losing its connection: the watch must keep a connection to report on.
      const next = this.channel.getConnectivityState(true);
      for (const listener of [...this.listeners]) listener(this as never, current, next, 0);
      this.follow(next);
    });
  }
}

/**
 * Watches `address`: `listener` hears the facts on every change (connectivity or health). The
 * channel never goes idle by itself, so an instance whose server lacks the health service
 * (A17: treated as healthy) is not reported as reconnecting every 30 minutes.
 */
export function watchAddressHealth(address: string, options: AddressHealthOptions, listener: (facts: SubchannelFacts) => void): AddressHealth {
  const channelOptions: ChannelOptions = {
    'grpc.max_reconnect_backoff_ms': options.maxReconnectBackoffMs ?? ADDRESS_HEALTH_DEFAULTS.maxReconnectBackoffMs,
    'grpc.client_idle_timeout_ms': 2 ** 31 - 1,
    'grpc.use_local_subchannel_pool': 1,
  };
  const channel = new Channel(address, options.credentials ?? grpcCredentials.createInsecure(), channelOptions);
  const connection = new ChannelConnection(address, channel);
  let connectivity: Connectivity = NAMES[connection.getConnectivityState()] ?? 'IDLE';
  let settled = false;
  let health: HealthCheckStatus = { t: 'pending' };
  let closed = false;
  const facts = (): SubchannelFacts => ({
    connectivity,
    settled,
    lastError: connectivity === 'TRANSIENT_FAILURE' ? `cannot connect to ${address}` : undefined,
    health,
  });
  const report = () => {
    if (!closed) listener(facts());
  };
  connection.addConnectivityStateListener((_c, _previous, next) => {
    connectivity = NAMES[next] ?? 'IDLE';
    if (next === connectivityState.READY || next === connectivityState.TRANSIENT_FAILURE) settled = true;
    report();
  });
  const watch = new HealthWatch(connection, options.serviceName, () => undefined, options.random ?? Math.random);
  const onHealth = (status: HealthCheckStatus) => {
    health = status;
    report();
  };
  watch.add(onHealth);
  return {
    get facts() {
      return facts();
    },
    close: () => {
      if (closed) return;
      closed = true;
      watch.remove(onHealth);
      connection.close();
    },
  };
}
