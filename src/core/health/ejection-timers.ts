/**
 * The two timers an outlier detector needs from whoever runs it: the interval timer (A50's
 * "timer [...] every interval", which evaluates success rate and failure percentage) and one
 * timer set to the earliest end of an ejection. Run by the endpoint-set health model
 * (endpoint-set-health.ts) for every front end. Timers are unref'd: a detector
 * never keeps a process alive.
 */
import type { Clock } from '../pickers/picker.js';
import type { OutlierDetector } from './outlier-detector.js';

/** What the timers call. */
export interface EjectionTimerHandlers {
  /** The interval elapsed: run `detector.runInterval()` and act on its ejections. */
  interval(): void;
  /** The earliest ejection may have ended: run `detector.expire()`, then `schedule()` again. */
  expiry(): void;
}

/** Interval and expiry timers of one outlier detector. */
export class EjectionTimers {
  private intervalTimer: NodeJS.Timeout | undefined;
  private intervalMs = 0;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly now: Clock,
    private readonly handlers: EjectionTimerHandlers,
  ) {}

  /** Runs the interval timer every `ms` (0 stops it); unchanged periods keep their phase. */
  setInterval(ms: number): void {
    if (ms === this.intervalMs || this.stopped) return;
    clearInterval(this.intervalTimer);
    this.intervalTimer = undefined;
    this.intervalMs = ms;
    if (ms > 0) {
      this.intervalTimer = setInterval(() => this.handlers.interval(), ms);
      this.intervalTimer.unref();
    }
  }

  /** Sets the expiry timer to the detector's earliest ejection end (none when `detector` is null). */
  schedule(detector: OutlierDetector | null): void {
    const next = detector?.nextExpiry() ?? Number.POSITIVE_INFINITY;
    if (next === this.expiryAt) return;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = next;
    if (!Number.isFinite(next) || this.stopped) return;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expiryAt = Number.POSITIVE_INFINITY;
      if (!this.stopped) this.handlers.expiry();
    }, Math.max(0, Math.ceil(next - this.now())));
    this.expiryTimer.unref();
  }

  /** Stops both timers for good. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.intervalTimer);
    clearTimeout(this.expiryTimer);
  }
}
