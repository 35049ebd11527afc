/**
 * The health layer: a parent policy composed once per channel over the policy that picks — the
 * bare balancer of a grpc-ha picker policy, or, under `health_aware`, any grpc-js policy
 * (round_robin, weighted_round_robin, ...) — as grpc-js and grpc-go compose outlier detection.
 * It is the grpc-js adapter of the endpoint-set health model (src/core/health/endpoint-set-health.ts:
 * ejection, panic, slow start, early returns, events), and keeps only transport glue:
 *
 * - the child's createSubchannel → a HealthSubchannel that reports unhealthy while the endpoint
 *   fails its health check (gRFC A17, one shared Watch stream per connection) or is ejected, and
 *   healthy whatever it says in panic mode — so the child's leaves stop picking it;
 * - each endpoint's condition, from its wrappers' connectivity and health check, fed to the model;
 * - the child's READY pickers wrapped to apply slow start and count call results; a
 *   TRANSIENT_FAILURE says why no endpoint can be picked;
 * - the channel's observer, and the view it reads (ChannelView).
 */
import { connectivityState, experimental, logVerbosity, type ChannelOptions } from '@grpc/grpc-js';
import { defaultPickerEnv, type PickerEnv } from '../core/pickers/picker.js';
import { conditionDetail, endpointCondition, healthCheckPasses, type HealthCheckStatus } from '../core/health/endpoint-condition.js';
import { EndpointSetHealth } from '../core/health/endpoint-set-health.js';
import { healthCheckServiceName, type HealthSettings } from '../core/health/health-config.js';
import { emptyEjectionCounters, type EjectionCounters } from '../core/health/outlier-detector.js';
import type { PolicyConfig } from '../core/policies/policy-config.js';
import { ChannelObserver, type ChannelView, type EndpointState } from '../observe/channel-observer.js';
import { endpointKey } from './endpoint-attributes.js';
import { HealthPicker } from './health-picker.js';
import { HealthSubchannel, type EndpointHandle, type HealthSubchannelOwner } from './health-subchannel.js';
import { knownHealth, watchHealth } from './health-watch.js';
import { PickerLoadBalancer, type EndpointLoadState } from './picker-balancer.js';

const TOTALS = emptyEjectionCounters();

/** Ejection counters summed over every channel of this process (detected, enforced, overflow). */
export function outlierEjectionCounters(): EjectionCounters {
  return structuredClone(TOTALS);
}

/**
 * The child under the layer, decided when the config is parsed: a grpc-ha policy runs as its
 * bare picker balancer (health is the layer's alone); any other policy runs through grpc-js.
 */
export type LayerChildConfig =
  | { readonly t: 'picker'; readonly config: PolicyConfig }
  | { readonly t: 'policy'; readonly config: experimental.TypedLoadBalancingConfig };

/** What a layer's config asks for: the health settings and the child under the layer. */
export interface LayerConfig {
  readonly health: HealthSettings;
  readonly child: LayerChildConfig;
}

/** Reads a layer config from what grpc-js hands the balancer; null when it is not one for this layer. */
export type LayerConfigReader = (config: experimental.TypedLoadBalancingConfig) => LayerConfig | null;

/** The child policy in place. */
interface Child {
  /** 'picker:<policy>' or 'policy': a config of another kind needs another child. */
  readonly kind: string;
  readonly balancer: experimental.LoadBalancer;
  /** The bare picker balancer, when the child is one: it knows each endpoint's load. */
  readonly picker: PickerLoadBalancer | null;
}

/** One endpoint of the channel's endpoint list, as the transport sees it. */
class EndpointEntry implements EndpointHandle {
  /** Wrappers in use for this endpoint's addresses. */
  readonly wrappers = new Set<HealthSubchannel>();
  constructor(readonly key: string) {}
}

/** See the module comment. The base of every grpc-ha policy's balancer and of `health_aware`. */
export class HealthLayer implements experimental.LoadBalancer, HealthSubchannelOwner, ChannelView {
  private readonly helper: experimental.ChannelControlHelper;
  private readonly model: EndpointSetHealth;
  private readonly observer: ChannelObserver;
  /** The child whose pickers the channel uses. */
  private child: Child | null = null;
  /** A child of another kind replacing it, until it is past CONNECTING. */
  private pending: Child | null = null;
  private destroyed = false;
  private serviceConfigSeen: unknown = undefined;
  private serviceName: string | null = null;
  private entries = new Map<string, EndpointEntry>();
  private byAddress = new Map<string, EndpointEntry>();
  private readonly attached = new Set<HealthSubchannel>();
  private resolutionNote = '';
  private refreshing = false;
  private refreshAgain = false;
  /** The child's last TRANSIENT_FAILURE update while it is the current state: re-explained when conditions change. */
  private childFailure: { picker: experimental.Picker; errorMessage: string | null } | null = null;

