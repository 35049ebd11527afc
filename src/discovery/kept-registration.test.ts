import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeptRegistration, type RefreshResult } from './kept-registration.js';

const instance = { service: 's', instanceId: 'i', address: '127.0.0.1:1' };
const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

describe('KeptRegistration', () => {
  it('retries a failing put with backoff, refreshes, re-registers when lost, and removes on close', async () => {
    const calls: string[] = [];
    let putFailures = 2;
    let refreshResult: RefreshResult = 'ok';
    const states: string[] = [];
    const logs: string[] = [];
    const r = new KeptRegistration(
      instance,
      { refreshIntervalMs: 20, backoff: { initialMs: 5, maxMs: 10 }, logger: (level, m) => logs.push(`${level} ${m}`), where: 'test' },
      { onStateChange: (s) => states.push(s.t) },
    ).start({
      put: async () => {
        calls.push('put');
        if (putFailures-- > 0) throw new Error('unreachable');
      },
      refresh: async () => {
        calls.push('refresh');
        return refreshResult;
      },
      remove: async () => {
        calls.push('remove');
      },
    });
    assert.equal(await r.ready, true);
    assert.deepEqual(calls.slice(0, 3), ['put', 'put', 'put']);
    assert.equal(logs.filter((l) => l.startsWith('error') && l.includes('failed: unreachable')).length, 1, 'one log line per outage');
    assert.ok(logs.some((l) => l.includes('recovered after')));
    await settle(50);
    assert.ok(calls.includes('refresh'));
    refreshResult = 'lost';
    await settle(50);
    refreshResult = 'ok';
    assert.ok(states.includes('registering') && states.lastIndexOf('registered') > states.indexOf('registering'), states.join(','));
    await r.close();
    assert.equal(calls.at(-1), 'remove');
    assert.equal(r.state.t, 'closed');
    const count = calls.length;
    await settle(50);
    assert.equal(calls.length, count, 'nothing runs after close');
  });

  it('waits for a put in flight before removing, and resolves ready false when closed first', async () => {
    let release!: () => void;
    const order: string[] = [];
    const r = new KeptRegistration(instance, { refreshIntervalMs: 1000, logger: () => undefined, where: 'test' }).start({
      put: () => new Promise<void>((resolve) => (release = () => (order.push('put done'), resolve()))),
      refresh: async () => 'ok',
      remove: async () => {
        order.push('remove');
      },
    });
    await settle(10);
    const closing = r.close();
    release();
    await closing;
    assert.deepEqual(order, ['put done', 'remove']);
    assert.equal(await r.ready, false);
  });
});
