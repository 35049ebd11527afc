/** Health config is validated where it enters, with errors naming the policy, the field and the rule. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GrpcHaError } from '../src/core/errors.js';
import { policyChannelOptions, type LoadBalancingConfigEntry, type ServiceConfigExtras } from '../src/grpc/service-config.js';
import { parseHealthAwareConfig } from '../src/grpc/health-aware-policy.js';
import { healthCheckServiceName } from '../src/core/health/health-config.js';
import { registerPolicies } from '../src/grpc/register-policies.js';

function rejects(entry: Record<string, object>, message: string, extras: ServiceConfigExtras = {}) {
  assert.throws(
    () => policyChannelOptions(entry as LoadBalancingConfigEntry, {}, extras),
    (e: unknown) => e instanceof GrpcHaError && e.code === 'INVALID_CONFIG' && e.message === message,
    `expected: ${message}`,
  );
}

describe('health config validation', () => {
  it('rejects bad outlier ejection fields on a grpc-ha policy', () => {
    rejects({ least_request: { outlierEjection: { maxEjectionPercent: 120 } } }, 'least_request: outlierEjection.maxEjectionPercent must be a number in [0, 100], got 120');
    rejects({ random: { outlierEjection: { consecutiveFailures: -1 } } }, 'random: outlierEjection.consecutiveFailures must be an integer >= 0, got -1');
    rejects(
      { random: { outlierEjection: { baseEjectionTimeMs: 60_000, maxEjectionTimeMs: 30_000 } } },
      'random: outlierEjection.maxEjectionTimeMs must be >= baseEjectionTimeMs, got 30000',
    );
    rejects(
      { random: { outlierEjection: { failureCodes: ['UNAVAILABLE', 'OK'] } } },
      'random: outlierEjection.failureCodes.1 must be a non-empty list of gRPC status code names other than OK, such as "UNAVAILABLE", got "OK"',
    );
    rejects({ random: { outlierEjection: { failurePercentage: { treshold: 80 } } } }, 'random: unknown field treshold in outlierEjection.failurePercentage; did you mean "threshold"? (outlierEjection.failurePercentage takes threshold, enforcementPercent, minimumHosts, requestVolume)');
    rejects({ random: { outlierEjection: { successRate: { minimumHosts: 1.5 } } } }, 'random: outlierEjection.successRate.minimumHosts must be an integer >= 0, got 1.5');
  });
  it('rejects bad slow start and panic threshold', () => {
    rejects({ peak_ewma: { slowStart: {} } }, 'peak_ewma: slowStart.windowMs must be an integer >= 1000, got nothing');
    rejects({ peak_ewma: { slowStart: { windowMs: 500 } } }, 'peak_ewma: slowStart.windowMs must be an integer >= 1000, got 500');
    rejects({ peak_ewma: { slowStart: { windowMs: 5000, aggression: 0 } } }, 'peak_ewma: slowStart.aggression must be a number > 0, got 0');
    rejects({ ring_hash: { panicThresholdPercent: 'half' } }, 'ring_hash: panicThresholdPercent must be a number in [0, 100], got "half"');
  });
  it('rejects a bad health_aware wrapper', () => {
    rejects({ health_aware: {} }, 'health_aware: childPolicy must be a non-empty list of load balancing configs, e.g. [{"round_robin": {}}], got nothing');
    rejects({ health_aware: { childPolicy: [] } }, 'health_aware: childPolicy must be a non-empty list of load balancing configs, e.g. [{"round_robin": {}}], got []');
    rejects({ health_aware: { childPolicy: [{ no_such_policy: {} }] } }, 'health_aware: childPolicy has no registered policy, got ["no_such_policy"]');
    rejects({ health_aware: { childPolicy: [{ least_request: { choiceCount: 1 } }] } }, 'health_aware: childPolicy.0.least_request: choiceCount must be an integer >= 2, got 1');
    rejects(
      { health_aware: { childPolicy: [{ least_request: { slowStart: { windowMs: 2000 } } }] } },
      'health_aware: childPolicy.0.least_request sets slowStart: configure health on health_aware or on least_request, not both',
    );
    rejects({ health_aware: { childPolicy: [{ round_robin: {} }], panicTreshold: 5 } }, 'health_aware: unknown field panicTreshold; did you mean "panicThresholdPercent"? (valid fields: childPolicy, outlierEjection, slowStart, panicThresholdPercent)');
  });
  it('rejects a healthCheckConfig without a string serviceName', () => {
    rejects(
      { round_robin: {} },
      'healthCheckConfig: serviceName must be a string (the name the server reports health for; "" for the whole server), got 7',
      { healthCheckConfig: { serviceName: 7 as unknown as string } },
    );
  });
  it('accepts valid configs and puts healthCheckConfig in the service config (A17)', () => {
    const options = policyChannelOptions(
      { health_aware: { childPolicy: [{ round_robin: {} }], outlierEjection: { successRate: {} }, slowStart: { windowMs: 30_000 } } },
      {},
      { healthCheckConfig: { serviceName: 'greeter.Greeter' } },
    );
    const config = JSON.parse(options['grpc.service_config']!);
    assert.deepEqual(config.healthCheckConfig, { serviceName: 'greeter.Greeter' });
    assert.equal(healthCheckServiceName(options['grpc.service_config']), 'greeter.Greeter');
    assert.equal(healthCheckServiceName(JSON.stringify({ loadBalancingConfig: [] })), null);
  });
  it('applies the documented defaults', () => {
    registerPolicies();
    const config = parseHealthAwareConfig({ childPolicy: [{ round_robin: {} }], outlierEjection: {} });
    const o = config.health.outlierEjection!;
    assert.equal(o.intervalMs, 10_000);
    assert.equal(o.baseEjectionTimeMs, 30_000);
    assert.equal(o.maxEjectionTimeMs, 300_000);
    assert.equal(o.maxEjectionPercent, 10);
    assert.equal(o.consecutiveFailures, 5);
    assert.deepEqual([...o.failureCodes].sort((a, b) => a - b), [2, 4, 8, 13, 14, 15]);
    assert.equal(o.successRate, null, 'A50: off unless configured');
    assert.equal(o.failurePercentage, null, 'A50: off unless configured');
    assert.equal(config.health.panicThresholdPercent, 50);
    assert.equal(config.health.slowStart, null);
    const sr = parseHealthAwareConfig({ childPolicy: [{ round_robin: {} }], outlierEjection: { successRate: {}, failurePercentage: {} } }).health.outlierEjection!;
    assert.deepEqual(sr.successRate, { stdevFactor: 1900, enforcementPercent: 100, minimumHosts: 5, requestVolume: 100 });
    assert.deepEqual(sr.failurePercentage, { threshold: 85, enforcementPercent: 100, minimumHosts: 5, requestVolume: 50 });
  });
});