  constructor(
    private readonly parent: experimental.ChannelControlHelper,
    /** The policy's config key: names the layer in log lines and its channel in the admin API. */
    private readonly typeName: string,
    private readonly read: LayerConfigReader,
    private readonly env: PickerEnv = defaultPickerEnv,
  ) {
    this.observer = new ChannelObserver(typeName, this);
    this.model = new EndpointSetHealth({
      env,
      sink: {
        emit: (event, endpoint, reason) => this.observer.emit(event, endpoint, reason),
        log: (message) => experimental.log(logVerbosity.INFO, `grpc-ha ${typeName}: ${message}`),
      },
      changed: () => this.refresh(),
      totals: [TOTALS],
    });
    this.helper = experimental.createChildChannelControlHelper(parent, {
      createSubchannel: (address, args) => this.createSubchannel(address, args),
      updateState: (state, picker, errorMessage) => this.forward(state, picker, errorMessage),
    });
  }

  updateAddressList(
    endpointList: experimental.StatusOr<experimental.Endpoint[]>,
    lbConfig: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    const config = this.read(lbConfig);
    if (config === null || this.destroyed) return false;
    this.observer.updateOptions(options);
    this.resolutionNote = resolutionNote;
    this.updateServiceName(options['grpc.service_config']);
    this.model.configure(config.health);
    // Before the child gets the list, so the subchannels it creates find their endpoint.
    if (endpointList.ok) {
      const entries = new Map<string, EndpointEntry>();
      const byAddress = new Map<string, EndpointEntry>();
      for (const endpoint of endpointList.value) {
        const key = endpointKey(endpoint);
        const entry = entries.get(key) ?? this.entries.get(key) ?? new EndpointEntry(key);
        entries.set(key, entry);
        for (const address of endpoint.addresses) byAddress.set(experimental.subchannelAddressToString(address), entry);
      }
      this.entries = entries;
      this.byAddress = byAddress;
      this.model.setEndpoints(entries.keys());
    }
    this.refresh();
    return this.childFor(config.child).balancer.updateAddressList(endpointList, config.child.config, options, resolutionNote);
  }

  exitIdle(): void {
    this.child?.balancer.exitIdle();
    this.pending?.balancer.exitIdle();
  }

  resetBackoff(): void {
    this.child?.balancer.resetBackoff();
    this.pending?.balancer.resetBackoff();
  }

  destroy(): void {
    this.destroyed = true;
    this.observer.close();
    this.model.close();
    for (const w of this.attached) this.unsubscribe(w);
    this.attached.clear();
    this.child?.balancer.destroy();
    this.pending?.balancer.destroy();
    this.child = this.pending = null;
  }

  getTypeName(): string {
    return this.typeName;
  }

  // ChannelView

  get panic(): boolean {
    return this.model.panic;
  }

  get ejections(): EjectionCounters | null {
    return this.model.counters;
  }

