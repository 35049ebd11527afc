/**
 * The code in the docs cannot rot: every ```ts block of README.md and docs/*.md is compiled, each
 * as a module of its own, against the package's published types (imports of "grpc-ha" resolve to
 * dist/, as in an application). A block may import `./inventory.js`, the first service's module
 * (examples/first-service/inventory.ts), as the README's walkthrough writes it. A block of any
 * language whose first line is `// examples/<file>` must be that file, word for word.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Inside the repository, so "grpc-ha" resolves to the package itself and node_modules is found. */
const WORK = path.join(ROOT, '.tmp', 'doc-blocks');

interface Block {
  /** "README.md:123": the block's first code line. */
  readonly where: string;
  /** The info string: "ts", "proto", "sh", ... */
  readonly lang: string;
  readonly code: string;
  readonly file: string;
}

function blocksOf(doc: string): Block[] {
  const lines = readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const lang = /^```(\w+)\s*$/.exec(lines[i]!)?.[1];
    if (lang === undefined) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const name = `${doc.replace(/[^A-Za-z0-9]+/g, '-')}-${start + 1}.ts`;
    blocks.push({ where: `${doc}:${start + 1}`, lang, code: lines.slice(start, end).join('\n'), file: path.join(WORK, name) });
    i = end;
  }
  return blocks;
}

const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('code in the docs', () => {
  const all = DOCS.flatMap(blocksOf);
  const blocks = all.filter((b) => b.lang === 'ts');
  after(() => rmSync(WORK, { recursive: true, force: true }));

  it('README.md and docs/*.md have ts blocks to check', () => {
    assert.ok(blocks.length >= 20, `${blocks.length} blocks`);
  });

  it('a block that names an example file is that file', () => {
    const copies = all.filter((b) => /^\/\/ examples\/\S+$/.test(b.code.split('\n')[0]!));
    assert.ok(copies.length >= 2, 'the README shows the first service from its files');
    for (const b of copies) {
      const [first, ...rest] = b.code.split('\n');
      const file = first!.slice(3);
      assert.equal(rest.join('\n').trim(), readFileSync(path.join(ROOT, file), 'utf8').trim(), `${b.where} differs from ${file}`);
    }
  });

  it('every ts block compiles against the package types', () => {
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    writeFileSync(path.join(WORK, 'inventory.ts'), readFileSync(path.join(ROOT, 'examples/first-service/inventory.ts'), 'utf8'));
    for (const b of blocks) writeFileSync(b.file, `${b.code}\n`);
    const program = ts.createProgram(
      blocks.map((b) => b.file),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        moduleDetection: ts.ModuleDetectionKind.Force,
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
    );
    const byFile = new Map(blocks.map((b) => [b.file, b]));
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      const block = d.file ? byFile.get(path.resolve(d.file.fileName)) : undefined;
      if (!block || d.start === undefined) return message;
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start);
      const [doc, first] = block.where.split(':');
      return `${doc}:${Number(first) + line}: ${message}`;
    });
    assert.deepEqual(problems, []);
  });
});
