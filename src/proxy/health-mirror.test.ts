import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointCondition } from '../core/health/endpoint-condition.js';
import type { OutlierEjectionSettings } from '../core/health/outlier-detector.js';
import { DEFAULT_HEALTH_SETTINGS, type HealthSettings } from '../core/health/health-defaults.js';
import { HealthMirror } from './health-mirror.js';
import { toWall, type ClusterHealthDelta, type SharedBackend } from './health-snapshot.js';

const HEALTHY: EndpointCondition = { t: 'healthy', checked: true };
const backend = (condition: EndpointCondition, extra: Partial<SharedBackend> = {}): SharedBackend => ({
  condition,
  healthySince: Number.NEGATIVE_INFINITY,
  ejection: null,
  ...extra,
});
const delta = (backends: [string, SharedBackend][]): ClusterHealthDelta => ({
  backends,
  panic: false,
  rampUntil: Number.NEGATIVE_INFINITY,
  oldestHealthySince: Number.NEGATIVE_INFINITY,
  counters: null,
});

describe('HealthMirror (a worker\'s copy of the primary\'s view)', () => {
  it('picks by the worse of the primary\'s condition and this worker\'s connection', () => {
    const mirror = new HealthMirror(DEFAULT_HEALTH_SETTINGS, () => {});
    const now = performance.now();
    mirror.apply(
      delta([
        ['up', backend(HEALTHY)],
        ['ejected', backend({ t: 'ejected', reason: '5 consecutive UNAVAILABLE' }, { ejection: { kind: 'consecutive_failures', reason: '5 consecutive UNAVAILABLE', at: toWall(now), until: toWall(now + 30_000) } })],
        ['not-serving', backend({ t: 'not_serving', status: 'NOT_SERVING' })],
        ['cut-off-here', backend(HEALTHY)],
      ]),
    );
    mirror.setEndpoints(['up', 'ejected', 'not-serving', 'cut-off-here', 'unknown']);
    const local: Record<string, EndpointCondition> = { 'cut-off-here': { t: 'transient_failure', error: 'ECONNREFUSED' } };
    mirror.recompute((key) => local[key] ?? { t: 'healthy' });
    assert.deepEqual(mirror.conditionOf('up'), HEALTHY);
    assert.equal(mirror.conditionOf('ejected')?.t, 'ejected');
    assert.equal(mirror.conditionOf('not-serving')?.t, 'not_serving');
    assert.equal(mirror.conditionOf('cut-off-here')?.t, 'transient_failure');
    assert.deepEqual(mirror.conditionOf('unknown'), { t: 'connecting', settled: false }, 'the primary has not said yet: wait');
    const ejection = mirror.ejectionOf('ejected')!;
    assert.ok(Math.abs(ejection.until - (now + 30_000)) < 1, 'the return time reads on this process\'s clock');
    assert.deepEqual(mirror.describeEjections(), ['1 ejected (5 consecutive UNAVAILABLE)']);
  });

  it('sends call results to the primary only when outlier ejection is on', () => {
    const sent: [string, number, number][] = [];
    const off = new HealthMirror(DEFAULT_HEALTH_SETTINGS, (key, code, count) => void sent.push([key, code, count]));
    off.recordResult('a', 14);
    assert.equal(off.counting, false);
    assert.equal(sent.length, 0);
    const settings: HealthSettings = { ...DEFAULT_HEALTH_SETTINGS, outlierEjection: {} as OutlierEjectionSettings };
    const on = new HealthMirror(settings, (key, code, count) => void sent.push([key, code, count]));
    on.recordResult('a', 14);
    on.close();
    on.recordResult('a', 14);
    assert.deepEqual(sent, [['a', 14, 1]]);
  });
});
