/**
 * A cluster: the backends one endpoint source reports, a picker snapshot over the available ones
 * (the shared pure pickers, rebuilt only when availability changes), per-backend stream limits,
 * a bounded queue of calls waiting for a backend, and passive health (outlier ejection, slow
 * start, panic threshold: cluster-health.ts) fed by the outcome of every call.
 *
 * The same class serves three places: a proxy of one process (its own source and health model),
 * the primary of a proxy on workers (the same, but it only watches: no picker, no calls) and a
 * worker (the backends and their health come from the primary; it connects, picks and forwards).
 */
import { isEndpointFailure } from '../core/status.js';
import { idempotentMatcher } from '../core/idempotent-methods.js';
import type { ProxyClusterState } from '../observe/proxy-state.js';
import { defaultPickerEnv, type EndpointPicker, type PickerEndpoint, type PickerEnv } from '../core/pickers/picker.js';
import { slowStartPick } from '../core/health/slow-start.js';
import { healthClass, type EndpointCondition } from '../core/health/endpoint-condition.js';
import { selectBackends, type ClusterHealthModel } from './cluster-health.js';
import type { EndpointSource, ProxyEndpoint } from './endpoint-source.js';
import type { ClusterConfig } from './proxy-config.js';
import { FairShares, type SharedCall } from './fair-share.js';

import { Upstream } from './upstream.js';

const CONNECTING: EndpointCondition = { t: 'connecting', settled: false };

/** A call waiting for a backend. */
export interface PendingCall extends SharedCall {
  /** Hands the call a backend that has room; the call must `release` it when done. */
  dispatch(upstream: Upstream): void;
  /** No backend will take the call: the reason becomes the UNAVAILABLE message. */
  fail(reason: string): void;
  /** Ring-hash key of the call, if the policy hashes one. */
  readonly hashKey: string | undefined;
  /** The backend that just failed the call, when it is sent again: another one is taken when any has room ("next backend"). */
  readonly avoid: Upstream | undefined;
  /** Set by the cluster while the call waits. */
  timer?: NodeJS.Timeout;
  /** True once the call ended while it waited (its client went away, its deadline passed): the queue drops it. */
  readonly cancelled?: boolean;
}

/** Options of a cluster that come from the listener rather than from the cluster's own config. */
export interface ClusterOptions {
  /** Stream window advertised to backends, bytes. */
  readonly windowBytes: number;
  /** Randomness and clock of the picker; injectable for tests. */
  readonly env?: PickerEnv;
  /** Where the backends come from: the target's source, or on a worker the primary's list. */
  readonly source: EndpointSource;
  /** The health model, on the cluster's clock; `changed` is to be called when its own timers change what may be picked. */
  readonly health: (env: PickerEnv, changed: () => void) => ClusterHealthModel;
  /** Whether each backend connection runs the cluster's active health check (a worker leaves it to the primary). Defaults to true. */
  readonly checksHealth?: boolean;
  /** Whether the cluster takes calls (the primary of a proxy on workers only watches: no picker). Defaults to true. */
  readonly picks?: boolean;
  /** Runs after every change of what may be picked (the primary publishes it to its workers). */
  readonly onRebuild?: () => void;
}

/** One cluster of backends. */
export class Cluster {
  /** Backends by address. */
  readonly upstreams = new Map<string, Upstream>();
  /** Calls waiting for a backend, per client connection, and what each connection holds of every backend (fair-share.ts). */
  private readonly shares: FairShares<PendingCall>;
  private picker: EndpointPicker | null = null;
  /** The upstreams the picker indexes into. */
  private pickList: Upstream[] = [];
  private readonly source: EndpointSource;
  private readonly env: PickerEnv;
  private rebuildQueued = false;
  /** Whether the source delivered its first list (until then calls wait rather than fail). */
  private answered = false;
  private closed = false;
  /** The header carrying the ring-hash key, if the policy uses one. */
  readonly hashHeader: string | undefined;
  /** The backends' health: decided here, or on a worker mirrored from the primary. */
  readonly health: ClusterHealthModel;
  private readonly activeChecks: boolean;
  private readonly picks: boolean;
  private readonly retry: { readonly attempts: number; readonly idempotent: (path: string) => boolean } | null;

