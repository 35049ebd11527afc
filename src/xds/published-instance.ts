/**
 * One registered instance as the control plane publishes it: its IP (gRPC clients take only IP
 * literals in EDS, registries may hold host names), its health from the control plane's own
 * grpc.health.v1 Watch stream (classified by the core's endpoint-condition rules, as the client
 * health layer does), and the EDS health status that follows:
 *
 *   HEALTHY    connected and SERVING (or without a health service: A17 treats that as healthy)
 *   UNHEALTHY  NOT_SERVING, unreachable, or no health answer within healthTimeoutMs
 *   DRAINING   deregistered while its connection is still up: it is shutting down (Envoy's
 *              meaning; Kubernetes' "terminating"); dropped when the connection goes or after
 *              drainingHoldMs
 *   UNKNOWN    health checks off
 *   (none)     its first health answer is pending, or its host name does not resolve
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { splitAddress } from '../core/address.js';
import { conditionLabel, healthClass, subchannelCondition, type EndpointCondition, type SubchannelFacts } from '../core/health/endpoint-condition.js';
import type { ServiceInstance } from '../discovery/instance.js';
import { watchAddressHealth, type AddressHealth } from '../grpc/address-health.js';
import { emitEvent, type EventName } from '../observe/events.js';
import type { Logger } from '../observe/logger.js';
import type { XdsEndpointView } from '../observe/xds-observer.js';
import type { EndpointHealthStatus, PublishedEndpoint } from './resources.js';

/** What every instance of a control plane shares. */
export interface InstanceSettings {
  /** Health-check instances (grpc.health.v1 Watch). */
  readonly healthChecks: boolean;
  /** A first health answer slower than this publishes the instance UNHEALTHY, ms. */
  readonly healthTimeoutMs: number;
  /** A deregistered instance stays DRAINING at most this long, ms. */
  readonly drainingHoldMs: number;
  readonly log: Logger;
}

/** One instance of a service. */
export class PublishedInstance {
  private ip: string | null = null;
  private resolveError: string | undefined;
  private watch: AddressHealth | null = null;
  private facts: SubchannelFacts | null = null;
  private timedOut = false;
  private healthTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private removedAt: number | undefined;
  private published: EndpointHealthStatus | null = null;
  private closed = false;

  constructor(
    /** The registry's entry (replaced by `update` while its address stays). */
    public instance: ServiceInstance,
    private readonly service: string,
    private readonly settings: InstanceSettings,
    healthService: string,
    /** Called when what may be published changed. */
    private readonly changed: () => void,
    /** Called when a deregistered instance is to be dropped. */
    private readonly gone: () => void,
  ) {
    const host = splitAddress(instance.address)?.host ?? '';
    if (isIP(host)) this.ip = host;
    else {
      lookup(host).then(
        (answer) => {
          this.ip = answer.address;
          this.changed();
        },
        (error: Error) => {
          this.resolveError = `cannot resolve ${host}: ${error.message}`;
          settings.log.warn({ event: 'xds.resolve_failed', service, endpoint: instance.address }, this.resolveError);
          this.changed();
        },
      );
    }
    this.checkHealth(healthService);
  }

  /** Whether the first publication of the service should wait for this instance. */
  get pending(): boolean {
    return this.resolveError === undefined && this.removedAt === undefined && this.status() === null;
  }

  /** (Re)starts the health check of `serviceName` ("" the whole server). */
  checkHealth(serviceName: string): void {
    if (!this.settings.healthChecks || this.closed) return;
    this.watch?.close();
    this.facts = null;
    this.timedOut = false;
    clearTimeout(this.healthTimer);
    this.healthTimer = setTimeout(() => {
      this.timedOut = true;
      this.changed();
    }, this.settings.healthTimeoutMs);
    this.healthTimer.unref();
    this.watch = watchAddressHealth(this.instance.address, { serviceName }, (facts) => {
      this.facts = facts;
      if (facts.health.t !== 'pending') clearTimeout(this.healthTimer);
      this.changed();
    });
  }

