/** The token bucket against a scripted clock: burst, spending below zero, refill at the rate, cap. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from './token-bucket.js';

describe('token bucket', () => {
  it('starts full, refills at its rate up to the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 33, () => now);
    assert.equal(bucket.available(), 1000);
    for (let i = 0; i < 990; i++) bucket.take();
    assert.equal(bucket.available(), 10);
    now = 1000;
    assert.equal(bucket.available(), 43);
    bucket.take(50);
    assert.equal(bucket.available(), -7);
    now = 500_000;
    assert.equal(bucket.available(), 1000, 'capped at the burst');
  });
});
