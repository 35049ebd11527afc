/**
 * `npm run fuzz -- --seconds N`: runs the HTTP/2 engine's fuzzing properties
 * (test/fuzz/h2-properties.ts) for N seconds in all, shared equally, and prints per property how
 * many cases ran and the counterexample of any failure (with the seed and path to replay it with
 * fast-check). Exits 1 when a property failed.
 */
import fc from 'fast-check';
import { H2_PROPERTIES } from '../test/fuzz/h2-properties.js';

function seconds(argv: readonly string[]): number {
  const i = argv.indexOf('--seconds');
  const raw = i >= 0 ? argv[i + 1] : '60';
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`fuzz: --seconds must be a number > 0, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const total = seconds(process.argv.slice(2));
const each = (total * 1000) / H2_PROPERTIES.length;
let failed = 0;
let cases = 0;
for (const p of H2_PROPERTIES) {
  await p.setup?.();
  const started = performance.now();
  try {
    const details = await fc.check(p.property(), { numRuns: Number.MAX_SAFE_INTEGER, plugins: [fc.interruptAfterTimeLimit(each)] });
    cases += details.numRuns;
    const line: Record<string, unknown> = { property: p.name, cases: details.numRuns, seconds: Math.round(performance.now() - started) / 1000, failed: details.failed };
    if (details.failed) {
      failed++;
      line.counterexample = fc.stringify(details.counterexample);
      line.error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      line.replay = { seed: details.seed, path: details.counterexamplePath };
    }
    console.log(JSON.stringify(line));
  } finally {
    await p.teardown?.();
  }
}
console.log(JSON.stringify({ properties: H2_PROPERTIES.length, cases, failed }));
process.exit(failed > 0 ? 1 : 0);