  /** The registry no longer lists it: DRAINING while reachable, gone after the hold. */
  deregistered(): void {
    if (this.removedAt !== undefined) return;
    this.removedAt = Date.now();
    this.drainTimer = setTimeout(() => this.gone(), this.settings.drainingHoldMs);
    this.drainTimer.unref();
  }

  /** The registry lists it again. */
  registered(instance: ServiceInstance): void {
    this.instance = instance;
    this.removedAt = undefined;
    clearTimeout(this.drainTimer);
  }

  /** Stops its health check. */
  close(): void {
    this.closed = true;
    clearTimeout(this.healthTimer);
    clearTimeout(this.drainTimer);
    this.watch?.close();
    this.watch = null;
  }

  /** What to publish, or null for nothing. */
  status(): EndpointHealthStatus | null {
    if (this.ip === null) return null;
    if (!this.settings.healthChecks) return this.removedAt === undefined ? 'UNKNOWN' : null;
    if (this.removedAt !== undefined) return this.facts?.connectivity === 'READY' ? 'DRAINING' : null;
    const condition = this.condition();
    const cls = condition ? healthClass(condition) : 'unknown';
    if (cls === 'healthy') return 'HEALTHY';
    if (cls === 'unhealthy' || this.timedOut) return 'UNHEALTHY';
    return null;
  }

  /**
   * The endpoint to publish (weights are integers in EDS: `weightScale` keeps fractional registry
   * weights' ratios), or null; emits the state-change event when the status changed.
   */
  endpoint(weightScale: number): PublishedEndpoint | null {
    const status = this.status();
    this.announce(status);
    if (status === null || this.ip === null) return null;
    return {
      ip: this.ip,
      port: splitAddress(this.instance.address)!.port,
      zone: this.instance.zone ?? '',
      weight: Math.max(1, Math.min(0xffffffff, Math.round((this.instance.weight ?? 1) * weightScale))),
      health: status,
    };
  }

  /** The instance as the admin API shows it. */
  view(): XdsEndpointView {
    return {
      instanceId: this.instance.instanceId,
      address: this.instance.address,
      ...(this.instance.zone !== undefined && { zone: this.instance.zone }),
      weight: this.instance.weight ?? 1,
      published: this.published ?? 'not published',
      condition: this.describe(),
    };
  }

  private condition(): EndpointCondition | null {
    return this.facts ? subchannelCondition(this.facts) : null;
  }

  private describe(): string {
    if (this.resolveError) return this.resolveError;
    if (this.ip === null) return 'resolving its host name';
    if (!this.settings.healthChecks) return 'health checks off';
    if (this.removedAt !== undefined) return 'deregistered';
    const condition = this.condition();
    if (!condition) return 'awaiting health check';
    if (this.timedOut && healthClass(condition) === 'unknown') return `no health answer within ${this.settings.healthTimeoutMs} ms`;
    if (condition.t === 'transient_failure' && condition.error) return condition.error;
    if (condition.t === 'health_check_failing') return `health check: ${condition.error}`;
    return conditionLabel(condition);
  }

  /** Emits the state change when what is published changes. */
  private announce(status: EndpointHealthStatus | null): void {
    if (status === this.published) return;
    this.published = status;
    const condition = this.condition();
    let event: EventName | undefined;
    if (status === 'HEALTHY') event = 'endpoint_healthy';
    else if (status === 'UNHEALTHY') {
      event =
        condition?.t === 'not_serving'
          ? 'endpoint_not_serving'
          : condition?.t === 'transient_failure' || (condition?.t === 'connecting' && condition.settled)
            ? 'endpoint_unreachable'
            : 'endpoint_health_check_failing';
    }
    if (event === 'endpoint_healthy') emitEvent({ event, service: this.service, endpoint: this.instance.address, source: 'xds' });
    else if (event) emitEvent({ event, service: this.service, endpoint: this.instance.address, reason: this.describe(), source: 'xds' });
  }
}
