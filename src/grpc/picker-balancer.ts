/**
 * The bare grpc-js load balancer of every grpc-ha picker policy. It keeps one pick_first leaf per
 * endpoint connected (as grpc-js round_robin does), tracks each endpoint's live load from the
 * pick result's onCallStarted/onCallEnded, and on every change hands the READY endpoints to the
 * policy's pure picker as an immutable snapshot. It knows nothing of health: the health layer
 * (health-layer.ts) is its parent, composed once per channel, so the leaves see health-checked,
 * ejectable subchannels and the layer wraps the pickers.
 */
import { connectivityState, experimental, status as Status, type Metadata } from '@grpc/grpc-js';
import { ENDPOINT_FAILURE_CODES } from '../core/status.js';
import { EndpointLoad, type EwmaSettings } from '../core/pickers/endpoint-load.js';
import { defaultPickerEnv, type EndpointPicker, type PickerEndpoint, type PickerEnv } from '../core/pickers/picker.js';
import type { CallStats } from '../observe/call-stats.js';
import type { EndpointCallStats, EndpointLoadFields } from '../observe/channel-observer.js';
import { attributesOf, endpointKey } from './endpoint-attributes.js';
import { PolicyConfig } from '../core/policies/policy-config.js';
import { takeStreamMark } from './stream-calls.js';

const { ConnectivityState } = { ConnectivityState: connectivityState };
type State = connectivityState;

/** Status codes that count as an endpoint failure for the latency estimate (src/core/status.ts). */
export const DEFAULT_FAILURE_CODES: ReadonlySet<Status> = ENDPOINT_FAILURE_CODES;

/** One endpoint the balancer manages. */
class Child implements PickerEndpoint {
  readonly load = new EndpointLoad();
  state: State = ConnectivityState.IDLE;
  weight = 1;
  /** The last connection error its leaf reported. */
  lastError: string | null = null;
  get available(): boolean {
    return this.state === ConnectivityState.READY;
  }
  readonly leaf: experimental.LeafLoadBalancer;

  constructor(
    readonly key: string,
    public endpoint: experimental.Endpoint,
    /** Calls through this endpoint, for /metrics and the admin API. */
    readonly stats: CallStats,
    helper: experimental.ChannelControlHelper,
    options: Record<string, unknown>,
    resolutionNote: string,
  ) {
    this.leaf = new experimental.LeafLoadBalancer(endpoint, helper, options, resolutionNote);
  }
}

/** What the balancer knows of one endpoint: its connection and its load (the health layer adds health). */
export interface EndpointLoadState extends EndpointLoadFields {
  /** "host:port" (several addresses joined by commas). */
  readonly endpoint: string;
  /** Connectivity of its leaf: IDLE, CONNECTING, READY, TRANSIENT_FAILURE. */
  readonly connectivity: string;
  /** The last connection error of its leaf, while it is not READY. */
  readonly connectionError: string | null;
}

/** The balancer of every grpc-ha picker policy, under the health layer. */
export class PickerLoadBalancer implements experimental.LoadBalancer {
  private children = new Map<string, Child>();
  private config: PolicyConfig | null = null;
  private updatesPaused = false;
  private lastError: string | null = null;
  private resolutionNote = '';
  private lastPicker: EndpointPicker | undefined;

  constructor(
    /** The health layer's helper: leaves get wrapped subchannels, pickers go up through the layer. */
    private readonly helper: experimental.ChannelControlHelper,
    private readonly typeName: string,
    /** Where the calls of each endpoint are counted (the channel's observer). */
    private readonly calls: EndpointCallStats,
    private readonly env: PickerEnv = defaultPickerEnv,
  ) {}

