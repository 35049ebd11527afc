/**
 * Live load of one endpoint: calls in flight and a peak-sensitive EWMA of latency.
 * The balancer owns one per endpoint and keeps it across picker snapshots, so a picker
 * rebuilt on a connectivity change still sees the calls already in flight.
 */

/** Live load of one endpoint, shared by the balancer (writer) and its pickers (readers). */
export class EndpointLoad {
  /** Calls started and not yet ended. */
  inFlight = 0;
  /** Latency estimate in ms as of `updatedAt`; `NaN` until the first sample. */
  rttMs = Number.NaN;
  /** Clock time (ms) of the last estimate update. */
  updatedAt = 0;
  /** Total calls ended, for the admin view and tests. */
  completed = 0;
  /** Total calls ended with a status counted as failure. */
  failed = 0;
  /**
   * Plain EWMA of latency (no peak, no decay toward zero), ms; `NaN` until the first sample.
   * Pickers tell slow endpoints from fast ones by it: a peak-sensitive estimate carries every
   * client-side hiccup (a GC pause delays all calls in flight), a mean of the same samples much less.
   */
  meanMs = Number.NaN;
  /** Latency samples folded in since the endpoint was first (or again) learnt; below WARMUP_SAMPLES it is being learnt. */
  samples = 0;
  /** The latest sample, ms (a failure's with its penalty); `NaN` until the first. */
  lastMs = Number.NaN;
  /**
   * Clock time (ms) a picker last sent this endpoint a probe. The one field pickers write: calls
   * count as in flight only once they start (asynchronously, after the pick), so without it a
   * burst of picks in one tick would all take the same probe.
   */
  probedAt = Number.NEGATIVE_INFINITY;
  /** The samples of the current warm-up, kept sorted (the first `samples` of them). */
  private readonly warmup = new Float64Array(WARMUP_SAMPLES);
  /** Clock time (ms) the current warm-up ended; +Infinity while it lasts. */
  private learntAt = Number.POSITIVE_INFINITY;

  /**
   * Learns the endpoint again from its latest sample on, as if new: its estimates become the
   * median of its next samples and pickers probe it as a new one. For an endpoint whose mean says
   * slow while its latest answer says otherwise: at one sample in fifty, a mean built on a cold
   * start's answers would take a minute of one-a-second probes to come down.
   */
  relearn(): void {
    this.samples = 1;
    this.warmup[0] = this.lastMs;
    this.learntAt = Number.POSITIVE_INFINITY;
  }

  /** Records a call start. */
  start(): void {
    this.inFlight += 1;
  }

  /**
   * Records a call end. `latencyMs` is undefined when the call carries no latency signal
   * (e.g. cancelled by the caller); `failed` marks a server-side failure.
   */
  end(now: number, latencyMs: number | undefined, failed: boolean, ewma: EwmaSettings): void {
    if (this.inFlight > 0) this.inFlight -= 1;
    this.completed += 1;
    if (failed) this.failed += 1;
    if (latencyMs === undefined) return;
    let sample = latencyMs;
    if (failed) {
      // A fast failure must not look like a fast success (Linkerd's known weakness): a failure
      // counts as at least `failurePenalty` times the current estimate, so an endpoint that keeps
      // failing sees its cost grow geometrically and drops out of P2C choices.
      const estimate = this.estimate(now, ewma.decayMs);
      const base = Math.max(Number.isNaN(estimate) ? 0 : estimate, ewma.defaultRttMs, latencyMs);
      sample = Math.min(base * ewma.failurePenalty, MAX_RTT_MS);
    }
    this.observe(now, sample, ewma.decayMs, ewma.sampleWindow, now - latencyMs);
  }

  /**
   * The latency estimate at `now`. Finagle/tower peak EWMA: between samples the estimate decays
   * toward zero with time constant `decayMs`, so an endpoint that was avoided for being slow is
   * probed again after a while instead of being starved forever.
   */
  estimate(now: number, decayMs: number): number {
    if (Number.isNaN(this.rttMs)) return Number.NaN;
    const elapsed = now - this.updatedAt;
    return elapsed > 0 ? this.rttMs * Math.exp(-elapsed / decayMs) : this.rttMs;
  }

