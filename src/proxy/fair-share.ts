/**
 * Fairness between the client connections of one cluster: what each holds of every backend's
 * streams (`maxConcurrentStreamsPerBackend`) and of the calls waiting for one (`maxPending`).
 *
 * Without it the first come take everything: five connections opening a thousand slow streams
 * each fill every backend and the whole queue, and a client arriving after them gets UNAVAILABLE
 * for as long as they keep it up (issue 13). The rules are those of a fair queue (max-min
 * fairness: nobody gets more than an equal share while someone who has less is waiting), as a
 * proxy applies them without preempting work already sent:
 *
 * - **Share of a backend's streams.** A connection's fair share of a backend is
 *   `max(FAIR_SHARE_FLOOR, ceil(maxConcurrentStreamsPerBackend / active connections))`, active
 *   meaning with calls in flight or waiting in this cluster. While nothing waits, calls take any
 *   free stream (work-conserving: a lone client may use every backend whole). Once calls wait, a
 *   freed stream goes to a connection below its share of that backend first; only when no waiting
 *   connection is below its share does it go to the others, so a stream is never left idle.
 * - **Waiting calls served round-robin per connection**, not first come first served (HAProxy's
 *   and nginx's queues are FIFO: a connection that queued a thousand calls would be served a
 *   thousand times before the next one): each connection's calls keep their order.
 * - **Share of `maxPending`.** While the queue has room any connection may fill it. Once full, a
 *   connection holding fewer than `max(FAIR_SHARE_FLOOR, floor(maxPending / waiting
 *   connections))` waiting calls still gets in: the newest call of the connection with the most
 *   waiting is pushed out for it (longest-queue drop); a connection at its share is refused.
 *
 * Everything here is O(1) per call except under contention (calls waiting), where each dispatch
 * looks at up to every waiting connection once.
 */
import type { Upstream } from './upstream.js';

/** The smallest share a connection has of a backend's streams and of the queue, however many connections there are. */
export const FAIR_SHARE_FLOOR = 4;

/** What the shares need of a call. */
export interface SharedCall {
  /** The client connection the call arrived on: shares are per connection. */
  readonly client: object;
  /** True once the call ended while it waited: it is dropped when met. */
  readonly cancelled?: boolean;
}

/** One client connection's standing in a cluster. */
class ClientShare<C extends SharedCall> {
  /** Its calls waiting for a backend, oldest first. */
  readonly waiting: C[] = [];
  /** Streams it holds per backend. */
  readonly held = new Map<Upstream, number>();
  /** Sum of `held`. */
  holding = 0;
  /** Whether it is in the round-robin ring (it has waiting calls). */
  inRing = false;
  /** Whether it counts among the active connections (it holds streams or has calls waiting). */
  active = false;
}

/** Why a call could not join the queue, or which waiting call was pushed out to let it in. */
export type EnqueueResult<C> =
  | { readonly t: 'queued' }
  | { readonly t: 'pushedOut'; readonly call: C; readonly share: number }
  /** `share` is set when the connection had its fair share waiting already while others wait too (else no line was long enough to give way, or it is alone). */
  | { readonly t: 'refused'; readonly share?: number };

/** Shares of one cluster. */
export class FairShares<C extends SharedCall> {
  /** Shares by connection; a closed connection's share goes with it (nothing to clean up). */
  private readonly clients = new WeakMap<object, ClientShare<C>>();
  /** Connections with calls in flight or waiting. */
  activeClients = 0;
  /** Connections with waiting calls, served in turn from `cursor`. */
  private readonly ring: ClientShare<C>[] = [];
  private cursor = 0;
  /** Calls waiting, over every connection (cancelled ones included until met). */
  waiting = 0;

  constructor(
    /** maxConcurrentStreamsPerBackend. */
    private readonly streamLimit: number,
    /** maxPending. */
    private readonly maxPending: number,
  ) {}

  /** A connection's fair share of one backend's streams now (the floor is capped by the limit). */
  streamShare(): number {
    return Math.max(Math.min(FAIR_SHARE_FLOOR, this.streamLimit), Math.ceil(this.streamLimit / Math.max(1, this.activeClients)));
  }

  /** Whether `client` holds less than its share of `u` (a connection unknown here holds nothing). */
  belowShare(client: object, u: Upstream): boolean {
    const share = this.clients.get(client);
    return share === undefined || (share.held.get(u) ?? 0) < this.streamShare();
  }

  /** `client` took a stream of `u`. */
  took(client: object, u: Upstream): void {
    const share = this.shareOf(client);
    share.held.set(u, (share.held.get(u) ?? 0) + 1);
    share.holding++;
    this.activate(share);
  }