  endpoints(): EndpointState[] {
    const loads = this.child?.picker?.endpointLoads();
    if (loads) return loads.map((load) => this.stateOf(load));
    // A grpc-js child knows calls, not us: the endpoints as the layer sees them.
    return [...this.entries.keys()].map((key) => {
      const h = this.healthOf(key);
      const connectivity = h.condition === 'connecting' ? 'CONNECTING' : h.condition === 'transient_failure' ? 'TRANSIENT_FAILURE' : 'READY';
      return {
        endpoint: key,
        connectivity,
        health: h.condition,
        ...(h.reason ? { healthReason: h.reason } : {}),
        ...(h.ejectedUntil ? { ejectedUntil: h.ejectedUntil } : {}),
        weight: 1,
        inFlight: 0,
        ewmaMs: null,
        started: 0,
        finished: 0,
        failed: 0,
        lastError: null,
      };
    });
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

  /**
   * The child for `config`: the latest one if it is of the same kind, else a new one that takes
   * over once it is past CONNECTING (as grpc-js ChildLoadBalancerHandler switches policies).
   */
  private childFor(config: LayerChildConfig): Child {
    const kind = config.t === 'picker' ? `picker:${config.config.getLoadBalancerName()}` : 'policy';
    const latest = this.pending ?? this.child;
    if (latest?.kind === kind) return latest;
    // Its own helper: it tells which child an update comes from.
    const helper = experimental.createChildChannelControlHelper(this.helper, {
      updateState: (state, picker, errorMessage) => {
        if (child === this.pending) {
          if (state === connectivityState.CONNECTING) return;
          this.child?.balancer.destroy();
          this.child = child;
          this.pending = null;
        } else if (child !== this.child) {
          return; // a replaced child's late update
        }
        this.forward(state, picker, errorMessage);
      },
    });
    const picker = config.t === 'picker' ? new PickerLoadBalancer(helper, config.config.getLoadBalancerName(), this.observer, this.env) : null;
    const child: Child = { kind, balancer: picker ?? new experimental.ChildLoadBalancerHandler(helper), picker };
    if (this.child === null) this.child = child;
    else {
      this.pending?.balancer.destroy();
      this.pending = child;
    }
    return child;
  }

  /** What the layer knows of one endpoint, for the admin API. */
  private healthOf(key: string): { condition: string; reason?: string; ejectedUntil?: number } {
    const c = this.model.conditionOf(key) ?? { t: 'connecting', settled: false };
    const reason = conditionDetail(c);
    const ejection = this.model.ejectionOf(key);
    return {
      condition: c.t,
      ...(reason ? { reason } : {}),
      ...(ejection ? { ejectedUntil: Math.round(Date.now() + ejection.until - this.env.now()) } : {}),
    };
  }

  /** An endpoint's state: its load from the picker balancer, its health from the model. */
  private stateOf(load: EndpointLoadState): EndpointState {
    const h = this.healthOf(load.endpoint);
    const reason = h.reason ?? load.connectionError;
    return {
      endpoint: load.endpoint,
      connectivity: load.connectivity,
      health: h.condition,
      ...(reason ? { healthReason: reason } : {}),
      ...(h.ejectedUntil !== undefined ? { ejectedUntil: h.ejectedUntil } : {}),
      weight: load.weight,
      inFlight: load.inFlight,
      ewmaMs: load.ewmaMs,
      started: load.started,
      finished: load.finished,
      failed: load.failed,
      lastError: load.lastError,
      ...(load.metadata ? { metadata: load.metadata } : {}),
    };
  }

  private createSubchannel(address: experimental.SubchannelAddress, args: ChannelOptions): experimental.SubchannelInterface {
    const child = this.parent.createSubchannel(address, args);
    const entry = this.byAddress.get(experimental.subchannelAddressToString(address));
    // A connection another channel already watches starts with what its stream knows.
    const health: HealthCheckStatus = this.serviceName === null ? { t: 'off' } : knownHealth(child, this.serviceName);
    const ejected = entry !== undefined && this.model.ejectionOf(entry.key) !== null;
    return new HealthSubchannel(child, this, entry, health, this.model.panic || (!ejected && healthCheckPasses(health)));
  }

  private updateServiceName(serviceConfig: unknown): void {
    if (serviceConfig === this.serviceConfigSeen) return;
    this.serviceConfigSeen = serviceConfig;
    let name: string | null = null;
    try {
      name = healthCheckServiceName(typeof serviceConfig === 'string' ? serviceConfig : undefined);
    } catch (error) {
      experimental.log(logVerbosity.ERROR, `grpc-ha ${this.typeName}: ${(error as Error).message}; health checking stays off`);
    }
    if (name === this.serviceName) return;
    this.serviceName = name;
    for (const w of this.attached) this.subscribe(w);
  }

  private subscribe(wrapper: HealthSubchannel): void {
    this.unsubscribe(wrapper);
    if (this.serviceName === null) {
      wrapper.health = { t: 'off' };
      return;
    }
    wrapper.releaseHealth = watchHealth(
      wrapper,
      this.serviceName,
      (status) => {
        wrapper.health = status;
        this.refresh();
      },
      this.env.random,
    );
  }

  private unsubscribe(wrapper: HealthSubchannel): void {
    wrapper.releaseHealth?.();
    wrapper.releaseHealth = undefined;
  }

  /** Feeds every endpoint's condition to the model, then tells each wrapper what to report. */
  private refresh(): void {
    if (this.destroyed) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        this.model.recompute((key) => endpointCondition(this.entries.get(key)?.wrappers ?? [], null));
        for (const w of this.attached) w.report(this.model.panic || this.passes(w));
      } while (this.refreshAgain);
    } finally {
      this.refreshing = false;
    }
    // A change the child does not see (a health check going from pending to failing on an
    // endpoint already reported unhealthy) still changes why nothing can be picked.
    const failure = this.childFailure;
    if (failure) this.forward(connectivityState.TRANSIENT_FAILURE, failure.picker, failure.errorMessage);
  }

  private passes(wrapper: HealthSubchannel): boolean {
    if (!healthCheckPasses(wrapper.health)) return false;
    const key = wrapper.endpoint?.key;
    return key === undefined || this.model.ejectionOf(key) === null;
  }

  /** The child's state, passed up: READY pickers wrapped, TRANSIENT_FAILURE explained. */
  private forward(state: connectivityState, picker: experimental.Picker, errorMessage: string | null): void {
    if (this.destroyed) return;
    this.childFailure = state === connectivityState.TRANSIENT_FAILURE ? { picker, errorMessage } : null;
    if (state === connectivityState.READY) {
      this.parent.updateState(state, new HealthPicker(picker, this.model, this.env), errorMessage);
    } else if (state === connectivityState.TRANSIENT_FAILURE && this.entries.size > 0) {
      if (this.model.awaitingHealthCheck()) {
        // "the subchannel will [...] report CONNECTING until it receives the first health check
        // response" - A17; leaves can only say TRANSIENT_FAILURE for unhealthy, so queue here.
        this.parent.updateState(connectivityState.CONNECTING, new experimental.QueuePicker(this), null);
        return;
      }
      const message = this.model.noHealthyEndpointMessage(this.serviceName ?? '', this.resolutionNote);
      this.parent.updateState(state, new experimental.UnavailablePicker({ details: message }), message);
    } else {
      this.parent.updateState(state, picker, errorMessage);
    }
  }
}