  constructor(
    readonly config: ClusterConfig,
    private readonly options: ClusterOptions,
  ) {
    this.env = options.env ?? defaultPickerEnv;
    this.hashHeader = config.policy.hashHeader;
    this.retry = config.retry ? { attempts: config.retry.attempts, idempotent: idempotentMatcher(config.retry.idempotentMethods) } : null;
    this.source = options.source;
    this.health = options.health(this.env, () => this.scheduleRebuild());
    this.activeChecks = config.healthCheck !== null && options.checksHealth !== false;
    this.picks = options.picks !== false;
    this.shares = new FairShares(config.maxConcurrentStreamsPerBackend, config.maxPending);
  }

  /** Bumped by every backend list the source delivers (the primary publishes the list when it moved). */
  endpointsVersion = 0;

  /** Whether the endpoint source delivered its first list. */
  get resolved(): boolean {
    return this.answered;
  }

  /** Subscribes to the endpoint source and starts connecting to backends. */
  start(): void {
    this.source.subscribe((endpoints) => this.setEndpoints(endpoints));
  }

  /**
   * A backend for a new call, or null when none has room now. O(1) unless the chosen one is full.
   * A retry passes the backend that just failed it as `avoid`: another one is taken when any has room.
   * With `fairFor`, only a backend that client connection holds less than its fair share of counts as having room.
   */
  pick(hashKey: string | undefined, avoid?: Upstream, fairFor?: object): Upstream | null {
    const picker = this.picker;
    if (picker === null) return null;
    const list = this.pickList;
    let i = picker.pick(hashKey);
    const health = this.health;
    if (health.rampUntil !== Number.NEGATIVE_INFINITY) {
      const now = this.env.now();
      if (now < health.rampUntil) {
        i = slowStartPick(i, () => picker.pick(hashKey), (k) => health.factorOf(list[k]!.address, now), health.maxFactor(now), this.env.random);
      }
    }
    const chosen = list[i]!;
    if (chosen !== avoid && this.hasRoom(chosen, fairFor)) return chosen;
    // The choice is full (or, for ring_hash, down): take the next one with room, in ring order.
    for (let k = 1; k < list.length; k++) {
      const u = list[(i + k) % list.length]!;
      if (u !== avoid && this.hasRoom(u, fairFor)) return u;
    }
    return avoid !== undefined && this.hasRoom(avoid, fairFor) ? avoid : null;
  }

  /** Whether `u` may take a call now: usable, below maxConcurrentStreamsPerBackend, and (with `fairFor`) below that connection's share of it. */
  private hasRoom(u: Upstream, fairFor?: object): boolean {
    return this.usable(u) && u.load.inFlight < this.config.maxConcurrentStreamsPerBackend && (fairFor === undefined || this.shares.belowShare(fairFor, u));
  }

  /** Whether any backend may take a call now. */
  private anyRoom(): boolean {
    for (const u of this.pickList) if (this.hasRoom(u)) return true;
    return false;
  }

  /** Connected and healthy and not ejected; in panic, connected is enough (Envoy "balance across all hosts"). */
  private usable(u: Upstream): boolean {
    const health = this.health;
    if (health.panic) return u.state === 'ready';
    return u.available && (!health.counting || health.ejectionOf(u.address) === null);
  }

  /**
   * Finds a backend for `call`: at once if one has room, else queues it (bounded by maxPending
   * and pendingTimeoutMs) while a backend may still free up or connect, else fails it. While
   * other calls wait, it takes a backend at once only below its connection's fair share of it
   * (fair-share.ts); otherwise it waits its connection's turn.
   */
  acquire(call: PendingCall): void {
    const shares = this.shares;
    const u = this.pick(call.hashKey, call.avoid, shares.waiting > 0 ? call.client : undefined);
    if (u) {
      call.dispatch(u);
      return;
    }
    const hopeless = this.hopelessReason();
    if (hopeless !== null) {
      call.fail(hopeless);
      return;
    }
    const max = this.config.maxPending;
    const queued = shares.enqueue(call);
    if (queued.t === 'refused') {
      const own = queued.share === undefined ? '' : `; this connection has ${queued.share} or more of them, its fair share`;
      call.fail(`cluster ${this.config.name}: ${shares.waiting} calls already waiting for a backend (maxPending ${max})${own}; ${this.describe()}`);
      return;
    }
    if (queued.t === 'pushedOut') {
      // Longest-queue drop: the connection with the most calls waiting gives one up for a connection below its share.
      clearTimeout(queued.call.timer);
      queued.call.fail(`cluster ${this.config.name}: ${shares.waiting} calls already waiting for a backend (maxPending ${max}); this call's connection had more waiting than its fair share (${queued.share}) and gave way to another connection's; ${this.describe()}`);
    }
    call.timer = setTimeout(() => {
      if (!this.shares.withdraw(call)) return;
      call.fail(`cluster ${this.config.name}: no backend could take the call within ${this.config.pendingTimeoutMs} ms; ${this.describe()}`);
    }, this.config.pendingTimeoutMs);
    // A backend with room the fair pick did not give: the queue's turns decide who takes it.
    if (this.anyRoom()) this.drain();
  }

