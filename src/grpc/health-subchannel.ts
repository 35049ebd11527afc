/**
 * The subchannel wrapper the health layer hands to child policies. It reports "unhealthy" when
 * the endpoint fails its health check or is ejected; leaves created with grpc-js's
 * REPORT_HEALTH_STATUS (every LeafLoadBalancer: round_robin, weighted_round_robin, the grpc-ha
 * policies) then report TRANSIENT_FAILURE, so any such child stops picking the endpoint without
 * knowing why. It also carries what the layer tracks per connection.
 */
import { connectivityState, experimental } from '@grpc/grpc-js';
import type { Connectivity, HealthCheckStatus, SubchannelFacts } from '../core/health/endpoint-condition.js';

/** What a wrapper needs from the layer that made it. */
export interface HealthSubchannelOwner {
  /** The wrapper is in use (first ref): subscribe it to health checks and connectivity. */
  attach(wrapper: HealthSubchannel): void;
  /** The wrapper is no longer used (last unref). */
  detach(wrapper: HealthSubchannel): void;
  /** The wrapper's connection changed state. */
  connectivityChanged(wrapper: HealthSubchannel): void;
}

/** The endpoint a wrapper belongs to, as the layer keeps it. */
export interface EndpointHandle {
  /** The endpoint key ("host:port", or several joined by commas). */
  readonly key: string;
}

const NAMES: Record<number, Connectivity> = {
  [connectivityState.IDLE]: 'IDLE',
  [connectivityState.CONNECTING]: 'CONNECTING',
  [connectivityState.READY]: 'READY',
  [connectivityState.TRANSIENT_FAILURE]: 'TRANSIENT_FAILURE',
  [connectivityState.SHUTDOWN]: 'SHUTDOWN',
};

/** A subchannel as the health layer's child policy sees it. */
export class HealthSubchannel extends experimental.BaseSubchannelWrapper implements SubchannelFacts {
  /** Last connectivity state seen. */
  connectivity: Connectivity;
  /** Has been READY or TRANSIENT_FAILURE once. */
  settled = false;
  /** Last connection error. */
  lastError: string | undefined;
  /** Health-check result for this connection. */
  health: HealthCheckStatus;
  /** Unsubscribes from the health check, while subscribed. */
  releaseHealth: (() => void) | undefined;
  private refs = 0;

  constructor(
    child: experimental.SubchannelInterface,
    private readonly owner: HealthSubchannelOwner,
    /** The endpoint this connection serves, when the address belongs to a known endpoint. */
    readonly endpoint: EndpointHandle | undefined,
    initialHealth: HealthCheckStatus,
    initiallyHealthy: boolean,
  ) {
    super(child);
    this.connectivity = NAMES[child.getConnectivityState()] ?? 'IDLE';
    this.settled = this.connectivity === 'READY' || this.connectivity === 'TRANSIENT_FAILURE';
    this.health = initialHealth;
    this.setHealthy(initiallyHealthy);
  }

  /** Sets what the child policy sees: false makes its leaf report TRANSIENT_FAILURE. */
  report(healthy: boolean): void {
    this.setHealthy(healthy);
  }

  /** The wrapped subchannel: pickers return it, as grpc-js requires of a wrapping policy. */
  unwrap(): experimental.SubchannelInterface {
    return this.child;
  }

  override ref(): void {
    super.ref();
    if (++this.refs === 1) {
      this.child.addConnectivityStateListener(this.onConnectivity);
      this.owner.attach(this);
    }
  }

  override unref(): void {
    super.unref();
    if (--this.refs === 0) {
      this.child.removeConnectivityStateListener(this.onConnectivity);
      this.owner.detach(this);
    }
  }

  private readonly onConnectivity: experimental.ConnectivityStateListener = (_s, _previous, next, _keepalive, error) => {
    this.connectivity = NAMES[next] ?? 'IDLE';
    if (next === connectivityState.READY || next === connectivityState.TRANSIENT_FAILURE) this.settled = true;
    if (error) this.lastError = error;
    this.owner.connectivityChanged(this);
  };
}
