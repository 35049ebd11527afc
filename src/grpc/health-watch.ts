/**
 * Client-side health checking (gRFC A17): one `grpc.health.v1.Health/Watch` stream per real
 * subchannel and service name, on that subchannel's own connection, shared by every wrapper —
 * and so by every policy and channel — that uses the subchannel.
 *
 * "Health checking [...] will use a streaming Watch call [...] on the subchannel's connection"
 * and its result gates the subchannel: SERVING → usable; any other status → not usable;
 * UNIMPLEMENTED → "the client will disable health checking [...] and treat it as healthy", with
 * a log line; any other stream failure → retried with the connection backoff, at once if the
 * stream had delivered a message ("the server may have restarted") - A17.
 */
import { connectivityState, credentials, experimental, logVerbosity, Metadata, status as Status, Client } from '@grpc/grpc-js';
import type { ClientReadableStream, StatusObject } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import type { RandomSource } from '../core/pickers/picker.js';
import { Backoff } from '../core/backoff.js';
import type { HealthCheckStatus } from '../core/health/endpoint-condition.js';
import { HEALTH_CHECK_BACKOFF } from '../core/health/health-defaults.js';
import { statusName } from '../core/status.js';

/** Receives the health of a subchannel: the status known when it subscribes, then every change. */
export type HealthWatchListener = (status: HealthCheckStatus) => void;

const WATCH = healthService.Watch!;
const UNUSED_CREDENTIALS = credentials.createInsecure();

/**
 * What a Watch stream needs of the connection it runs on: a subchannel, or a channel to one
 * address dressed as one (address-health.ts).
 */
export type WatchedConnection = Pick<
  experimental.SubchannelInterface,
  'getAddress' | 'getChannel' | 'getConnectivityState' | 'addConnectivityStateListener' | 'removeConnectivityStateListener'
>;

type StreamState =
  | { readonly t: 'idle' }
  | { readonly t: 'watching'; readonly call: ClientReadableStream<{ status?: string }>; received: boolean }
  | { readonly t: 'backoff'; readonly timer: NodeJS.Timeout }
  | { readonly t: 'disabled' }
  | { readonly t: 'closed' };

/** The Watch stream of one connection and service name, and who listens to it. */
export class HealthWatch {
  private state: StreamState = { t: 'idle' };
  private current: HealthCheckStatus = { t: 'pending' };
  private readonly listeners = new Set<HealthWatchListener>();
  private readonly backoff: Backoff;
  private client: Client | undefined;
  private closing: NodeJS.Immediate | undefined;

  constructor(
    private readonly subchannel: WatchedConnection,
    private readonly serviceName: string,
    private readonly onClosed: () => void,
    random: RandomSource,
  ) {
    this.backoff = new Backoff(HEALTH_CHECK_BACKOFF, random);
    subchannel.addConnectivityStateListener(this.onConnectivity);
    if (subchannel.getConnectivityState() === connectivityState.READY) this.start();
  }

  /** The last status published. */
  get status(): HealthCheckStatus {
    return this.current;
  }

  /** Adds a listener (it hears changes from now on). */
  add(listener: HealthWatchListener): void {
    if (this.closing) {
      clearImmediate(this.closing);
      this.closing = undefined;
    }
    this.listeners.add(listener);
  }

  /** Removes a listener; the stream closes at the end of the turn when none is left. */
  remove(listener: HealthWatchListener): void {
    this.listeners.delete(listener);
    // A policy rebuilding its endpoint list releases the old wrappers before the new ones
    // subscribe (grpc-js round_robin does): keep the stream until the end of this turn.
    if (this.listeners.size === 0 && !this.closing) {
      this.closing = setImmediate(() => {
        this.closing = undefined;
        if (this.listeners.size === 0) this.close();
      });
    }
  }

  private close(): void {
    this.stop({ t: 'closed' });
    this.subchannel.removeConnectivityStateListener(this.onConnectivity);
    this.onClosed();
  }

