/**
 * The health layer: what sits between a load balancing policy and the channel to make it
 * health-aware, composed into every grpc-ha policy and into the `health_aware` wrapper around any
 * other policy (grpc-js round_robin, weighted_round_robin, ...). It is a ChannelControlHelper
 * decorator:
 *
 * - createSubchannel → a HealthSubchannel that reports unhealthy while the endpoint fails its
 *   health check (gRFC A17, one shared Watch stream per connection) or is ejected (outlier
 *   detection, Envoy / A50) — so the child's leaves stop picking it;
 * - panic threshold (Envoy): when too few endpoints are healthy, health is disregarded and every
 *   connected endpoint is reported healthy again;
 * - updateState → READY pickers are wrapped to apply slow start and count call results; a
 *   TRANSIENT_FAILURE says why no endpoint can be picked.
 */
import { connectivityState, experimental, logVerbosity, type ChannelOptions, type status as Status } from '@grpc/grpc-js';
import type { PickerEnv } from '../core/pickers/picker.js';
import { endpointKey } from './endpoint-attributes.js';
import type { ChannelObserver } from '../observe/channel-observer.js';
import {
  endpointCondition,
  healthCheckPasses,
  healthClass,
  noHealthyEndpointMessage,
  type EndpointCondition,
  type HealthCheckStatus,
} from '../core/health/endpoint-condition.js';
import { DEFAULT_HEALTH_SETTINGS, healthCheckServiceName, type HealthSettings } from '../core/health/health-config.js';
import { HealthPicker, type HealthPickerSource } from './health-picker.js';
import { HealthSubchannel, type EndpointHandle, type HealthSubchannelOwner } from './health-subchannel.js';
import { knownHealth, watchHealth } from './health-watch.js';
import { EjectionTimers } from '../core/health/ejection-timers.js';
import { emptyEjectionCounters, OutlierDetector, type EjectionCounters, type Ejection } from '../core/health/outlier-detector.js';
import { inPanic } from '../core/health/panic-threshold.js';
import { slowStartFactor, type SlowStartSettings } from '../core/health/slow-start.js';

/**
 * Channel option a wrapping health layer passes to its child policy so that a grpc-ha policy
 * nested in `health_aware` does not check health a second time. grpc-js leaves options with this
 * prefix out of subchannel arguments, so subchannels are still shared.
 */
export const NESTED_HEALTH_LAYER_OPTION = 'grpc.internal.no_subchannel.grpc_ha_health_layer';

const TOTALS = emptyEjectionCounters();

/** Ejection counters summed over every channel of this process (detected, enforced, overflow). */
export function outlierEjectionCounters(): EjectionCounters {
  return structuredClone(TOTALS);
}

/** One endpoint of the child's endpoint list. */
class EndpointEntry implements EndpointHandle {
  /** Wrappers in use for this endpoint's addresses. */
  readonly wrappers = new Set<HealthSubchannel>();
  /** Condition as of the last refresh. */
  condition: EndpointCondition = { t: 'connecting', settled: false };
  /** Clock time it last became healthy (slow start measures from here). */
  healthySince = Number.NEGATIVE_INFINITY;
  constructor(
    readonly key: string,
    /**
     * In the channel's first endpoint list and not seen unhealthy yet: the server was most
     * likely running before this client started, so its first healthy moment starts no ramp.
     * Endpoints added later (a scale-up) and endpoints that return from being unhealthy do.
     */
    public warm: boolean,
  ) {}
}

/** See the module comment. One per balancer. */
export class HealthLayer implements HealthSubchannelOwner, HealthPickerSource {
  /** The helper to give the child policy. */
  readonly helper: experimental.ChannelControlHelper;
  slowStart: SlowStartSettings | null = null;
  rampUntil = Number.NEGATIVE_INFINITY;
  oldestHealthySince = 0;
  /** Whether the layer currently disregards health (panic mode). */
  panic = false;
  private passthrough = false;
  private destroyed = false;
  private settings: HealthSettings = DEFAULT_HEALTH_SETTINGS;
  private serviceConfigSeen: unknown = undefined;
  private serviceName: string | null = null;
  private entries = new Map<string, EndpointEntry>();
  private byAddress = new Map<string, EndpointEntry>();
  private readonly attached = new Set<HealthSubchannel>();
  private detector: OutlierDetector | null = null;
  private readonly timers: EjectionTimers;
  private resolutionNote = '';
  private refreshing = false;
  private refreshAgain = false;
  private sawEndpoints = false;
  /** The child's last TRANSIENT_FAILURE update while it is the current state: re-explained when conditions change. */
  private childFailure: { picker: experimental.Picker; errorMessage: string | null } | null = null;

