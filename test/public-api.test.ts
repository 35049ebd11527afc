/**
 * The public surface in tiers: `grpc-ha` exports what an application uses (fewer than 85 names),
 * `grpc-ha/pickers`, `grpc-ha/policy-kit` and `grpc-ha/example` the extension points,
 * `grpc-ha/xds` the xDS control plane, and no
 * entry point exports an internal. Every exported name has its doc comment. Read from the
 * sources with the TypeScript compiler, and imported by the package's own name, as a user would.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Entry point → its source file. */
const ENTRIES = {
  'grpc-ha': 'src/index.ts',
  'grpc-ha/pickers': 'src/pickers.ts',
  'grpc-ha/policy-kit': 'src/policy-kit.ts',
  'grpc-ha/example': 'src/example.ts',
  'grpc-ha/xds': 'src/xds.ts',
} as const;

type Entry = keyof typeof ENTRIES;

/** Internals that were once exported from the main entry and must stay out of every entry. */
const INTERNALS = [
  'buildAliasTable',
  'buildEdfSchedule',
  'buildRing',
  'ringLookup',
  'lookup',
  'hash32',
  'peakEwmaCost',
  'NESTED_HEALTH_LAYER_OPTION',
  'HealthLayer',
  'PickerLoadBalancer',
  'instanceSchema',
  'serviceNameSchema',
  'parseRegistration',
  'encodeEtcdEndpoint',
  'decodeEtcdEndpoint',
  'toEndpoints',
  'parseAddress',
  'splitAddress',
  'registryBackoff',
  'adminState',
  'emitEvent',
];

/** Names that said two things (or one thing with another name) and were renamed. */
const RETIRED = ['register', 'Register', 'ServerRegistration', 'HookRegistration', 'InstanceRegistration', 'runCluster', 'ClusterOptions', 'ClusterHandle'];

describe('public API', () => {
  const exported = new Map<Entry, Map<string, string>>();

  before(() => {
    const files = Object.values(ENTRIES).map((f) => path.join(ROOT, f));
    const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true, types: ['node'] });
    const checker = program.getTypeChecker();
    for (const [entry, file] of Object.entries(ENTRIES) as [Entry, string][]) {
      const source = program.getSourceFile(path.join(ROOT, file));
      assert.ok(source, `${file} is missing`);
      const module = checker.getSymbolAtLocation(source);
      assert.ok(module, `${file} exports nothing`);
      const docs = new Map<string, string>();
      for (const symbol of checker.getExportsOfModule(module)) {
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        docs.set(symbol.getName(), ts.displayPartsToString(target.getDocumentationComment(checker)).trim());
      }
      exported.set(entry, docs);
    }
  });

  it('grpc-ha exports what an application needs, in fewer than 85 names', () => {
    const names = [...exported.get('grpc-ha')!.keys()];
    assert.ok(names.length < 85, `${names.length} names: ${names.join(', ')}`);
    for (const name of ['registerPolicies', 'createClient', 'serve', 'runWorkers', 'addHealthService', 'drainSignal', 'reopenStream', 'registrar', 'FileRegistry', 'EtcdRegistry', 'ConsulRegistry', 'StaticRegistry', 'Registry', 'startAdminServer', 'onEvent', 'startProxy', 'GrpcHaError']) {
      assert.ok(names.includes(name), `grpc-ha does not export ${name}`);
    }
  });

  it('every exported name has a doc comment', () => {
    const undocumented = [...exported].flatMap(([entry, docs]) => [...docs].filter(([, doc]) => doc === '').map(([name]) => `${entry}: ${name}`));
    assert.deepEqual(undocumented, []);
  });

  it('no entry exports an internal or a retired name, and no name is exported from two tiers', () => {
    for (const [entry, docs] of exported) {
      const leaked = [...INTERNALS, ...RETIRED].filter((name) => docs.has(name));
      assert.deepEqual(leaked, [], `${entry} exports ${leaked.join(', ')}`);
    }
    const seen = new Map<string, Entry>();
    const twice: string[] = [];
    for (const [entry, docs] of exported) {
      for (const name of docs.keys()) {
        // A type an application and a policy author both need may sit in both; values live in one tier.
        if (seen.has(name) && name !== 'HealthCheckConfig') twice.push(`${name} (${seen.get(name)}, ${entry})`);
        seen.set(name, entry);
      }
    }
    assert.deepEqual(twice, []);
  });

  it('the package exports each entry point by its name, with its values', async () => {
    for (const entry of Object.keys(ENTRIES) as Entry[]) {
      const module = (await import(entry)) as Record<string, unknown>;
      const values = Object.keys(module);
      assert.ok(values.length > 0, `${entry} has no runtime exports`);
      const declared = exported.get(entry)!;
      assert.deepEqual(values.filter((name) => !declared.has(name)), [], `${entry}: runtime names the compiler does not see`);
    }
    const { registerPolicies, POLICY_NAMES } = (await import('grpc-ha')) as typeof import('../src/index.js');
    registerPolicies();
    assert.ok(POLICY_NAMES.includes('least_request'));
  });
});
