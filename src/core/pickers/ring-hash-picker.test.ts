import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRing, createRingHashPicker, RING_HASH_DEFAULTS, type RingHashPicker } from './ring-hash-picker.js';
import { seededRandom } from './seeded-random.js';
import { makeEndpoints } from '../../../test/support/test-endpoints.js';

const env = { random: seededRandom(1), now: () => 0 };
const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

/** Which endpoint key owns each test key, for the first `n` test endpoints minus `drop`. */
function owners(n: number, previous?: RingHashPicker, drop?: number): { keyOwners: string[]; picker: RingHashPicker } {
  const eps = makeEndpoints(n).filter((_, i) => i !== drop);
  const picker = createRingHashPicker(eps, RING_HASH_DEFAULTS, env, previous) as RingHashPicker;
  return { keyOwners: keys.map((k) => eps[picker.pick(k)]!.key), picker };
}

describe('ring hash picker (gRFC A42)', () => {
  it('sends the same key to the same endpoint every time', () => {
    const p = createRingHashPicker(makeEndpoints(5), RING_HASH_DEFAULTS, env);
    const first = p.pick('alice');
    for (let i = 0; i < 100; i++) assert.equal(p.pick('alice'), first);
  });

  it('keeps the ring between minRingSize and maxRingSize', () => {
    for (const n of [1, 2, 3, 5, 100, 1000, 3000]) {
      const size = buildRing(makeEndpoints(n), RING_HASH_DEFAULTS).hashes.length;
      assert.ok(size >= 1024 && size <= 4096, `n=${n}: ring size ${size}`);
    }
    assert.equal(buildRing(makeEndpoints(3), { minRingSize: 16, maxRingSize: 16 }).hashes.length, 15);
  });

  it('spreads keys evenly and in proportion to weights', () => {
    const eps = makeEndpoints(3, [1, 1, 2]);
    const p = createRingHashPicker(eps, RING_HASH_DEFAULTS, env);
    const c = [0, 0, 0];
    for (const k of keys) c[p.pick(k)]!++;
    const share = c.map((x) => x / keys.length);
    assert.ok(Math.abs(share[2]! - 0.5) < 0.06, `shares ${share}`);
    assert.ok(Math.abs(share[0]! - 0.25) < 0.06, `shares ${share}`);
  });

  it("moves only the removed endpoint's keys when one of four leaves", () => {
    const before = owners(4);
    const after = owners(4, before.picker, 2);
    const removed = makeEndpoints(4)[2]!.key;
    let moved = 0;
    keys.forEach((k, i) => {
      if (before.keyOwners[i] !== after.keyOwners[i]) {
        moved++;
        assert.equal(before.keyOwners[i], removed, `key ${k} moved between two surviving endpoints`);
      }
    });
    const fraction = moved / keys.length;
    assert.ok(fraction > 0.2 && fraction < 0.3, `moved ${fraction}, expected ~1/4`);
  });

  it('moves ~1/n of keys, all to the newcomer, as endpoints join one by one within the ring bounds', () => {
    let previous = owners(3);
    for (let n = 4; n <= 8; n++) {
      const next = owners(n, previous.picker);
      const newcomer = makeEndpoints(n)[n - 1]!.key;
      const moved = keys.filter((_, i) => next.keyOwners[i] !== previous.keyOwners[i]);
      assert.ok(
        keys.every((_, i) => next.keyOwners[i] === previous.keyOwners[i] || next.keyOwners[i] === newcomer),
        `n=${n}: a key moved to an endpoint that was already there`,
      );
      assert.ok(Math.abs(moved.length / keys.length - 1 / n) < 0.04, `n=${n}: moved ${moved.length / keys.length}`);
      previous = next;
    }
  });

  it('lends an unavailable endpoint\'s keys to its ring neighbours and gives them back', () => {
    const eps = makeEndpoints(4);
    const before = createRingHashPicker(eps, RING_HASH_DEFAULTS, env);
    const owner0 = keys.map((k) => before.pick(k));
    eps[1]!.available = false;
    const during = createRingHashPicker(eps, RING_HASH_DEFAULTS, env, before);
    assert.equal((during as RingHashPicker).ring, (before as RingHashPicker).ring, 'the ring is reused, not rebuilt');
    keys.forEach((k, i) => {
      const now = during.pick(k);
      assert.notEqual(now, 1);
      if (owner0[i] !== 1) assert.equal(now, owner0[i], `key ${k} of an available endpoint moved`);
    });
    eps[1]!.available = true;
    const restored = createRingHashPicker(eps, RING_HASH_DEFAULTS, env, during);
    assert.deepEqual(keys.map((k) => restored.pick(k)), owner0);
  });

  it('picks at random when the request has no key', () => {
    const p = createRingHashPicker(makeEndpoints(4), RING_HASH_DEFAULTS, env);
    const c = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) c[p.pick(undefined)]!++;
    for (const x of c) assert.ok(x > 800, `${c}`);
  });
});
