import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GrpcHaError } from '../src/core/errors.js';
import { policyChannelOptions, type LoadBalancingConfigEntry } from '../src/grpc/service-config.js';

function rejects(entry: Record<string, object> | string, message: string) {
  assert.throws(
    () => policyChannelOptions(entry as LoadBalancingConfigEntry),
    (e: unknown) => e instanceof GrpcHaError && e.code === 'INVALID_CONFIG' && e.message === message,
    `expected: ${message}`,
  );
}

function lbConfig(entry: Record<string, object> | string): unknown {
  return JSON.parse(policyChannelOptions(entry as LoadBalancingConfigEntry)['grpc.service_config']!).loadBalancingConfig[0];
}

describe('policy config validation names the policy, the field and the rule', () => {
  it('rejects least_request choiceCount below 2 (gRFC A48)', () => {
    rejects({ least_request: { choiceCount: 1 } }, 'least_request: choiceCount must be an integer >= 2, got 1');
    rejects({ least_request: { choiceCount: 2.5 } }, 'least_request: choiceCount must be an integer >= 2, got 2.5');
    rejects({ least_request: { choiceCount: '3' } }, 'least_request: choiceCount must be an integer >= 2, got "3"');
  });
  it('rejects unknown fields instead of ignoring a typo', () => {
    rejects({ least_request: { choicecount: 3 } }, 'least_request: unknown field choicecount; did you mean "choiceCount"? (valid fields: choiceCount, activeRequestBias, weights, outlierEjection, slowStart, panicThresholdPercent)');
  });
  it('rejects weights that are not positive numbers', () => {
    rejects(
      { weighted_random: { weights: { '127.0.0.1:1': -1 } } },
      'weighted_random: weights.127.0.0.1:1 must be a number > 0, got -1',
    );
  });
  it('rejects a ring whose max is below its min, and bad hash headers', () => {
    rejects({ ring_hash: { minRingSize: 2048, maxRingSize: 1024 } }, 'ring_hash: maxRingSize must be >= minRingSize, got 1024');
    rejects(
      { ring_hash: { requestHashHeader: 'X-User' } },
      'ring_hash: requestHashHeader must be a lowercase metadata key (letters, digits, "-", "_", "."), not ending in "-bin", got "X-User"',
    );
  });
  it('rejects peak_ewma settings out of range', () => {
    rejects({ peak_ewma: { decayMs: 0 } }, 'peak_ewma: decayMs must be a number > 0, got 0');
    rejects({ peak_ewma: { failurePenalty: 0.5 } }, 'peak_ewma: failurePenalty must be a number >= 1, got 0.5');
  });
  it('rejects unknown policy names and malformed entries', () => {
    rejects(
      'least_requests',
      'unknown load balancing policy "least_requests"; did you mean "least_request"? (grpc-ha: random, weighted_random, static_weighted_round_robin, least_request, peak_ewma, ring_hash, health_aware; grpc-js: round_robin, pick_first, weighted_round_robin)',
    );
    rejects({ random: {}, least_request: {} }, 'loadBalancingConfig entry must have exactly one policy name, such as { least_request: {} }, got {"random":{},"least_request":{}}');
  });
  it('accepts valid configs, bare names, and grpc-js policies', () => {
    assert.deepEqual(lbConfig('peak_ewma'), { peak_ewma: {} });
    assert.deepEqual(lbConfig({ least_request: { choiceCount: 20 } }), { least_request: { choiceCount: 20 } });
    assert.deepEqual(lbConfig({ round_robin: {} }), { round_robin: {} });
  });
  it('keeps other service config fields given in the base options', () => {
    const options = policyChannelOptions('random', {
      'grpc.service_config': JSON.stringify({ methodConfig: [{ name: [{ service: 'a.B' }], timeout: '1s' }] }),
    });
    const parsed = JSON.parse(options['grpc.service_config']!);
    assert.equal(parsed.methodConfig[0].timeout, '1s');
    assert.deepEqual(parsed.loadBalancingConfig, [{ random: {} }]);
  });
});
