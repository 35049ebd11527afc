/**
 * Distinct random sampling for the "power of d choices" pickers, without allocation: the picker
 * owns a scratch buffer sized to its choice count.
 */
import { randomIndex, type RandomSource } from './picker.js';

/**
 * Fills `out[0..k)` with k distinct uniform indices in [0, n) (k <= n) and returns k.
 * Distinct, not with replacement as gRFC A48 words it: with replacement, on 3 endpoints a
 * saturated endpoint is still chosen whenever both draws land on it — 1 pick in 9.
 */
export function sampleDistinct(random: RandomSource, n: number, k: number, out: Int32Array): number {
  if (k >= n) {
    // All of them, from a random offset: pickers keep the first of equal candidates, and a fixed
    // order would send every tie (2 endpoints, one call at a time) to endpoint 0.
    const start = randomIndex(random, n);
    for (let i = 0, j = start; i < n; i++, j = j + 1 === n ? 0 : j + 1) out[i] = j;
    return n;
  }
  if (k === 2) {
    // Floyd's method for two: the second draw skips the first index.
    const a = randomIndex(random, n);
    let b = randomIndex(random, n - 1);
    if (b >= a) b += 1;
    out[0] = a;
    out[1] = b;
    return 2;
  }
  // k <= 10 (A48 clamp), so rejection with a linear duplicate check is cheap.
  let filled = 0;
  while (filled < k) {
    const c = randomIndex(random, n);
    let dup = false;
    for (let j = 0; j < filled; j++) {
      if (out[j] === c) {
        dup = true;
        break;
      }
    }
    if (!dup) out[filled++] = c;
  }
  return k;
}