  private readonly onConnectivity: experimental.ConnectivityStateListener = (_subchannel, _previous, next) => {
    if (this.state.t === 'closed') return;
    if (next === connectivityState.READY) {
      if (this.state.t === 'idle') this.start();
    } else if (this.state.t !== 'idle') {
      // A17: the stream lives on one connection; a new connection starts a new stream (and a
      // server that did not implement the service may now run a version that does).
      this.stop({ t: 'idle' });
      this.backoff.reset();
      this.publish({ t: 'pending' });
    }
  };

  private start(): void {
    this.client ??= new Client('health-check', UNUSED_CREDENTIALS, { channelOverride: this.subchannel.getChannel() });
    const call = this.client.makeServerStreamRequest(
      WATCH.path,
      WATCH.requestSerialize as (value: { service: string }) => Buffer,
      WATCH.responseDeserialize as (bytes: Buffer) => { status?: string },
      { service: this.serviceName },
      new Metadata(),
    );
    const state: StreamState = { t: 'watching', call, received: false };
    this.state = state;
    if (this.current.t !== 'pending') this.publish({ t: 'pending' });
    call.on('data', (response: { status?: string }) => {
      if (this.state !== state) return;
      state.received = true;
      this.backoff.reset();
      const status = response.status ?? 'UNKNOWN';
      this.publish(status === 'SERVING' ? { t: 'serving' } : { t: 'not_serving', status });
    });
    // Every end, OK or not, arrives as 'status'; 'error' needs a listener or it would throw.
    call.on('error', () => {});
    call.on('status', (end: StatusObject) => {
      if (this.state === state) this.onStreamEnd(end, state.received);
    });
  }

  private onStreamEnd(end: StatusObject, received: boolean): void {
    if (end.code === Status.UNIMPLEMENTED) {
      this.state = { t: 'disabled' };
      experimental.log(
        logVerbosity.ERROR,
        `grpc-ha: ${this.subchannel.getAddress()} does not implement grpc.health.v1.Health (UNIMPLEMENTED): ` +
          `health checking disabled for this connection, endpoint treated as healthy (gRFC A17)`,
      );
      this.publish({ t: 'disabled' });
      return;
    }
    if (this.subchannel.getConnectivityState() !== connectivityState.READY) {
      this.state = { t: 'idle' };
      this.publish({ t: 'pending' });
      return;
    }
    if (received) {
      this.start();
      return;
    }
    const delay = this.backoff.next();
    const timer = setTimeout(() => {
      if (this.state === next) this.start();
    }, delay);
    timer.unref();
    const next: StreamState = { t: 'backoff', timer };
    this.state = next;
    const error = `${statusName(end.code)}: ${end.details}`;
    this.publish({ t: 'failing', error });
  }

  private stop(next: StreamState): void {
    const state = this.state;
    this.state = next;
    if (state.t === 'watching') state.call.cancel();
    else if (state.t === 'backoff') clearTimeout(state.timer);
  }

  private publish(status: HealthCheckStatus): void {
    this.current = status;
    for (const listener of [...this.listeners]) listener(status);
  }
}

const watches = new WeakMap<object, Map<string, HealthWatch>>();

/**
 * Subscribes `listener` to the health of `subchannel`'s connection for `serviceName`, starting
 * the Watch stream if this is its first listener. The listener hears the current status at once,
 * then every change. Returns the unsubscribe function.
 */
export function watchHealth(
  subchannel: experimental.SubchannelInterface,
  serviceName: string,
  listener: HealthWatchListener,
  random: RandomSource = Math.random,
): () => void {
  const real = subchannel.getRealSubchannel();
  let byService = watches.get(real);
  if (!byService) {
    byService = new Map();
    watches.set(real, byService);
  }
  let watch = byService.get(serviceName);
  if (!watch) {
    const services = byService;
    watch = new HealthWatch(real, serviceName, () => services.delete(serviceName), random);
    byService.set(serviceName, watch);
  }
  const w = watch;
  w.add(listener);
  listener(w.status);
  let subscribed = true;
  return () => {
    if (subscribed) w.remove(listener);
    subscribed = false;
  };
}

/** The health of `subchannel` for `serviceName` as already known, without subscribing ('pending' if unknown). */
export function knownHealth(subchannel: experimental.SubchannelInterface, serviceName: string): HealthCheckStatus {
  return watches.get(subchannel.getRealSubchannel())?.get(serviceName)?.status ?? { t: 'pending' };
}
