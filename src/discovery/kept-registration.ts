/**
 * The life cycle every backend's registration shares, as one state machine:
 * registering → registered → (lost | unreachable) → registering … → closed. A backend supplies
 * three operations — write the entry, refresh it, remove it — and reports an asynchronous loss
 * (an etcd lease that expired) with `lost()`. Failures never throw out of the loop: they are
 * logged once per outage and retried with backoff.
 */
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { Backoff } from '../core/backoff.js';
import { registryBackoff, type BackoffOptions } from './backoff.js';
import type { ServiceInstance } from './instance.js';
import { OutageLog, type DiscoveryLogger } from './log.js';
import type { RegisterOptions, Registration, RegistrationState } from './registry.js';

/** The outcome of one refresh: still there, or gone and to be written again. */
export type RefreshResult = 'ok' | 'lost';

/** What a backend implements for a kept registration. */
export interface RegistrationOps {
  /** Writes the entry (grants a lease, registers with the agent, ...). Throws when unreachable. */
  put(): Promise<void>;
  /** Keeps the entry alive once; 'lost' when the registry no longer has it. Throws when unreachable. */
  refresh(): Promise<RefreshResult>;
  /** Removes the entry; best effort. */
  remove(): Promise<void>;
}

/** Settings of a kept registration. */
export interface KeptRegistrationSettings {
  /** Time between refreshes, ms. */
  readonly refreshIntervalMs: number;
  /** Retry timing after a failure. */
  readonly backoff?: BackoffOptions;
  /**
   * A shorter cap for failures where the registry did not answer (`unreachable` says which), so a
   * registration is written within about `maxMs` of the registry coming back rather than after
   * the backoff's cap; refusals keep the full backoff.
   */
  readonly reconnect?: { readonly maxMs: number; readonly unreachable: (error: unknown) => boolean };
  /** Where to log. */
  readonly logger: DiscoveryLogger;
  /** "file registry /tmp/x", for log lines. */
  readonly where: string;
  /** Largest time `close()` waits for the removal, ms. Defaults to 3000. */
  readonly closeTimeoutMs?: number;
}

/** A registration driven by backend operations; see the module doc. */
export class KeptRegistration implements Registration {
  private current: RegistrationState = { t: 'registering', attempt: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private readonly outage: OutageLog;
  private closing: Promise<void> | undefined;
  private generation = 0;
  private resolveReady!: (registered: boolean) => void;
  /** Resolves true once first registered, false when closed first. */
  readonly ready = new Promise<boolean>((resolve) => (this.resolveReady = resolve));
  private ops!: RegistrationOps;
  /** The put or refresh in progress: close() waits for it, or a late write could outlive the removal. */
  private inflight: Promise<unknown> | undefined;

  constructor(
    readonly instance: ServiceInstance,
    private readonly settings: KeptRegistrationSettings,
    private readonly options: RegisterOptions = {},
  ) {
    this.backoff = registryBackoff(settings.backoff);
    this.outage = new OutageLog(
      settings.logger,
      `registration of ${instance.service} instance ${instance.instanceId} (${instance.address}) in ${settings.where}`,
      instance.service,
    );
  }

  /** Starts the loop with the backend's operations (called once by the backend). */
  start(ops: RegistrationOps): this {
    this.ops = ops;
    this.schedule(0, () => this.put());
    return this;
  }

  /** Where the registration stands. */
  get state(): RegistrationState {
    return this.current;
  }

  /** Reports that the registry dropped the entry (lease expired, agent forgot it): write it again. */
  lost(reason: string): void {
    if (this.current.t === 'closed') return;
    this.settings.logger('error', `${this.describe()} was lost (${reason}); registering again`);
    this.setState({ t: 'registering', attempt: 0 });
    this.schedule(0, () => this.put());
  }

  /** Deregisters; waits at most closeTimeoutMs for the registry. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasRegistered = this.current.t === 'registered';
    this.generation++;
    clearTimeout(this.timer);
    this.setState({ t: 'closed' });
    this.resolveReady(false);
    if (!this.ops) return;
    const timeoutMs = this.settings.closeTimeoutMs ?? 3000;
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await this.inflight?.catch(() => undefined);
          await this.ops.remove();
        })(),
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      if (wasRegistered) {
        this.settings.logger('error', `${this.describe()}: deregistration failed (${(error as Error).message}); the entry expires by its TTL`);
      }
    } finally {
      clearTimeout(timeout);
    }
  }

  private async put(): Promise<void> {
    const generation = this.generation;
    try {
      await (this.inflight = this.ops.put());
      if (generation !== this.generation) return;
      this.outage.ok();
      this.backoff.reset();
      this.setState({ t: 'registered', since: Date.now() });
      this.resolveReady(true);
      this.settings.logger('debug', `${this.describe()} registered`);
      this.schedule(this.settings.refreshIntervalMs, () => this.refresh());
    } catch (error) {
      if (generation !== this.generation) return;
      const wrapped = GrpcHaError.from(error, ERROR_CODES.REGISTRY_UNAVAILABLE);
      this.outage.failed(wrapped, 'the instance is not registered meanwhile');
      const attempt = this.current.t === 'registering' ? this.current.attempt + 1 : 1;
      this.setState({ t: 'registering', attempt, lastError: wrapped });
      this.schedule(this.retryDelay(error), () => this.put());
    }
  }

  private async refresh(): Promise<void> {
    const generation = this.generation;
    try {
      const result = await (this.inflight = this.ops.refresh());
      if (generation !== this.generation) return;
      this.outage.ok();
      this.backoff.reset();
      if (result === 'lost') {
        this.lost('the registry no longer has the entry');
        return;
      }
      this.schedule(this.settings.refreshIntervalMs, () => this.refresh());
    } catch (error) {
      if (generation !== this.generation) return;
      this.outage.failed(error, 'the entry stays until its TTL runs out');
      this.schedule(this.retryDelay(error), () => this.refresh());
    }
  }

  private retryDelay(error: unknown): number {
    const next = this.backoff.next();
    const reconnect = this.settings.reconnect;
    return reconnect?.unreachable(error) ? Math.min(next, reconnect.maxMs) : next;
  }

  private schedule(ms: number, run: () => Promise<void>): void {
    if (this.current.t === 'closed') return;
    clearTimeout(this.timer);
    const generation = ++this.generation;
    this.timer = setTimeout(() => {
      if (generation === this.generation) void run();
    }, ms);
    // A kept-alive registration must not hold a process open on its own (the server does that);
    // one still trying to register may be awaited (`ready`), so that timer keeps the loop alive.
    if (this.current.t === 'registered') this.timer.unref();
  }

  private setState(state: RegistrationState): void {
    this.current = state;
    try {
      this.options.onStateChange?.(state);
    } catch (error) {
      this.settings.logger('error', `onStateChange threw: ${(error as Error).message}`);
    }
  }

  private describe(): string {
    const i = this.instance;
    return `${i.service} instance ${i.instanceId} (${i.address}) in ${this.settings.where}`;
  }
}