  /** `client` gave a stream of `u` back. */
  gave(client: object, u: Upstream): void {
    const share = this.clients.get(client);
    const had = share?.held.get(u);
    if (share === undefined || had === undefined) return;
    const n = had - 1;
    if (n > 0) share.held.set(u, n);
    else share.held.delete(u);
    share.holding--;
    this.forgetIfIdle(share);
  }

  /**
   * Queues `call` at the end of its connection's line. When the queue is full it gets in only
   * below its connection's share of `maxPending`, pushing out the newest call of the connection
   * with the most waiting (returned, for the caller to fail).
   */
  enqueue(call: C): EnqueueResult<C> {
    const share = this.shareOf(call.client);
    let pushed: C | undefined;
    let fair = 0;
    if (this.waiting >= this.maxPending) {
      const lines = this.ring.length + (share.inRing ? 0 : 1);
      fair = Math.max(Math.min(FAIR_SHARE_FLOOR, this.maxPending), Math.floor(this.maxPending / lines));
      let longest: ClientShare<C> | undefined;
      for (const s of this.ring) if (longest === undefined || s.waiting.length > longest.waiting.length) longest = s;
      // The share is worth naming only when other connections wait too.
      if (share.waiting.length >= fair) return lines > 1 ? { t: 'refused', share: fair } : { t: 'refused' };
      // Pushing out of a line barely longer than this one would only swap who waits.
      if (longest === undefined || longest === share || longest.waiting.length <= share.waiting.length + 1) return { t: 'refused' };
      pushed = longest.waiting.pop()!;
      this.waiting--;
      if (longest.waiting.length === 0) this.leaveRing(longest);
    }
    share.waiting.push(call);
    this.waiting++;
    this.activate(share);
    if (!share.inRing) {
      share.inRing = true;
      this.ring.push(share);
    }
    return pushed === undefined ? { t: 'queued' } : { t: 'pushedOut', call: pushed, share: fair };
  }

  /** Takes `call` out of the queue (it ended, or its wait timed out); false when it was not there. */
  withdraw(call: C): boolean {
    const share = this.clients.get(call.client);
    if (share === undefined) return false;
    const i = share.waiting.indexOf(call);
    if (i < 0) return false;
    share.waiting.splice(i, 1);
    this.waiting--;
    if (share.waiting.length === 0) this.leaveRing(share);
    return true;
  }

  /**
   * The next waiting call to serve, in turn over connections: the first, from the cursor on, whose
   * oldest call `serve` dispatches (it returns false when no backend takes that call now). With
   * `strict`, `serve` is expected to give only streams the connection is below its share of.
   * Cancelled calls met on the way are dropped. Returns whether a call was served.
   */
  serveNext(serve: (call: C) => boolean): boolean {
    const ring = this.ring;
    for (let k = 0; k < ring.length; ) {
      if (this.cursor >= ring.length) this.cursor = 0;
      const share = ring[this.cursor]!;
      const call = share.waiting.shift();
      if (call === undefined) {
        this.leaveRing(share);
        continue;
      }
      this.waiting--;
      if (call.cancelled) {
        if (share.waiting.length === 0) this.leaveRing(share);
        continue;
      }
      // Out of the queue while it is served: a dispatch that fails at once queues it again, at the end.
      if (serve(call)) {
        // The next turn is the next connection's.
        if (share.waiting.length === 0) this.leaveRing(share);
        else this.cursor = ring.indexOf(share) + 1;
        return true;
      }
      share.waiting.unshift(call);
      this.waiting++;
      this.cursor++;
      k++;
    }
    return false;
  }

  /** Empties the queue, returning every call that was waiting (not cancelled). */
  takeAll(): C[] {
    const calls: C[] = [];
    for (const share of this.ring.splice(0)) {
      share.inRing = false;
      for (const c of share.waiting.splice(0)) if (!c.cancelled) calls.push(c);
      this.forgetIfIdle(share);
    }
    this.waiting = 0;
    this.cursor = 0;
    return calls;
  }

  private shareOf(client: object): ClientShare<C> {
    let share = this.clients.get(client);
    if (share === undefined) {
      share = new ClientShare<C>();
      this.clients.set(client, share);
    }
    return share;
  }

  private leaveRing(share: ClientShare<C>): void {
    const i = this.ring.indexOf(share);
    if (i >= 0) {
      this.ring.splice(i, 1);
      if (i < this.cursor) this.cursor--;
    }
    share.inRing = false;
    this.forgetIfIdle(share);
  }

  private activate(share: ClientShare<C>): void {
    if (share.active) return;
    share.active = true;
    this.activeClients++;
  }

  /** A connection holding no stream and with no call waiting no longer lowers the others' shares. */
  private forgetIfIdle(share: ClientShare<C>): void {
    if (share.active && share.holding === 0 && share.waiting.length === 0) {
      share.active = false;
      this.activeClients--;
    }
  }
}
