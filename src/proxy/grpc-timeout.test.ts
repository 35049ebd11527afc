/** grpc-timeout values read and written by the PROTOCOL-HTTP2.md grammar. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.js';

describe('grpc-timeout', () => {
  it('reads every unit and nothing outside the grammar', () => {
    assert.deepEqual(['1H', '2M', '3S', '4m', '5000u', '6000000n', '99999999S', '0m'].map(parseGrpcTimeout), [3_600_000, 120_000, 3000, 4, 5, 6, 99_999_999_000, 0]);
    for (const bad of ['', 'S', '1', '1s', '1e5S', '0x1fS', ' 1S', '1 S', '+1S', '-0S', '1.5S', '123456789m', '１S']) assert.equal(parseGrpcTimeout(bad), null, bad);
  });

  it('writes the finest unit that fits 8 digits, never shorter than asked', () => {
    assert.equal(formatGrpcTimeout(0.2), '1m');
    assert.equal(formatGrpcTimeout(1500.5), '1501m');
    assert.equal(formatGrpcTimeout(99_999_999), '99999999m');
    assert.equal(formatGrpcTimeout(100_000_000), '100000S');
    assert.equal(formatGrpcTimeout(99_999_999_000 + 1), '1666667M');
    assert.equal(formatGrpcTimeout(Number.MAX_SAFE_INTEGER), '99999999H');
  });
});
