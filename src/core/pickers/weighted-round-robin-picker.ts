/**
 * `static_weighted_round_robin`: static weights, spread evenly over time — no bursts to one
 * endpoint. The order is Envoy's earliest-deadline-first schedule (each endpoint's next deadline
 * advances by 1/weight), computed once per snapshot into a table so `pick()` is O(1): one array
 * read and one increment.
 */
import { randomIndex, type EndpointPicker, type PickerFactory } from './picker.js';

/** Options of the static weighted round robin picker. */
export interface WeightedRoundRobinOptions {
  /**
   * Longest schedule table. When the weights (reduced by their greatest common divisor) sum to
   * more, they are scaled down proportionally, every endpoint keeping at least one slot.
   * Defaults to 65536.
   */
  readonly maxScheduleLength?: number;
}

/** Default longest schedule table. */
export const DEFAULT_MAX_SCHEDULE_LENGTH = 65_536;

/** Builds a smooth static weighted round robin picker. */
export const createWeightedRoundRobinPicker: PickerFactory<WeightedRoundRobinOptions> = (
  endpoints,
  options,
  env,
): EndpointPicker => {
  const schedule = buildEdfSchedule(
    endpoints.map((e) => e.weight),
    options.maxScheduleLength ?? DEFAULT_MAX_SCHEDULE_LENGTH,
  );
  const length = schedule.length;
  // A random start so that many clients with the same weights do not hit the same endpoint together.
  let next = randomIndex(env.random, length);
  return {
    pick: () => {
      const i = schedule[next]!;
      next = next + 1 === length ? 0 : next + 1;
      return i;
    },
  };
};

/**
 * One period of the EDF schedule: endpoint i appears `slots_i` times, evenly interleaved.
 * Weights are turned into integer slot counts first (exact for integer weights whose reduced sum
 * fits in `maxLength`).
 */
export function buildEdfSchedule(weights: readonly number[], maxLength: number): Int32Array {
  const slots = slotCounts(weights, maxLength);
  const length = slots.reduce((a, b) => a + b, 0);
  const schedule = new Int32Array(length);
  // Binary min-heap of endpoints keyed by (deadline, index). The k-th slot of endpoint i is due at
  // (k + phase_i) / slots_i. Envoy's EDF uses phase 1 for all, which puts every heavy endpoint's
  // slots first ("aaaaabc" for 5:1:1); staggered phases interleave them ("aaabaac").
  const n = slots.length;
  const heap = Int32Array.from({ length: n }, (_, i) => i);
  const deadline = new Float64Array(n);
  const phase = new Float64Array(n);
  const served = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    phase[i] = (i + 0.5) / n;
    deadline[i] = phase[i]! / slots[i]!;
  }
  const less = (a: number, b: number) => deadline[a]! < deadline[b]! || (deadline[a] === deadline[b] && a < b);
  const siftDown = (pos: number) => {
    for (;;) {
      const l = 2 * pos + 1;
      const r = l + 1;
      let m = pos;
      if (l < n && less(heap[l]!, heap[m]!)) m = l;
      if (r < n && less(heap[r]!, heap[m]!)) m = r;
      if (m === pos) return;
      const t = heap[pos]!;
      heap[pos] = heap[m]!;
      heap[m] = t;
      pos = m;
    }
  };
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(i);
  for (let k = 0; k < length; k++) {
    const top = heap[0]!;
    schedule[k] = top;
    served[top] = served[top]! + 1;
    deadline[top] = (served[top]! + phase[top]!) / slots[top]!;
    siftDown(0);
  }
  return schedule;
}

/** Integer slots per endpoint, proportional to the weights, each >= 1, summing to at most about `maxLength`. */
function slotCounts(weights: readonly number[], maxLength: number): number[] {
  const allIntegers = weights.every((w) => Number.isInteger(w));
  if (allIntegers) {
    const g = weights.reduce((a, b) => gcd(a, b));
    const reduced = weights.map((w) => w / g);
    if (reduced.reduce((a, b) => a + b, 0) <= maxLength) return reduced;
  }
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => Math.max(1, Math.round((w / total) * maxLength)));
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
