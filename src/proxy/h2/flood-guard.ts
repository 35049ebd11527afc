/**
 * Per-second budgets of the frames that cost an endpoint work but carry no call (SETTINGS, PING,
 * empty DATA, RST_STREAM: RFC 9113 §10.5 names them as denial-of-service vectors), and of header
 * blocks larger than SETTINGS_MAX_HEADER_LIST_SIZE (each is still walked to keep HPACK in step:
 * "an endpoint ... can be forced to decode a header block ... it will refuse" - RFC 9113 §10.5.1).
 * Past a budget the connection is closed with ENHANCE_YOUR_CALM; the counts restart every second.
 */

/** What is counted. */
export type FloodKind = 'pings' | 'settings' | 'emptyData' | 'oversizedHeaders' | 'resets';

/** Default budgets per second. PINGs and empty DATA are cheap for honest peers (grpc core sends BDP PINGs with data). */
export const FLOOD_BUDGETS: Readonly<Record<Exclude<FloodKind, 'resets'>, number>> = {
  pings: 1000,
  settings: 100,
  emptyData: 1000,
  /** Honest clients learn the advertised limit from SETTINGS and stay under it; a few mistakes a second are tolerated. */
  oversizedHeaders: 10,
};

/** Counts one connection's flood-prone frames. */
export class FloodGuard {
  private windowStart = 0;
  private readonly counts: Record<FloodKind, number> = { pings: 0, settings: 0, emptyData: 0, oversizedHeaders: 0, resets: 0 };

  /** `resets`: streams the peer may reset per second (CVE-2023-44487 "rapid reset"). */
  constructor(private readonly resets: number) {}

  /** Counts one frame of `kind`; returns the budget it exceeded, or 0 while within budget. */
  count(kind: FloodKind): number {
    const now = performance.now();
    if (now - this.windowStart > 1000) {
      this.windowStart = now;
      this.counts.pings = this.counts.settings = this.counts.emptyData = this.counts.oversizedHeaders = this.counts.resets = 0;
    }
    const limit = kind === 'resets' ? this.resets : FLOOD_BUDGETS[kind];
    return ++this.counts[kind] > limit ? limit : 0;
  }
}
