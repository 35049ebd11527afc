import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointCondition, healthClass, noHealthyEndpointMessage, type SubchannelFacts } from './endpoint-condition.js';

const facts = (over: Partial<SubchannelFacts>): SubchannelFacts => ({
  connectivity: 'READY',
  settled: true,
  lastError: undefined,
  health: { t: 'serving' },
  ...over,
});

describe('endpoint condition', () => {
  it('READY endpoints are as healthy as their health check says', () => {
    const table: [SubchannelFacts, string][] = [
      [facts({ health: { t: 'off' } }), 'healthy'],
      [facts({ health: { t: 'serving' } }), 'healthy'],
      [facts({ health: { t: 'disabled' } }), 'healthy'],
      [facts({ health: { t: 'pending' } }), 'awaiting_health_check'],
      [facts({ health: { t: 'not_serving', status: 'NOT_SERVING' } }), 'not_serving'],
      [facts({ health: { t: 'failing', error: 'INTERNAL: x' } }), 'health_check_failing'],
      [facts({ connectivity: 'CONNECTING', settled: false }), 'connecting'],
      [facts({ connectivity: 'TRANSIENT_FAILURE' }), 'transient_failure'],
    ];
    for (const [f, t] of table) assert.equal(endpointCondition([f], null).t, t, JSON.stringify(f));
  });
  it('ejection wins; otherwise the best subchannel counts', () => {
    assert.deepEqual(endpointCondition([facts({})], '5 consecutive UNAVAILABLE'), { t: 'ejected', reason: '5 consecutive UNAVAILABLE' });
    assert.equal(endpointCondition([facts({ connectivity: 'TRANSIENT_FAILURE' }), facts({})], null).t, 'healthy');
    assert.deepEqual(endpointCondition([], null), { t: 'connecting', settled: false });
  });
  it('for the panic threshold, a first connection attempt or a pending first answer is unknown', () => {
    assert.equal(healthClass({ t: 'connecting', settled: false }), 'unknown');
    assert.equal(healthClass({ t: 'awaiting_health_check' }), 'unknown');
    assert.equal(healthClass({ t: 'connecting', settled: true }), 'unhealthy');
    assert.equal(healthClass({ t: 'ejected', reason: 'x' }), 'unhealthy');
    assert.equal(healthClass({ t: 'healthy' }), 'healthy');
  });
});

describe('no healthy endpoint message', () => {
  it('counts endpoints by condition, as the issue words it', () => {
    const message = noHealthyEndpointMessage('greeter.Greeter', [
      { t: 'not_serving', status: 'NOT_SERVING' },
      { t: 'ejected', reason: '5 consecutive UNAVAILABLE' },
      { t: 'connecting', settled: false },
    ]);
    assert.equal(message, 'no healthy endpoint for greeter.Greeter: 3 known — 1 NOT_SERVING, 1 ejected (5 consecutive UNAVAILABLE), 1 connecting');
  });
  it('groups equal conditions and adds the last error and the resolution note', () => {
    const message = noHealthyEndpointMessage(
      '',
      [
        { t: 'transient_failure', error: 'connect ECONNREFUSED 127.0.0.1:1' },
        { t: 'transient_failure', error: 'connect ECONNREFUSED 127.0.0.1:2' },
      ],
      'from dns',
    );
    assert.equal(message, 'no healthy endpoint: 2 known — 2 TRANSIENT_FAILURE. Last error: connect ECONNREFUSED 127.0.0.1:2 (from dns)');
  });
});