  updateAddressList(
    endpointList: experimental.StatusOr<experimental.Endpoint[]>,
    lbConfig: experimental.TypedLoadBalancingConfig,
    options: Record<string, unknown>,
    resolutionNote: string,
  ): boolean {
    if (!(lbConfig instanceof PolicyConfig) || lbConfig.getLoadBalancerName() !== this.typeName) return false;
    this.config = lbConfig;
    this.resolutionNote = resolutionNote;
    if (!endpointList.ok) {
      // Keep serving from the endpoints we know; only with none is the resolver error the answer.
      if (this.children.size === 0) {
        this.updateState(
          ConnectivityState.TRANSIENT_FAILURE,
          new experimental.UnavailablePicker(endpointList.error),
          endpointList.error.details,
        );
      }
      return true;
    }
    const next = new Map<string, Child>();
    const added: Child[] = [];
    this.updatesPaused = true;
    for (const endpoint of endpointList.value) {
      const key = endpointKey(endpoint);
      if (next.has(key)) continue;
      let child = this.children.get(key);
      if (!child) {
        child = this.createChild(key, endpoint, options, resolutionNote);
        added.push(child);
      }
      next.set(key, child);
      child.endpoint = endpoint;
      child.weight = lbConfig.weights.get(key) ?? attributesOf(endpoint)?.weight ?? 1;
    }
    const previous = this.children;
    this.calls.retain(new Set(next.keys()));
    // The new map first: a leaf whose subchannel is already READY (shared with another channel)
    // reports so from startConnecting, and only a child in the map may report.
    this.children = next;
    for (const child of added) child.leaf.startConnecting();
    for (const [key, child] of previous) {
      if (!next.has(key)) child.leaf.destroy();
    }
    this.updatesPaused = false;
    if (next.size === 0) {
      const message = `${this.typeName}: no addresses resolved${resolutionNote ? ` (${resolutionNote})` : ''}`;
      this.updateState(ConnectivityState.TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details: message }), message);
      return false;
    }
    this.calculateAndUpdateState();
    return true;
  }

  exitIdle(): void {
    for (const child of this.children.values()) {
      if (child.state === ConnectivityState.IDLE) child.leaf.exitIdle();
    }
  }

  resetBackoff(): void {
    // Leaves own no backoff of their own; subchannels reset theirs through the channel.
  }

  destroy(): void {
    for (const child of this.children.values()) child.leaf.destroy();
    this.children.clear();
  }

  getTypeName(): string {
    return this.typeName;
  }

  private createChild(
    key: string,
    endpoint: experimental.Endpoint,
    options: Record<string, unknown>,
    resolutionNote: string,
  ): Child {
    // A helper per child so a state update tells us which endpoint changed.
    const child: Child = new Child(
      key,
      endpoint,
      this.calls.statsOf(key),
      experimental.createChildChannelControlHelper(this.helper, {
        updateState: (state, _picker, errorMessage) => {
          if (this.children.get(key) !== child) return; // a destroyed child's late update
          const previous = child.state;
          child.state = state;
          if (errorMessage) this.lastError = child.lastError = errorMessage;
          // grpc-js round_robin: losing a READY connection means the address list may be stale.
          if (previous === ConnectivityState.READY && state !== ConnectivityState.READY) {
            this.helper.requestReresolution();
          }
          this.calculateAndUpdateState();
        },
      }),
      options,
      resolutionNote,
    );
    return child;
  }

  private calculateAndUpdateState(): void {
    if (this.updatesPaused || this.config === null) return;
    const ready: Child[] = [];
    let connecting = 0;
    let failing = 0;
    for (const child of this.children.values()) {
      if (child.state === ConnectivityState.READY) ready.push(child);
      else if (child.state === ConnectivityState.CONNECTING) connecting++;
      else if (child.state === ConnectivityState.TRANSIENT_FAILURE) failing++;
    }
    if (ready.length > 0) {
      const candidates = this.config.definition.includeUnavailable ? [...this.children.values()] : ready;
      const picker = this.config.definition.createPicker(candidates, this.config.options, this.env, this.lastPicker);
      this.lastPicker = picker;
      this.updateState(
        ConnectivityState.READY,
        new PolicyPicker(candidates, picker, this.config.definition.hashHeader !== undefined, this.config.hashHeader, this.config.ewma, this.env),
        null,
      );
    } else if (connecting > 0) {
      this.updateState(ConnectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else if (failing > 0) {
      const message =
        `${this.typeName}: no READY endpoint: ${this.children.size} known, ${failing} TRANSIENT_FAILURE` +
        (this.lastError ? `. Last error: ${this.lastError}` : '') +
        (this.resolutionNote ? ` (${this.resolutionNote})` : '');
      this.updateState(ConnectivityState.TRANSIENT_FAILURE, new experimental.UnavailablePicker({ details: message }), message);
    } else {
      this.updateState(ConnectivityState.IDLE, new experimental.QueuePicker(this), null);
    }
    // Keep every endpoint connected, as grpc-js round_robin does.
    for (const child of this.children.values()) {
      if (child.state === ConnectivityState.IDLE) child.leaf.exitIdle();
    }
  }

  /** Each endpoint's connection and load, for the admin API (the health layer adds its health). */
  endpointLoads(): EndpointLoadState[] {
    const now = this.env.now();
    const decayMs = this.config?.ewma.decayMs ?? 10_000;
    return [...this.children.values()].map((child) => {
      const ewma = child.load.estimate(now, decayMs);
      const attributes = attributesOf(child.endpoint);
      return {
        endpoint: child.key,
        connectivity: ConnectivityState[child.state],
        connectionError: child.state === ConnectivityState.READY ? null : child.lastError,
        weight: child.weight,
        inFlight: child.load.inFlight,
        ewmaMs: Number.isNaN(ewma) ? null : Math.round(ewma * 1000) / 1000,
        started: child.stats.started,
        finished: child.load.completed,
        failed: child.load.failed,
        lastError: child.stats.lastError,
        ...(attributes ? { metadata: attributes } : {}),
      };
    });
  }

  private updateState(state: State, picker: experimental.Picker, errorMessage: string | null): void {
    this.helper.updateState(state, picker, errorMessage);
  }
}

/** The grpc-js picker: the pure picker chooses, the endpoint's leaf supplies the subchannel. */
class PolicyPicker implements experimental.Picker {
  constructor(
    private readonly candidates: readonly Child[],
    private readonly picker: EndpointPicker,
    private readonly hashes: boolean,
    private readonly hashHeader: string | undefined,
    private readonly ewma: EwmaSettings,
    private readonly env: PickerEnv,
  ) {}

  /**
   * The request's hash key: the value of the policy's request header when it names one (A76:
   * "if request_hash_header is set, the hash is computed from that header"); otherwise, under
   * xDS, the hash the channel's config selector computed from the route's hash policy (A42; the
   * xDS client for grpc-js passes it as extraPickInfo.hash).
   */
  private hashKey(args: experimental.PickArgs): string | undefined {
    if (!this.hashes) return undefined;
    if (this.hashHeader !== undefined) return hashKeyOf(args.metadata, this.hashHeader);
    return args.extraPickInfo?.['hash'];
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const stream = takeStreamMark(args.metadata);
    const child = this.candidates[this.picker.pick(this.hashKey(args))]!;
    const result = child.leaf.getPicker().pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    const { load, stats } = child;
    const innerStarted = result.onCallStarted;
    const innerEnded = result.onCallEnded;
    if (stream) {
      // A stream is not load (stream-calls.ts): counted in the endpoint's stats, never in its
      // in-flight calls or latency estimate.
      return {
        ...result,
        onCallStarted: () => {
          stats.start();
          innerStarted?.();
        },
        onCallEnded: (code: Status, details: string, metadata: Metadata) => {
          stats.end(code, undefined);
          if (code !== Status.OK) stats.lastError = { at: Date.now(), code, details };
          innerEnded?.(code, details, metadata);
        },
      };
    }
    const { now } = this.env;
    const ewma = this.ewma;
    let startedAt = 0;
    return {
      ...result,
      onCallStarted: () => {
        startedAt = now();
        load.start();
        stats.start();
        innerStarted?.();
      },
      onCallEnded: (code: Status, details: string, metadata: Metadata) => {
        const t = now();
        const latency = code === Status.CANCELLED ? undefined : t - startedAt;
        load.end(t, latency, DEFAULT_FAILURE_CODES.has(code), ewma);
        stats.end(code, latency);
        if (code !== Status.OK) stats.lastError = { at: Date.now(), code, details };
        innerEnded?.(code, details, metadata);
      },
    };
  }
}

function hashKeyOf(metadata: Metadata, header: string): string | undefined {
  const values = metadata.get(header);
  if (values.length === 0) return undefined;
  const v = values[0]!;
  return typeof v === 'string' ? v : v.toString('base64');
}