  constructor(
    private readonly parent: experimental.ChannelControlHelper,
    /** The balancer that owns the layer: a queueing picker asks it to leave IDLE. */
    private readonly balancer: experimental.LoadBalancer,
    /** Names the owner in log lines. */
    private readonly owner: string,
    private readonly env: PickerEnv,
    /** Receives condition changes as events and answers the admin API; none for an unobserved layer. */
    private readonly observer?: ChannelObserver,
  ) {
    this.timers = new EjectionTimers(env.now, { interval: () => this.onInterval(), expiry: () => this.onExpiry() });
    if (observer) {
      observer.health = (key) => this.healthOf(key);
      observer.healthSummary = () => ({ panic: this.panic, ...(this.detector ? { ejections: structuredClone(this.detector.counters) } : {}) });
      // A layer around another policy (health_aware) knows health, not calls: its endpoints as the layer sees them.
      observer.describe ??= () =>
        this.passthrough
          ? []
          : [...this.entries.keys()].map((key) => {
              const h = this.healthOf(key)!;
              const connectivity = h.condition === 'connecting' ? 'CONNECTING' : h.condition === 'transient_failure' ? 'TRANSIENT_FAILURE' : 'READY';
              return { endpoint: key, connectivity, health: h.condition, ...(h.reason ? { healthReason: h.reason } : {}), ...(h.ejectedUntil ? { ejectedUntil: h.ejectedUntil } : {}), weight: 1, inFlight: 0, ewmaMs: null, started: 0, finished: 0, failed: 0, lastError: null };
            });
    }
    this.helper = experimental.createChildChannelControlHelper(parent, {
      createSubchannel: (address, args) => this.createSubchannel(address, args),
      updateState: (state, picker, errorMessage) => this.forward(state, picker, errorMessage),
    });
  }

  get counting(): boolean {
    return this.detector !== null;
  }

  now(): number {
    return this.env.now();
  }

  random(): number {
    return this.env.random();
  }

  /**
   * Takes the owner's new endpoint list (null: keep the current one), health settings and
   * channel options (which carry the service config's `healthCheckConfig`). Call it before
   * handing the list to the child, so the subchannels the child creates find their endpoint.
   */
  update(endpoints: readonly experimental.Endpoint[] | null, settings: HealthSettings, options: ChannelOptions, resolutionNote: string): void {
    this.passthrough = options[NESTED_HEALTH_LAYER_OPTION] === true;
    if (this.passthrough || this.destroyed) return;
    this.resolutionNote = resolutionNote;
    this.updateServiceName(options['grpc.service_config']);
    this.applySettings(settings);
    if (endpoints !== null) {
      const first = !this.sawEndpoints;
      this.sawEndpoints = true;
      const entries = new Map<string, EndpointEntry>();
      const byAddress = new Map<string, EndpointEntry>();
      for (const endpoint of endpoints) {
        const key = endpointKey(endpoint);
        const entry = entries.get(key) ?? this.entries.get(key) ?? new EndpointEntry(key, first);
        entries.set(key, entry);
        for (const address of endpoint.addresses) byAddress.set(experimental.subchannelAddressToString(address), entry);
      }
      this.entries = entries;
      this.byAddress = byAddress;
      this.detector?.setEndpoints(entries.keys());
      this.scheduleExpiry();
    }
    this.refresh();
  }

  /** Stops timers and health checks, and drops the child's later updates; call it before destroying the child. */
  destroy(): void {
    this.destroyed = true;
    this.timers.stop();
    for (const w of this.attached) this.unsubscribe(w);
    this.attached.clear();
  }

  /** What the layer knows of one endpoint, for the admin API. */
  private healthOf(key: string): { condition: string; reason?: string; ejectedUntil?: number } | undefined {
    const entry = this.entries.get(key);
    if (!entry || this.passthrough) return undefined;
    const c = entry.condition;
    const reason = 'reason' in c ? c.reason : 'status' in c ? c.status : 'error' in c ? c.error : undefined;
    const ejection = this.detector?.ejectionOf(key);
    return {
      condition: c.t,
      ...(reason ? { reason } : {}),
      ...(ejection ? { ejectedUntil: Math.round(Date.now() + ejection.until - this.env.now()) } : {}),
    };
  }

  // HealthPickerSource

  factorOf(endpoint: EndpointHandle | undefined, now: number): number {
    const entry = endpoint as EndpointEntry | undefined;
    if (!entry || this.slowStart === null || entry.condition.t !== 'healthy') return 1;
    return slowStartFactor(now - entry.healthySince, this.slowStart);
  }

  recordResult(endpoint: EndpointHandle, code: Status): void {
    if (this.detector === null || this.destroyed) return;
    const ejection = this.detector.recordResult(endpoint.key, code);
    if (ejection) this.onEjected([ejection]);
  }

