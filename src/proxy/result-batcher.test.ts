import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResultBatcher } from './result-batcher.js';

describe('ResultBatcher', () => {
  it('keeps each backend\'s results in order as runs, successes under status 0', () => {
    const sent: unknown[] = [];
    const batcher = new ResultBatcher((runs) => sent.push(runs));
    batcher.add(1, 'a', 0, 1, false);
    batcher.add(1, 'a', 5, 1, false); // NOT_FOUND is no failure here: a success
    batcher.add(1, 'b', 14, 1, true);
    batcher.add(1, 'a', 14, 1, true);
    batcher.add(1, 'a', 14, 2, true);
    batcher.add(1, 'a', 4, 1, true);
    batcher.add(2, 'a', 0, 3, false);
    batcher.flush();
    assert.deepEqual(sent, [
      [
        [1, 'a', [0, 2, 14, 3, 4, 1]],
        [1, 'b', [14, 1]],
        [2, 'a', [0, 3]],
      ],
    ]);
    batcher.flush();
    assert.equal(sent.length, 1, 'nothing held, nothing sent');
  });

  it('sends a failure at the next turn of the event loop', async () => {
    const sent: unknown[] = [];
    const batcher = new ResultBatcher((runs) => sent.push(runs));
    batcher.add(1, 'a', 14, 1, true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, [[[1, 'a', [14, 1]]]]);
  });
});
