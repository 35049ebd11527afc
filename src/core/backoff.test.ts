import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HEALTH_CHECK_BACKOFF } from './health/health-defaults.js';
import { Backoff } from './backoff.js';

describe('backoff (gRPC connection backoff: 1 s, × 1.6, jitter 0.2, max 120 s)', () => {
  it('grows by 1.6 up to 120 s, jittered by ±20 %, and resets', () => {
    const mid = new Backoff(HEALTH_CHECK_BACKOFF, () => 0.5);
    const delays = Array.from({ length: 14 }, () => Math.round(mid.next()));
    assert.deepEqual(delays.slice(0, 4), [1000, 1600, 2560, 4096]);
    assert.equal(delays.at(-1), 120_000);
    assert.equal(Math.round(new Backoff(HEALTH_CHECK_BACKOFF, () => 0).next()), 800);
    assert.equal(Math.round(new Backoff(HEALTH_CHECK_BACKOFF, () => 0.999999).next()), 1200);
    mid.reset();
    assert.equal(mid.next(), 1000);
  });
});
