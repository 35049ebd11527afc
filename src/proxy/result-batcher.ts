/**
 * A worker's call results on their way to the primary's outlier detectors: kept per backend in
 * the order calls ended, as runs (`[status, count]`; every success the same status 0), so that a
 * run of consecutive failures arrives as one, and sent in one message. A failure is sent at the
 * next turn of the event loop — consecutive-failure ejection must not wait — while successes,
 * which only reset runs and feed the per-interval statistics, wait up to `SUCCESS_FLUSH_MS`.
 */

/** How long successes may wait before they are sent, ms (the statistics run every 10 s by default). */
const SUCCESS_FLUSH_MS = 1000;

/** Where the runs go: [cluster id, backend, [status, count, ...]]. */
export type SendRuns = (runs: (readonly [number, string, number[]])[]) => void;

/** See the module comment. */
export class ResultBatcher {
  private runs = new Map<number, Map<string, number[]>>();
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(private readonly send: SendRuns) {}

  /** Adds `count` results of `key` in cluster `id` with status `code` (0 for a success), `failure` per the cluster's failure codes. */
  add(id: number, key: string, code: number, count: number, failure: boolean): void {
    let byKey = this.runs.get(id);
    if (byKey === undefined) this.runs.set(id, (byKey = new Map()));
    const runs = byKey.get(key);
    const status = failure ? code : 0;
    if (runs === undefined) byKey.set(key, [status, count]);
    else if (runs[runs.length - 2] === status) runs[runs.length - 1]! += count;
    else runs.push(status, count);
    if (failure) this.immediate ??= setImmediate(() => this.flush());
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), SUCCESS_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Sends everything held now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.runs.size === 0) return;
    const out: (readonly [number, string, number[]])[] = [];
    for (const [id, byKey] of this.runs) for (const [key, runs] of byKey) out.push([id, key, runs]);
    this.runs = new Map();
    this.send(out);
  }
}
