/**
 * A token bucket: `burst` tokens to start with and at most, `perSecond` regained every second.
 * The proxy models with it what a backend tolerates of the RST_STREAM frames it receives on one
 * connection (nghttp2's stream_reset_ratelim is such a bucket), so it can stay under it.
 */

/** A token bucket read and spent against a clock (ms; injectable for tests). */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly burst: number,
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Tokens available now (fractional while they refill; negative after overspending). */
  available(): number {
    // Full: nothing to refill, no clock to read (the common case, on every new stream).
    if (this.tokens >= this.burst) return this.burst;
    const now = this.now();
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
      this.at = now;
    }
    return this.tokens;
  }

  /** Spends `n` tokens, whether or not they are there (the caller checks `available()` first). */
  take(n = 1): void {
    const tokens = this.available();
    // A full bucket refills from its first spending on.
    if (tokens >= this.burst) this.at = this.now();
    this.tokens = tokens - n;
  }
}