  /** Folds one latency sample into the estimate (of a call started at `startedAt`). */
  observe(now: number, sampleMs: number, decayMs: number, sampleWindow = Number.POSITIVE_INFINITY, startedAt = now - sampleMs): void {
    this.samples += 1;
    this.lastMs = sampleMs;
    if (this.samples <= WARMUP_SAMPLES) {
      // While an endpoint is being learnt both estimates are the median of its warm-up samples: a
      // new process's first answer (connection set-up, a handler run for the first time) can be
      // a hundred times its usual, and a mean or a peak-sensitive estimate seeded with it would
      // keep the endpoint looking slow long after its warm-up (gRFC A58 also ignores a new
      // endpoint's first reports: blackout_period).
      this.rttMs = this.meanMs = insertSortedMedian(this.warmup, this.samples, sampleMs);
      if (this.samples === WARMUP_SAMPLES) this.learntAt = now;
      this.updatedAt = now;
      return;
    }
    const meanWeight = Math.max(1 / sampleWindow, 0.02);
    this.meanMs = this.meanMs + (sampleMs - this.meanMs) * meanWeight;
    const current = this.estimate(now, decayMs);
    // A call started while the endpoint was being learnt and answered after (the slow first call
    // outlasts the warm-up's others) belongs to the warm-up: it is no peak.
    const late = startedAt < this.learntAt;
    if (sampleMs > current && !late) {
      // Peak sensitivity (Finagle PeakEwma): a worse sample takes effect at once.
      this.rttMs = sampleMs;
    } else {
      // Finagle's weight for the new sample is 1 - e^(-dt/decay): with thousands of calls a
      // second each sample weighs ~nothing, and one spike (a GC pause of this client, a cold
      // start) holds a healthy endpoint's estimate up for tens of seconds. A sample therefore
      // weighs at least 1/sampleWindow: a busy endpoint's estimate covers about its last
      // sampleWindow calls, an idle one's the last decayMs.
      const elapsed = Math.max(0, now - this.updatedAt);
      let w = Math.min(Math.exp(-elapsed / decayMs), 1 - 1 / sampleWindow);
      // A sample probed after PROBE_INTERVAL_MS without one weighs at least half: a healthy
      // endpoint's old spike is forgotten within a few calls, not tens of seconds.
      if (elapsed >= PROBE_INTERVAL_MS) w = Math.min(w, 0.5);
      this.rttMs = current * w + sampleMs * (1 - w);
    }
    this.updatedAt = now;
  }
}

/** Inserts `value` into the sorted `values[0..n-1)` (n - 1 of them) and returns the median of the n. */
function insertSortedMedian(values: Float64Array, n: number, value: number): number {
  let i = n - 1;
  while (i > 0 && values[i - 1]! > value) {
    values[i] = values[i - 1]!;
    i--;
  }
  values[i] = value;
  const mid = n >> 1;
  return n & 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/** Parameters of the latency estimate; peak_ewma's config supplies them, other policies the defaults. */
export interface EwmaSettings {
  /** Time constant of the decay, ms. */
  readonly decayMs: number;
  /** Estimate for an endpoint with no sample yet, ms. */
  readonly defaultRttMs: number;
  /** Multiplier applied to the estimate when a call fails. */
  readonly failurePenalty: number;
  /** Calls a busy endpoint's estimate averages over at least; Infinity for Finagle's pure time decay. */
  readonly sampleWindow: number;
}

/**
 * Samples during which an endpoint is still being learnt: pickers probe it with up to
 * MAX_WARMUP_PROBES calls at a time and each sample weighs at least half.
 */
export const WARMUP_SAMPLES = 6;

/** Calls a picker may have in flight to an endpoint still being learnt. */
export const MAX_WARMUP_PROBES = 2;

/**
 * An endpoint with no sample for this long gets one probe call when a picker samples it, so no
 * available endpoint goes unmeasured (or unused) for longer, whatever its estimate says.
 */
export const PROBE_INTERVAL_MS = 1000;

/** Caps the estimate so repeated failure penalties stay finite. */
const MAX_RTT_MS = 60_000;

/** Defaults for the latency estimate (Linkerd/Finagle: decay 10 s). */
export const DEFAULT_EWMA: EwmaSettings = {
  decayMs: 10_000,
  defaultRttMs: 1,
  failurePenalty: 5,
  sampleWindow: 50,
};