  /** `call` no longer waits (its client reset it, its deadline passed): it leaves the queue and its connection's count. */
  withdraw(call: PendingCall): void {
    if (this.shares.withdraw(call)) clearTimeout(call.timer);
  }

  /** A call from `client` starts on `upstream`: it holds one of its streams until `release`. */
  took(upstream: Upstream, client: object): void {
    upstream.load.start();
    this.shares.took(client, upstream);
  }

  /**
   * Records the end of a call on `upstream` and lets a waiting call have the slot. `status` is the
   * call's final gRPC status (one of the endpoint failure class counts against the backend, in
   * its latency estimate and for outlier ejection); undefined when the call ended for the
   * client's own reasons (a cancellation), which says nothing of the backend.
   */
  release(upstream: Upstream, latencyMs: number | undefined, status: number | undefined, client: object): void {
    upstream.load.end(this.env.now(), latencyMs, status !== undefined && isEndpointFailure(status), this.config.policy.ewma);
    this.shares.gave(client, upstream);
    if (status !== undefined && this.health.counting) this.health.recordResult(upstream.address, status);
    if (this.shares.waiting > 0) this.drain();
  }

  /** How many attempts a call to `path` may make: `retry.attempts` for the idempotent methods, else 1. */
  retryAttempts(path: string): number {
    return this.retry !== null && this.retry.idempotent(path) ? this.retry.attempts : 1;
  }

  /** Stops taking calls; backends close once their calls in flight end (or at once with `force`). */
  close(force = false): void {
    this.closed = true;
    this.source.close();
    this.health.close();
    for (const u of this.upstreams.values()) {
      if (force) u.destroy();
      else u.close();
    }
    this.picker = null;
    this.pickList = [];
    for (const call of this.shares.takeAll()) {
      clearTimeout(call.timer);
      call.fail(`cluster ${this.config.name} was removed`);
    }
  }

  /** Calls in flight over all backends. */
  inFlight(): number {
    let n = 0;
    for (const u of this.upstreams.values()) n += u.load.inFlight;
    return n;
  }

  /** Its state for the admin endpoint. */
  toJSON(): ProxyClusterState {
    return {
      name: this.config.name,
      target: this.config.target,
      policy: this.config.policy.definition.name,
      pending: this.shares.waiting,
      ...(this.health.panic && { panic: true }),
      ...(this.health.counters && { ejections: this.health.counters }),
      backends: [...this.upstreams.values()].map((u) => {
        const e = this.health.ejectionOf(u.address);
        return {
          ...u.toJSON(),
          ...(e && { ejected: { reason: e.reason, kind: e.kind, remainingMs: Math.max(0, Math.round(e.until - this.env.now())) } }),
          condition: this.health.conditionOf(u.address)?.t ?? 'connecting',
        };
      }),
    };
  }

  /** "3 backends: 1 ready, 1 connecting, 1 not serving (last error: ...)" — the why of an UNAVAILABLE. */
  describe(): string {
    const n = this.upstreams.size;
    if (!this.answered) return `the target ${this.config.target} has not answered yet`;
    if (n === 0) return 'the target reports no backend';
    let ready = 0;
    let full = 0;
    let connecting = 0;
    let down = 0;
    let notServing = 0;
    let lastError = '';
    for (const u of this.upstreams.values()) {
      if (this.health.ejectionOf(u.address) !== null) continue;
      if (u.available) {
        if (u.load.inFlight >= this.config.maxConcurrentStreamsPerBackend) full++;
        else ready++;
      } else if (u.state === 'ready') notServing++;
      else if (u.state === 'connecting' || u.state === 'idle') connecting++;
      else down++;
      if (!u.available && u.lastError) lastError = `${u.address}: ${u.lastError}`;
    }
    const parts = [`${n} backend${n === 1 ? '' : 's'}`];
    const counts: string[] = [];
    if (ready) counts.push(`${ready} ready`);
    if (full) counts.push(`${full} at maxConcurrentStreamsPerBackend (${this.config.maxConcurrentStreamsPerBackend})`);
    if (connecting) counts.push(`${connecting} connecting`);
    if (notServing) counts.push(`${notServing} failing health checks`);
    if (down) counts.push(`${down} unreachable`);
    counts.push(...this.health.describeEjections(this.upstreams.keys()));
    return `${parts[0]}: ${counts.join(', ')}${lastError ? ` (last error: ${lastError})` : ''}`;
  }