  // HealthSubchannelOwner

  attach(wrapper: HealthSubchannel): void {
    if (this.destroyed) return;
    this.attached.add(wrapper);
    (wrapper.endpoint as EndpointEntry | undefined)?.wrappers.add(wrapper);
    this.subscribe(wrapper);
    this.refresh();
  }

  detach(wrapper: HealthSubchannel): void {
    this.attached.delete(wrapper);
    (wrapper.endpoint as EndpointEntry | undefined)?.wrappers.delete(wrapper);
    this.unsubscribe(wrapper);
    this.refresh();
  }

  connectivityChanged(): void {
    this.refresh();
  }

  // Internals

  private createSubchannel(address: experimental.SubchannelAddress, args: ChannelOptions): experimental.SubchannelInterface {
    const child = this.parent.createSubchannel(address, args);
    if (this.passthrough) return child;
    const entry = this.byAddress.get(experimental.subchannelAddressToString(address));
    // A connection another channel already watches starts with what its stream knows.
    const health: HealthCheckStatus = this.serviceName === null ? { t: 'off' } : knownHealth(child, this.serviceName);
    const ejected = entry !== undefined && this.detector?.ejectionOf(entry.key) != null;
    return new HealthSubchannel(child, this, entry, health, this.panic || (!ejected && healthCheckPasses(health)));
  }

  private updateServiceName(serviceConfig: unknown): void {
    if (serviceConfig === this.serviceConfigSeen) return;
    this.serviceConfigSeen = serviceConfig;
    let name: string | null = null;
    try {
      name = healthCheckServiceName(typeof serviceConfig === 'string' ? serviceConfig : undefined);
    } catch (error) {
      experimental.log(logVerbosity.ERROR, `grpc-ha ${this.owner}: ${(error as Error).message}; health checking stays off`);
    }
    if (name === this.serviceName) return;
    this.serviceName = name;
    for (const w of this.attached) this.subscribe(w);
  }

  private applySettings(settings: HealthSettings): void {
    this.settings = settings;
    this.slowStart = settings.slowStart;
    const o = settings.outlierEjection;
    if (o === null) {
      this.detector = null;
    } else if (this.detector === null) {
      this.detector = new OutlierDetector(o, this.env, [TOTALS]);
      this.detector.setEndpoints(this.entries.keys());
    } else {
      this.detector.updateSettings(o);
    }
    this.timers.setInterval(o?.intervalMs ?? 0);
    this.scheduleExpiry();
  }

  private subscribe(wrapper: HealthSubchannel): void {
    this.unsubscribe(wrapper);
    if (this.serviceName === null) {
      wrapper.health = { t: 'off' };
      return;
    }
    wrapper.releaseHealth = watchHealth(wrapper, this.serviceName, (status, fresh) => this.onHealth(wrapper, status, fresh), this.env.random);
  }

  private unsubscribe(wrapper: HealthSubchannel): void {
    wrapper.releaseHealth?.();
    wrapper.releaseHealth = undefined;
  }

  private onHealth(wrapper: HealthSubchannel, status: HealthCheckStatus, fresh: boolean): void {
    wrapper.health = status;
    const detector = this.detector;
    const key = wrapper.endpoint?.key;
    // "successful_active_health_check_uneject_host: [...] a host ejected by outlier detection
    // will be unejected when it passes an active health check" - Envoy. A Watch stream sends only
    // changes, so passing means a SERVING sent after the ejection (a recovery or a restart).
    if (fresh && status.t === 'serving' && key !== undefined && detector?.current.unejectOnHealthy && detector.uneject(key)) {
      experimental.log(logVerbosity.INFO, `grpc-ha ${this.owner}: ${key} returns early: its health check says SERVING`);
      this.scheduleExpiry();
    }
    this.refresh();
  }

  private onInterval(): void {
    if (this.detector === null || this.destroyed) return;
    const ejections = this.detector.runInterval();
    if (ejections.length > 0) this.onEjected(ejections);
    else {
      this.refresh();
      this.scheduleExpiry();
    }
  }

  private onEjected(ejections: readonly Ejection[]): void {
    for (const e of ejections) {
      experimental.log(
        logVerbosity.INFO,
        `grpc-ha ${this.owner}: ejected ${e.key} for ${Math.round(e.until - e.at)} ms: ${e.reason}`,
      );
    }
    this.refresh();
    this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    if (!this.destroyed) this.timers.schedule(this.detector);
  }

  private onExpiry(): void {
    if (this.detector === null || this.destroyed) return;
    for (const key of this.detector.expire()) experimental.log(logVerbosity.INFO, `grpc-ha ${this.owner}: ${key} returns after its ejection`);
    this.refresh();
    this.scheduleExpiry();
  }

