/**
 * The dependency rule of src/ (docs/architecture.md), checked from the code's own imports:
 *
 * 1. src/core/ is transport-neutral: it imports no gRPC library, no socket or HTTP module, and
 *    nothing of src/ outside core/.
 * 2. The top-level folders of src/ form no cycle (core at the bottom, cli at the top).
 * 3. The published package carries no test file (`npm pack --dry-run`).
 *
 *   node dist/scripts/check-architecture.js     (exit 1 and one line per violation)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Modules core/ must not import: transports and the libraries built on them. */
export const TRANSPORT_MODULES = [
  /^@grpc\//,
  /^grpc-health-check$/,
  /^etcd3$/,
  /^(node:)?(net|tls|http|https|http2|dgram|dns|dns\/promises)$/,
];

/** One import of one source file. */
export interface ImportEdge {
  /** Repo-relative path of the importing file. */
  readonly from: string;
  /** The specifier as written. */
  readonly specifier: string;
  /** Repo-relative path of the imported file, for relative imports. */
  readonly to?: string;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s+'([^']+)'/g;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(p, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every import of the shipped sources under `root`/src (tests excluded: they are not shipped). */
export function importsOf(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(path.join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    const from = path.relative(root, file);
    for (const m of text.matchAll(IMPORT)) {
      const specifier = (m[1] ?? m[2] ?? m[3])!;
      const to = specifier.startsWith('.') ? path.relative(root, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts') : undefined;
      edges.push({ from, specifier, ...(to !== undefined && { to }) });
    }
  }
  return edges;
}

/** The top-level folder of src/ a repo-relative path lies in ("core", "grpc", ...), or null for src/*.ts and outside src/. */
export function folderOf(file: string): string | null {
  const parts = file.split(path.sep);
  return parts[0] === 'src' && parts.length > 2 ? parts[1]! : null;
}

/** Violations of rule 1. */
export function coreViolations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    if (folderOf(e.from) !== 'core') continue;
    if (e.to !== undefined) {
      if (folderOf(e.to) !== 'core') out.push(`${e.from} imports ${e.specifier}: core/ imports only core/`);
    } else if (TRANSPORT_MODULES.some((re) => re.test(e.specifier))) {
      out.push(`${e.from} imports ${e.specifier}: core/ imports no transport`);
    }
  }
  return out;
}

/** Violations of rule 2: each cycle between top-level folders, with one import per step. */
export function folderCycles(edges: readonly ImportEdge[]): string[] {
  const graph = new Map<string, Map<string, ImportEdge>>();
  for (const e of edges) {
    const a = folderOf(e.from);
    const b = e.to === undefined ? null : folderOf(e.to);
    if (a === null || b === null || a === b) continue;
    let out = graph.get(a);
    if (!out) graph.set(a, (out = new Map()));
    if (!out.has(b)) out.set(b, e);
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const [next, edge] of graph.get(node) ?? []) {
      if (state.get(next) === 'open') {
        const loop = [...stack.slice(stack.indexOf(next)), next];
        const steps = loop.slice(0, -1).map((f, i) => {
          const step = graph.get(f)!.get(loop[i + 1]!)!;
          return `${f} -> ${loop[i + 1]} (${step.from} imports ${step.specifier})`;
        });
        cycles.push(`folder cycle ${loop.join(' -> ')}: ${steps.join('; ')}`);
        void edge;
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** Violations of rule 3: files `npm pack` would publish that are tests or test support. */
export function packedTestFiles(root: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  return pack!.files.map((f) => f.path).filter((p) => /\.test\.|(^|\/)test\//.test(p)).map((p) => `npm pack would publish ${p}`);
}

/** Every violation of the rule in the checkout at `root`. */
export function architectureViolations(root: string, { pack = true } = {}): string[] {
  const edges = importsOf(root);
  return [...coreViolations(edges), ...folderCycles(edges), ...(pack ? packedTestFiles(root) : [])];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const violations = architectureViolations(root);
  for (const v of violations) console.error(v);
  if (violations.length > 0) process.exit(1);
  console.log('architecture: core is transport-neutral, folders form no cycle, the package carries no test');
}
