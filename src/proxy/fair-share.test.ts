/** The fair-share rules: stream shares shrink with the active connections, a full queue makes room for a connection below its share, waiting calls are served a connection at a time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAIR_SHARE_FLOOR, FairShares, type SharedCall } from './fair-share.js';
import type { Upstream } from './upstream.js';

// Only the identity of a backend matters to the shares.
const backend = {} as Upstream;
const call = (client: object, name: string): SharedCall & { name: string } => ({ client, name });

describe('fair shares', () => {
  it('gives each active connection ceil(limit / active) of a backend, never less than the floor', () => {
    const shares = new FairShares<SharedCall>(40, 10);
    const [a, b] = [{}, {}];
    for (let i = 0; i < 39; i++) shares.took(a, backend);
    // Alone, a connection may hold the whole backend.
    assert.equal(shares.belowShare(a, backend), true);
    shares.took(b, backend);
    assert.equal(shares.streamShare(), 20);
    assert.equal(shares.belowShare(a, backend), false);
    assert.equal(shares.belowShare(b, backend), true);
    // A connection that gave everything back no longer lowers the others' shares.
    shares.gave(b, backend);
    assert.equal(shares.activeClients, 1);
    assert.equal(shares.streamShare(), 40);
    const many = new FairShares<SharedCall>(10, 10);
    for (let i = 0; i < 20; i++) many.took({}, backend);
    assert.equal(many.streamShare(), FAIR_SHARE_FLOOR);
  });

  it('lets a connection below its share into a full queue by pushing out the newest call of the longest line', () => {
    const shares = new FairShares<SharedCall & { name: string }>(10, 8);
    const [a, b] = [{}, {}];
    for (let i = 0; i < 8; i++) assert.deepEqual(shares.enqueue(call(a, `a${i}`)), { t: 'queued' });
    const first = shares.enqueue(call(b, 'b0'));
    assert.equal(first.t, 'pushedOut');
    assert.equal(first.t === 'pushedOut' && first.call.name, 'a7');
    assert.equal(shares.waiting, 8);
    // a is at its share (8 / 2 lines = 4) or above: refused, as is b once at its share.
    assert.deepEqual(shares.enqueue(call(a, 'a8')), { t: 'refused', share: 4 });
    for (let i = 1; i < 4; i++) assert.equal(shares.enqueue(call(b, `b${i}`)).t, 'pushedOut');
    assert.deepEqual(shares.enqueue(call(b, 'b4')), { t: 'refused', share: 4 });
  });

  it('serves waiting calls one connection after another, in order within each, skipping cancelled ones', () => {
    const shares = new FairShares<SharedCall & { name: string; cancelled?: boolean }>(10, 100);
    const [a, b, c] = [{}, {}, {}];
    for (let i = 0; i < 3; i++) shares.enqueue(call(a, `a${i}`));
    shares.enqueue({ ...call(b, 'b0'), cancelled: true });
    shares.enqueue(call(b, 'b1'));
    shares.enqueue(call(c, 'c0'));
    const served: string[] = [];
    while (shares.serveNext((x) => (served.push(x.name), true)));
    assert.deepEqual(served, ['a0', 'b1', 'c0', 'a1', 'a2']);
    assert.equal(shares.waiting, 0);
    assert.equal(shares.activeClients, 0);
  });

  it('keeps a call that no backend takes at the head of its line, and passes the turn on', () => {
    const shares = new FairShares<SharedCall & { name: string }>(10, 100);
    const [a, b] = [{}, {}];
    shares.enqueue(call(a, 'a0'));
    shares.enqueue(call(b, 'b0'));
    const served: string[] = [];
    assert.equal(shares.serveNext((x) => x.client === b && (served.push(x.name), true)), true);
    assert.equal(shares.serveNext((x) => x.client === b), false);
    assert.equal(shares.waiting, 1);
    assert.equal(shares.withdraw(call(a, 'other')), false);
    assert.deepEqual(shares.takeAll().map((x) => (x as { name: string }).name), ['a0']);
    assert.deepEqual(served, ['b0']);
  });
});
