/**
 * The demo's live view: per-second statistics of the calls (per backend and in total) and their
 * rendering as lines, coloured on a terminal and plain in a log.
 */

/** What the demo knows of a backend's health: what it told it, or that its process is gone. */
export type BackendHealth = 'SERVING' | 'NOT_SERVING' | 'gone';

/** Latencies of one second (or one backend in it), plus the failed calls. */
interface Bucket {
  latencies: number[];
  errors: number;
}

/** Quantile `q` (0..1) of sorted `values`, nearest rank; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A latency histogram with 0.1 ms buckets up to 10 s: bounded memory whatever the run length. */
export class LatencyHistogram {
  private readonly buckets = new Uint32Array(100_001);
  /** Calls recorded. */
  count = 0;
  /** Failed calls recorded. */
  failed = 0;

  /** Records one call of `ms` milliseconds; `failed` counts it as failed too. */
  add(ms: number, failed = false): void {
    this.buckets[Math.min(100_000, Math.max(0, Math.round(ms * 10)))]!++;
    this.count++;
    if (failed) this.failed++;
  }

  /** Quantile `q` (0..1) in ms, to 0.1 ms; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return i / 10;
    }
    return 10_000;
  }
}

/** Calls of the current second, per backend id; `take()` hands them over and starts afresh. */
export class SecondStats {
  private perBackend = new Map<string, Bucket>();
  private all: Bucket = { latencies: [], errors: 0 };

  /** Records a call answered by (or failed on) `backendId` (undefined: failed before reaching one). */
  record(backendId: string | undefined, ms: number, failed: boolean): void {
    this.all.latencies.push(ms);
    if (failed) this.all.errors++;
    if (backendId === undefined) return;
    let b = this.perBackend.get(backendId);
    if (!b) this.perBackend.set(backendId, (b = { latencies: [], errors: 0 }));
    b.latencies.push(ms);
    if (failed) b.errors++;
  }

  /** The second's calls, then resets. */
  take(): { perBackend: Map<string, Bucket>; all: Bucket } {
    const out = { perBackend: this.perBackend, all: this.all };
    this.perBackend = new Map();
    this.all = { latencies: [], errors: 0 };
    return out;
  }
}

/** ANSI styling, or none (plain text for logs). */
export interface Style {
  /** Green: SERVING. */
  green(s: string): string;
  /** Yellow: NOT_SERVING. */
  yellow(s: string): string;
  /** Red: errors. */
  red(s: string): string;
  /** Dim: gone backends. */
  dim(s: string): string;
  /** Bold cyan: the story's captions. */
  caption(s: string): string;
}

/** ANSI colours when `tty`, identity otherwise. */
export function makeStyle(tty: boolean): Style {
  const wrap = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { green: wrap('32'), yellow: wrap('33'), red: wrap('31'), dim: wrap('2'), caption: wrap('1;36') };
}

const ms = (v: number) => (Number.isNaN(v) ? '     -' : v.toFixed(1).padStart(6));

/** The lines of one second of the live view: one per backend (in `order`), then the totals. */
export function renderSecond(
  second: number,
  order: readonly string[],
  health: ReadonlyMap<string, BackendHealth>,
  stats: ReturnType<SecondStats['take']>,
  style: Style,
  totalFailed: number,
): string[] {
  const width = Math.max(12, ...order.map((id) => id.length));
  const sum = stats.all.latencies.length;
  const t = `[${String(second).padStart(3)}s]`;
  const line = (name: string, state: string, b: Bucket, suffix = '') => {
    const sorted = [...b.latencies].sort((x, y) => x - y);
    const share = sum === 0 ? 0 : (b.latencies.length / sum) * 100;
    const err = `errors ${b.errors}${suffix}`;
    return (
      `${t} ${name.padEnd(width)}  ${state}  ${share.toFixed(0).padStart(3)}%  ${String(b.latencies.length).padStart(6)} rps` +
      `  p50 ${ms(quantile(sorted, 0.5))} ms  p99 ${ms(quantile(sorted, 0.99))} ms  ${b.errors > 0 ? style.red(err) : err}`
    );
  };
  const lines = order.map((id) => {
    const h = health.get(id) ?? 'gone';
    const label = h.padEnd(11);
    const state = h === 'SERVING' ? style.green(label) : h === 'NOT_SERVING' ? style.yellow(label) : style.dim(label);
    const b = stats.perBackend.get(id) ?? { latencies: [], errors: 0 };
    const text = line(id, state, b);
    return h === 'gone' && b.latencies.length === 0 ? style.dim(text) : text;
  });
  lines.push(line('total', ' '.repeat(11), stats.all, ` (failed so far ${totalFailed})`));
  return lines;
}
