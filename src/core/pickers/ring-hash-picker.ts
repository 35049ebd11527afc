/**
 * `ring_hash` (gRFC A42, Envoy RING_HASH): consistent hashing of a request key onto a ring of
 * virtual nodes, so the same key keeps reaching the same endpoint and a membership change moves
 * only the keys of the endpoints that changed. Requests without a key get a random endpoint.
 */
import { hash32 } from './hash.js';
import { randomIndex, type EndpointPicker, type PickerEndpoint, type PickerFactory } from './picker.js';

/** Options of the ring hash picker. */
export interface RingHashOptions {
  /** Smallest ring. Defaults to 1024 (A42). */
  readonly minRingSize: number;
  /** Largest ring. Defaults to 4096 (A42). */
  readonly maxRingSize: number;
}

/** Defaults of the ring hash picker (gRFC A42). */
export const RING_HASH_DEFAULTS: RingHashOptions = { minRingSize: 1024, maxRingSize: 4096 };

/** A built ring: sorted positions and, for each, the endpoint index that owns it. */
export interface Ring {
  /** Virtual nodes per unit of weight this ring was built with. */
  readonly perUnit: number;
  /** "key\0weight" of each endpoint the ring was built for, in order. */
  readonly members: readonly string[];
  /** Ring positions in ascending order. */
  readonly hashes: Uint32Array;
  /** `owners[i]` is the endpoint index at `hashes[i]`. */
  readonly owners: Int32Array;
}

/** A ring hash snapshot; exposes its ring so the next snapshot can keep the same density. */
export interface RingHashPicker extends EndpointPicker {
  /** The ring this snapshot picks from. */
  readonly ring: Ring;
}

/**
 * Builds a ring hash picker. It is given every endpoint, available or not: "if the subchannel
 * [at the ring position] is not READY, the picker moves on to the next ring entry" (A42), so a
 * flapping endpoint lends its keys to its ring neighbours and gets them back, and the rest of the
 * keys never move. The ring is rebuilt only when membership or weights change.
 */
export const createRingHashPicker: PickerFactory<RingHashOptions> = (endpoints, options, env, previous): RingHashPicker => {
  const prior = (previous as Partial<RingHashPicker> | undefined)?.ring;
  const ring = prior && sameMembers(prior, endpoints) ? prior : buildRing(endpoints, options, prior?.perUnit);
  const n = endpoints.length;
  const available: number[] = [];
  endpoints.forEach((e, i) => e.available && available.push(i));
  return {
    ring,
    pick: (hashKey?: string) => {
      if (hashKey === undefined) {
        return available.length > 0 ? available[randomIndex(env.random, available.length)]! : randomIndex(env.random, n);
      }
      const { owners } = ring;
      const size = owners.length;
      const start = lookup(ring, hash32(hashKey));
      for (let k = 0, pos = start; k < size; k++, pos = pos + 1 === size ? 0 : pos + 1) {
        const owner = owners[pos]!;
        if (endpoints[owner]!.available) return owner;
      }
      return owners[start]!; // nothing available: the caller queues or fails the call
    },
  };
};

/** The first ring position at or after `h`, wrapping around: O(log ring size). */
export function lookup(ring: Ring, h: number): number {
  const { hashes } = ring;
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}

/** Whether `ring` was built for exactly these endpoints (keys, order and weights). */
function sameMembers(ring: Ring, endpoints: readonly PickerEndpoint[]): boolean {
  const members = ring.members;
  if (members.length !== endpoints.length) return false;
  return endpoints.every((e, i) => members[i] === `${e.key}\u0000${e.weight}`);
}

/**
 * Places `round(weight × perUnit)` virtual nodes per endpoint (at least one), at hash("key_i").
 * A42 normalises weights so the ring holds exactly [min, max] entries, which changes every
 * endpoint's node count whenever membership changes and so also moves keys among the endpoints
 * that stayed. Here the density `perUnit` carries over from the previous ring (`perUnitHint`) as
 * long as the ring stays within [minRingSize, maxRingSize]: surviving endpoints keep exactly their
 * nodes and only the keys of endpoints that joined or left move (~1/n). Only when the ring would
 * leave those bounds is a new density chosen, a power of two placing the ring near the geometric
 * middle of the bounds so that it can grow or shrink ~1.4-2.8× before the next change.
 */
export function buildRing(endpoints: readonly PickerEndpoint[], options: RingHashOptions, perUnitHint?: number): Ring {
  const { minRingSize, maxRingSize } = options;
  const totalWeight = endpoints.reduce((a, e) => a + e.weight, 0);
  const fits = (p: number) => totalWeight * p >= minRingSize && totalWeight * p <= maxRingSize;
  let perUnit = perUnitHint;
  if (perUnit === undefined || !fits(perUnit)) {
    perUnit = 2 ** Math.round(Math.log2(Math.sqrt(minRingSize * maxRingSize) / totalWeight));
    while (totalWeight * perUnit > maxRingSize) perUnit /= 2;
    while (totalWeight * perUnit * 2 <= maxRingSize && totalWeight * perUnit < minRingSize) perUnit *= 2;
    // Narrow bounds no power of two fits: fill the ring exactly.
    if (!fits(perUnit)) perUnit = maxRingSize / totalWeight;
  }
  const counts = endpoints.map((e) => Math.max(1, Math.round(e.weight * perUnit)));
  const size = counts.reduce((a, b) => a + b, 0);
  const hashes = new Uint32Array(size);
  const ownersUnsorted = new Int32Array(size);
  let k = 0;
  endpoints.forEach((e, i) => {
    for (let j = 0; j < counts[i]!; j++) {
      hashes[k] = hash32(`${e.key}_${j}`);
      ownersUnsorted[k] = i;
      k++;
    }
  });
  // Ties (rare 32-bit collisions) break by endpoint key, which, unlike list position, is stable.
  const order = Array.from({ length: size }, (_, i) => i).sort(
    (a, b) =>
      hashes[a]! - hashes[b]! ||
      (endpoints[ownersUnsorted[a]!]!.key < endpoints[ownersUnsorted[b]!]!.key ? -1 : 1),
  );
  return {
    perUnit,
    members: endpoints.map((e) => `${e.key}\u0000${e.weight}`),
    hashes: Uint32Array.from(order, (i) => hashes[i]!),
    owners: Int32Array.from(order, (i) => ownersUnsorted[i]!),
  };
}
