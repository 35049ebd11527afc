/**
 * The dependency rule of docs/architecture.md, held against the code: src/core/ imports no
 * transport, the top-level folders of src/ form no cycle, and `npm pack` publishes no test.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { coreViolations, folderCycles, importsOf, packedTestFiles } from '../scripts/check-architecture.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('architecture', () => {
  const edges = importsOf(ROOT);

  it('reads the imports of the tree', () => {
    assert.ok(edges.some((e) => e.from.startsWith(path.join('src', 'core')) && e.to !== undefined), 'core files import each other');
    assert.ok(edges.some((e) => e.from.startsWith(path.join('src', 'grpc')) && e.specifier === '@grpc/grpc-js'));
  });

  it('src/core imports no transport and nothing outside core', () => {
    assert.deepEqual(coreViolations(edges), []);
  });

  it('finds a transport import in core when there is one', () => {
    const planted = [{ from: path.join('src', 'core', 'x.ts'), specifier: 'node:http2' }];
    assert.equal(coreViolations(planted).length, 1);
  });

  it('no two top-level folders of src import each other, directly or around a loop', () => {
    assert.deepEqual(folderCycles(edges), []);
  });

  it('finds a folder cycle when there is one', () => {
    const planted = [
      { from: path.join('src', 'a', 'x.ts'), specifier: '../b/y.js', to: path.join('src', 'b', 'y.ts') },
      { from: path.join('src', 'b', 'y.ts'), specifier: '../a/x.js', to: path.join('src', 'a', 'x.ts') },
    ];
    assert.equal(folderCycles(planted).length, 1);
  });

  it('npm pack publishes no test file', () => {
    assert.deepEqual(packedTestFiles(ROOT), []);
  });
});