  /** Non-null when no backend can become usable soon, so waiting would only delay the failure. */
  private hopelessReason(): string | null {
    if (this.closed) return `cluster ${this.config.name} was removed`;
    if (!this.answered) return null;
    for (const u of this.upstreams.values()) {
      if (this.usable(u) || u.state === 'connecting' || u.state === 'idle') return null;
      // Connected, and its first health answer (or, on a worker, the primary's first word) is pending.
      if (healthClass(this.health.conditionOf(u.address) ?? CONNECTING) === 'unknown') return null;
    }
    return `cluster ${this.config.name}: no backend available; ${this.describe()}`;
  }

  private setEndpoints(endpoints: readonly ProxyEndpoint[]): void {
    if (this.closed) return;
    this.answered = true;
    this.endpointsVersion++;
    const seen = new Set<string>();
    for (const e of endpoints) {
      seen.add(e.address);
      const weight = this.config.policy.weights.get(e.address) ?? e.weight ?? 1;
      const existing = this.upstreams.get(e.address);
      if (existing) {
        existing.weight = weight;
        continue;
      }
      const u = new Upstream(e.address, weight, {
        tls: this.config.tls,
        connectTimeoutMs: this.config.connectTimeoutMs,
        windowBytes: this.options.windowBytes,
        maxConnections: this.config.maxConnectionsPerBackend,
        healthCheck: this.activeChecks ? this.config.healthCheck : null,
        random: this.env.random,
        onChange: () => this.scheduleRebuild(),
      });
      this.upstreams.set(e.address, u);
      u.connect();
    }
    for (const [address, u] of this.upstreams) {
      if (!seen.has(address)) {
        this.upstreams.delete(address);
        u.close();
      }
    }
    this.health.setEndpoints(this.upstreams.keys());
    this.rebuild();
  }

  private scheduleRebuild(): void {
    // Many backends change state in one turn of the event loop (a burst of connects at start):
    // one rebuild per turn (setImmediate runs after the poll phase has run every ready I/O
    // callback; a microtask would run after each one). A rebuild walks every backend — in a
    // primary it publishes a delta to every worker, elsewhere it builds a picker — so one per
    // change made 1,000 backends connecting cost O(n²) (docs/proxy.md, "Memory and cost as it
    // grows"). Until it runs, pick() skips a backend that stopped being usable (hasRoom).
    if (this.rebuildQueued || this.closed) return;
    this.rebuildQueued = true;
    const run = () => {
      this.rebuildQueued = false;
      if (!this.closed) this.rebuild();
    };
    setImmediate(run);
  }

  private rebuild(): void {
    const definition = this.config.policy.definition;
    const all = [...this.upstreams.values()];
    const selected = selectBackends(this.health, all, this.activeChecks);
    if (!this.picks) {
      this.options.onRebuild?.();
      return;
    }
    const list = definition.includeUnavailable ? (selected.length > 0 ? all : []) : selected;
    const usable = new Set(selected);
    const endpoints: PickerEndpoint[] = list.map((u) => ({ key: u.address, weight: u.weight, load: u.load, available: usable.has(u) }));
    this.picker = list.length === 0 ? null : definition.createPicker(endpoints, this.config.policy.options, this.env, this.picker ?? undefined);
    this.pickList = list;
    this.drain();
    this.options.onRebuild?.();
  }

  /**
   * Gives backends with room to waiting calls, one connection's turn after another: first to a
   * connection below its fair share of the backend, then, so that no stream stays idle, to any.
   */
  private drain(): void {
    const shares = this.shares;
    while (shares.waiting > 0 && this.anyRoom()) {
      if (shares.serveNext((call) => this.serveWaiting(call, true))) continue;
      if (!shares.serveNext((call) => this.serveWaiting(call, false))) break;
    }
    if (shares.waiting > 0) {
      const hopeless = this.hopelessReason();
      if (hopeless !== null) {
        for (const call of shares.takeAll()) {
          clearTimeout(call.timer);
          call.fail(hopeless);
        }
      }
    }
  }

  /** Dispatches a waiting call if a backend takes it (with `fair`, one its connection is below its share of). */
  private serveWaiting(call: PendingCall, fair: boolean): boolean {
    const u = this.pick(call.hashKey, call.avoid, fair ? call.client : undefined);
    if (u === null) return false;
    clearTimeout(call.timer);
    call.dispatch(u);
    return true;
  }
}
