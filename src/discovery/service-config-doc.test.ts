import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServiceConfigDocument, serviceConfigText } from './service-config-doc.js';

describe('central service config documents', () => {
  it('accepts gRPC service configs with grpc-ha and grpc-js policies, retry policies and health check names', () => {
    const doc = {
      loadBalancingConfig: [{ peak_ewma: { decayMs: 5000 } }, { round_robin: {} }],
      methodConfig: [{ name: [{ service: 'grpcha.example.v1.Echo' }], retryPolicy: { maxAttempts: 3, initialBackoff: '0.1s', maxBackoff: '1s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] } }],
      healthCheckConfig: { serviceName: 'grpcha.example.v1.Echo' },
    };
    const result = parseServiceConfigDocument(JSON.stringify(doc));
    assert.equal(result.ok, true, JSON.stringify(result));
  });

  it('rejects invalid documents with the reason', () => {
    const cases: [unknown, RegExp][] = [
      ['{', /not JSON/],
      ['[1]', /must be a JSON object/],
      [{ loadBalancingConfig: [{ least_request: { choiceCount: 1 } }] }, /loadBalancingConfig\[0\] \(least_request\).*choiceCount/],
      [{ loadBalancingConfig: [{ no_such_policy: {} }] }, /no loadBalancingConfig entry names a registered policy/],
      [{ methodConfig: [{ name: [{ service: 'x' }], retryPolicy: { maxAttempts: 1 } }] }, /retry|maxAttempts/i],
    ];
    for (const [doc, reason] of cases) {
      const result = parseServiceConfigDocument(typeof doc === 'string' ? doc : (doc as object));
      assert.equal(result.ok, false, JSON.stringify(doc));
      assert.match((result as { reason: string }).reason, reason);
    }
    assert.throws(() => serviceConfigText('greeter', '{'), /INVALID_CONFIG|service config of greeter: not JSON/);
  });
});
