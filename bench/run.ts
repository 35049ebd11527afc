/**
 * `npm run bench -- [scenario ...] [--json] [--quick] [--n N --k K ...]`: runs benchmark
 * scenarios; scenario parameters (SCENARIO_OPTIONS) go to the scenarios that read them. With --json,
 * one JSON object per result line on stdout; otherwise a markdown table per scenario. Results
 * are also written to bench/results/<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runEject } from './eject.js';
import { runFailover } from './failover.js';
import { runHpackBomb } from './hpack-bomb.js';
import { runDiscovery } from './discovery.js';
import { runOverhead } from './overhead.js';
import { runPicker } from './picker.js';
import { runProxyBench } from './proxy.js';
import { runProxyScaleBench } from './proxy-scale.js';
import { runSlowBackend } from './slow-backend.js';
import { runXdsBench } from './xds.js';
import { runSlowMany } from './slow-many.js';
import { runAdopt } from './adopt.js';
import { runOrca } from './orca.js';
import { runStreams } from './streams.js';
import { SCENARIO_OPTIONS, type BenchContext, type BenchRow } from './types.js';

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<BenchRow[]>> = {
  picker: runPicker,
  overhead: runOverhead,
  'slow-backend': runSlowBackend,
  'slow-many': runSlowMany,
  adopt: runAdopt,
  orca: runOrca,
  streams: runStreams,
  eject: runEject,
  failover: runFailover,
  discovery: runDiscovery,
  proxy: runProxyBench,
  'proxy-scale': runProxyScaleBench,
  xds: runXdsBench,
  'hpack-bomb': runHpackBomb,
};

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        ...Object.fromEntries(SCENARIO_OPTIONS.map((o) => [o, { type: 'string' as const }])),
      },
    });
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 2;
  }
  const names = parsed.positionals.length > 0 ? parsed.positionals : Object.keys(SCENARIOS);
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) {
    console.error(`bench: unknown scenario ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    return 2;
  }
  const json = parsed.values.json;
  const all: BenchRow[] = [];
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (!json) console.log(`## grpc-ha benchmarks — ${new Date().toISOString().slice(0, 10)}, ${machine}\n\n\`npm run bench -- ${names.join(' ')}\`\n`);
  for (const name of names) {
    const started = Date.now();
    const ctx: BenchContext = {
      quick: parsed.values.quick,
      option: (name) => (parsed.values as Record<string, unknown>)[name] as string | undefined,
      emit: (row) => {
        if (json) console.log(JSON.stringify(row));
      },
      log: (message) => console.error(`[${name}] ${message}`),
    };
    const rows = await SCENARIOS[name]!(ctx);
    ctx.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (!json) console.log(markdownTable(name, rows));
    all.push(...rows);
  }
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, rows: all }, null, 2));
  console.error(`results: ${file.pathname} (${machine})`);
  return 0;
}

function markdownTable(name: string, rows: BenchRow[]): string {
  if (rows.length === 0) return `### ${name}\n(no rows)\n`;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== 'scenario');
  const lines = [`### ${name}`, '', `| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${columns.map((c) => String(r[c] ?? '')).join(' | ')} |`);
  return lines.join('\n') + '\n';
}

process.exitCode = await main();
