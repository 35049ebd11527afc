import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inPanic } from './panic-threshold.js';
import { keepProbability, slowStartFactor } from './slow-start.js';

describe('slow start factor (Envoy)', () => {
  const s = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };
  it('is max(minWeightPercent, max(t, 1 s) / window ^ (1 / aggression)), and 1 after the window', () => {
    assert.equal(slowStartFactor(0, s), 0.1, 'max(t, 1 s) / 10 s = 0.1');
    assert.equal(slowStartFactor(500, { ...s, minWeightPercent: 5 }), 0.1, 'time floors at 1 s');
    assert.equal(slowStartFactor(5000, s), 0.5);
    assert.equal(slowStartFactor(10_000, s), 1);
    assert.equal(slowStartFactor(Number.POSITIVE_INFINITY, s), 1);
    assert.equal(slowStartFactor(2500, { ...s, aggression: 2 }), 0.5, 'aggression 2: sqrt(0.25)');
    assert.equal(slowStartFactor(2000, { ...s, minWeightPercent: 30 }), 0.3, 'never below minWeightPercent');
  });
  it('keep probability scales relative to the most advanced endpoint', () => {
    assert.equal(keepProbability(0.25, 1), 0.25);
    assert.equal(keepProbability(0.25, 0.5), 0.5);
    assert.equal(keepProbability(0.5, 0.5), 1, 'equally new endpoints: no effect (a fresh deployment)');
  });
});

describe('panic threshold (Envoy healthy_panic_threshold)', () => {
  it('panics strictly below the threshold; 0 disables', () => {
    assert.equal(inPanic(1, 3, 50), true);
    assert.equal(inPanic(2, 4, 50), false);
    assert.equal(inPanic(0, 3, 0), false);
    assert.equal(inPanic(0, 0, 50), false, 'no endpoints: nothing to balance');
  });
});
