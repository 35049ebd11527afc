import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CODES, GrpcHaError } from '../core/errors.js';
import type { ServiceInstance } from './instance.js';
import type { WatchHandler } from './registry.js';
import { WatchHub } from './watch-hub.js';

const instance = (port: number): ServiceInstance => ({ service: 's', instanceId: `i${port}`, address: `127.0.0.1:${port}` });

function recorder() {
  const events: string[] = [];
  const handler: WatchHandler = {
    instances: (list) => events.push(`instances ${list.map((i) => i.instanceId).join(',')}`),
    config: (doc) => events.push(`config ${doc}`),
    error: (e) => events.push(`error ${e.code}`),
  };
  return { events, handler };
}

describe('WatchHub', () => {
  it('shares one backend watch per query, replays the last state, and stops with the last subscriber', async () => {
    let sink: WatchHandler | undefined;
    let started = 0;
    let stopped = 0;
    const hub = new WatchHub((_q, s) => {
      started++;
      sink = s;
      return { stop: () => stopped++ };
    }, () => undefined);
    const first = recorder();
    const unsubscribeFirst = hub.watch({ service: 's' }, first.handler);
    sink!.instances([instance(1)]); // held back: the config is not known yet
    assert.deepEqual(first.events, []);
    sink!.config(null);
    assert.deepEqual(first.events, ['config null', 'instances i1']);
    sink!.instances([instance(1)]); // unchanged: not passed on
    assert.equal(first.events.length, 2);

    const second = recorder();
    const unsubscribeSecond = hub.watch({ service: 's', tags: [] }, second.handler);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(second.events, ['config null', 'instances i1']);
    assert.equal(started, 1);

    unsubscribeFirst();
    assert.equal(stopped, 0);
    unsubscribeSecond();
    assert.equal(stopped, 1);
    assert.equal(hub.size, 0);
  });

  it('releases held instances when the registry fails before the config arrives', () => {
    let sink: WatchHandler | undefined;
    const hub = new WatchHub((_q, s) => ((sink = s), { stop: () => undefined }), () => undefined);
    const r = recorder();
    hub.watch({ service: 's' }, r.handler);
    sink!.instances([instance(2)]);
    sink!.error(new GrpcHaError(ERROR_CODES.REGISTRY_UNAVAILABLE, 'down'));
    assert.deepEqual(r.events, ['instances i2', 'error REGISTRY_UNAVAILABLE']);
  });

  it('keeps fanning out when one handler throws', () => {
    let sink: WatchHandler | undefined;
    const logged: string[] = [];
    const hub = new WatchHub((_q, s) => ((sink = s), { stop: () => undefined }), (_l, m) => logged.push(m));
    const r = recorder();
    hub.watch({ service: 's' }, { ...r.handler, config: () => { throw new Error('boom'); } });
    const other = recorder();
    hub.watch({ service: 's' }, other.handler);
    sink!.config('{}');
    assert.deepEqual(other.events, ['config {}']);
    assert.ok(logged.some((m) => m.includes('boom')));
  });
});