  /** Recomputes every endpoint's condition and panic mode, then what each wrapper reports. */
  private refresh(): void {
    if (this.passthrough || this.destroyed) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        this.recompute();
        for (const w of this.attached) w.report(this.panic || this.passes(w));
      } while (this.refreshAgain);
    } finally {
      this.refreshing = false;
    }
    // A change the child does not see (a health check going from pending to failing on an
    // endpoint already reported unhealthy) still changes why nothing can be picked.
    const failure = this.childFailure;
    if (failure) this.forward(connectivityState.TRANSIENT_FAILURE, failure.picker, failure.errorMessage);
  }

  private recompute(): void {
    const now = this.env.now();
    let healthy = 0;
    let unknown = 0;
    let oldest = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    for (const entry of this.entries.values()) {
      const ejection = this.detector?.ejectionOf(entry.key) ?? null;
      const condition = endpointCondition(entry.wrappers, ejection ? ejection.reason : null);
      const cls = healthClass(condition);
      if (cls === 'healthy' && entry.condition.t !== 'healthy') {
        entry.healthySince = entry.warm ? Number.NEGATIVE_INFINITY : now;
      }
      if (cls !== 'unknown') entry.warm = false;
      if (condition.t !== entry.condition.t) this.observeChange(entry.key, entry.condition, condition);
      entry.condition = condition;
      if (cls === 'unknown') unknown++;
      if (cls === 'healthy') {
        healthy++;
        oldest = Math.min(oldest, entry.healthySince);
        newest = Math.max(newest, entry.healthySince);
      }
    }
    const panic = inPanic(healthy + unknown, this.entries.size, this.settings.panicThresholdPercent);
    if (panic !== this.panic) this.observer?.emit(panic ? 'panic_entered' : 'panic_left', undefined, `${healthy} of ${this.entries.size} endpoints healthy`);
    this.panic = panic;
    this.oldestHealthySince = oldest;
    this.rampUntil = this.slowStart !== null && healthy > 1 ? newest + this.slowStart.windowMs : Number.NEGATIVE_INFINITY;
  }

  /** Reports a condition change as an event (connecting and awaiting a first answer are not news). */
  private observeChange(key: string, from: EndpointCondition, to: EndpointCondition): void {
    const o = this.observer;
    if (!o) return;
    if (from.t === 'ejected') o.emit('endpoint_returned', key, to.t === 'healthy' ? undefined : to.t);
    switch (to.t) {
      case 'healthy':
        if (from.t !== 'ejected') o.emit('endpoint_healthy', key);
        break;
      case 'ejected':
        o.emit('endpoint_ejected', key, to.reason);
        break;
      case 'not_serving':
        o.emit('endpoint_not_serving', key, to.status);
        break;
      case 'health_check_failing':
        o.emit('endpoint_health_check_failing', key, to.error);
        break;
      case 'transient_failure':
        o.emit('endpoint_unreachable', key, to.error);
        break;
      default:
        break;
    }
  }

  private passes(wrapper: HealthSubchannel): boolean {
    if (!healthCheckPasses(wrapper.health)) return false;
    const key = wrapper.endpoint?.key;
    return key === undefined || this.detector?.ejectionOf(key) == null;
  }

  /** The child's state, passed up: READY pickers wrapped, TRANSIENT_FAILURE explained. */
  private forward(state: connectivityState, picker: experimental.Picker, errorMessage: string | null): void {
    if (this.destroyed) return;
    if (this.passthrough) {
      this.parent.updateState(state, picker, errorMessage);
      return;
    }
    this.childFailure = state === connectivityState.TRANSIENT_FAILURE ? { picker, errorMessage } : null;
    if (state === connectivityState.READY) {
      this.parent.updateState(state, new HealthPicker(picker, this), errorMessage);
    } else if (state === connectivityState.TRANSIENT_FAILURE && this.entries.size > 0) {
      const conditions = [...this.entries.values()].map((e) => e.condition);
      if (conditions.some((c) => c.t === 'awaiting_health_check')) {
        // "the subchannel will [...] report CONNECTING until it receives the first health check
        // response" - A17; leaves can only say TRANSIENT_FAILURE for unhealthy, so queue here.
        this.parent.updateState(connectivityState.CONNECTING, new experimental.QueuePicker(this.balancer), null);
        return;
      }
      const message = noHealthyEndpointMessage(this.serviceName ?? '', conditions, this.resolutionNote);
      this.parent.updateState(state, new experimental.UnavailablePicker({ details: message }), message);
    } else {
      this.parent.updateState(state, picker, errorMessage);
    }
  }
}
