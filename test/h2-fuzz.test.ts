/**
 * A short, bounded run of the HTTP/2 engine's fuzzing properties (test/fuzz/h2-properties.ts):
 * a fixed number of random and mutated inputs per property, a few seconds in all. `npm run fuzz
 * -- --seconds N` runs the same properties for longer.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { H2_PROPERTIES } from './fuzz/h2-properties.js';

/** Cases per property: enough to meet every generator branch, few enough for the suite's time budget. */
const RUNS = { sync: 300, connection: 120 } as const;

describe('h2 engine fuzzing (fast-check)', () => {
  for (const p of H2_PROPERTIES) {
    it(p.name, async () => {
      await p.setup?.();
      try {
        const property = p.property();
        await fc.assert(property, { numRuns: p.setup ? RUNS.connection : RUNS.sync });
      } finally {
        await p.teardown?.();
      }
    });
  }
});
