/**
 * `npm run bench:chart [-- results.json]`: draws docs/slow-backend-latency.svg, a bar chart of
 * p50 and p99 per policy in the slow-backend scenario, with the healthy reference p99 as a line.
 * Reads the newest bench/results/*.json that has slow-backend rows, or the file given.
 * A hand-built SVG: no dependency.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One slow-backend row of a results file (the fields the chart uses). */
export interface SlowBackendRow {
  /** Policy name (or "grpc-js round_robin", the baseline). */
  readonly policy: string;
  /** Median latency, ms. */
  readonly p50_ms: number;
  /** 99th percentile latency, ms. */
  readonly p99_ms: number;
  /** p99 of the same load on 3 healthy backends, ms. */
  readonly healthy_p99_ms?: number;
}

interface Results {
  date?: string;
  machine?: string;
  rows?: (Record<string, unknown> & { scenario?: string })[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function slowRows(results: Results): SlowBackendRow[] {
  return (results.rows ?? []).filter(
    (r): r is Record<string, unknown> & SlowBackendRow =>
      r.scenario === 'slow-backend' && typeof r.policy === 'string' && typeof r.p50_ms === 'number' && typeof r.p99_ms === 'number',
  );
}

/** The newest results file in `dir` with slow-backend rows (file names are ISO timestamps). */
export function newestResults(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse();
  return files.map((f) => path.join(dir, f)).find((f) => slowRows(JSON.parse(readFileSync(f, 'utf8')) as Results).length > 0);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" axis maximum (1, 2, 5 × 10^k) at or above `v`. */
function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(v, 1e-9)));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v) ?? 10 * p;
}

/** The SVG chart of `rows`; `subtitle` names the run (date, machine). */
export function renderChart(rows: readonly SlowBackendRow[], subtitle: string): string {
  const W = 760;
  const H = 470;
  const m = { left: 64, right: 20, top: 56, bottom: 160 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const healthy = rows.find((r) => typeof r.healthy_p99_ms === 'number')?.healthy_p99_ms;
  const max = niceMax(Math.max(...rows.map((r) => r.p99_ms), healthy ?? 0) * 1.05);
  const y = (v: number) => m.top + plotH - (v / max) * plotH;
  const group = plotW / rows.length;
  const bar = Math.min(28, group / 3);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">slow-backend: latency per policy (3 backends, one +20 ms)</text>`);
  out.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (max / 5) * i;
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end">${+v.toFixed(1)}</text>`);
  }
  out.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`);
  rows.forEach((r, i) => {
    const cx = m.left + group * i + group / 2;
    for (const [k, v, colour] of [
      [0, r.p50_ms, '#4c78a8'],
      [1, r.p99_ms, '#f58518'],
    ] as const) {
      const x = cx - bar + k * bar;
      out.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${(m.top + plotH - y(v)).toFixed(1)}" fill="${colour}"><title>${esc(r.policy)} ${k === 0 ? 'p50' : 'p99'} ${v} ms</title></rect>`);
      out.push(`<text x="${(x + (bar - 2) / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="10">${+v.toFixed(1)}</text>`);
    }
    out.push(`<text transform="translate(${cx + 6} ${m.top + plotH + 14}) rotate(-35)" text-anchor="end" font-size="11">${esc(r.policy)}</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + plotH}" stroke="#333"/>`);
  if (healthy !== undefined) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(healthy)}" y2="${y(healthy)}" stroke="#2ca02c" stroke-width="2" stroke-dasharray="6 4"/>`);
  }
  const ly = H - 14;
  const legend: [string, string, boolean][] = [
    ['#4c78a8', 'p50', false],
    ['#f58518', 'p99', false],
    ...(healthy !== undefined ? ([['#2ca02c', `p99 on 3 healthy backends (${healthy} ms)`, true]] as [string, string, boolean][]) : []),
  ];
  let lx = m.left;
  for (const [colour, label, line] of legend) {
    out.push(
      line
        ? `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour}" stroke-width="2" stroke-dasharray="6 4"/>`
        : `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${colour}"/>`,
    );
    out.push(`<text x="${lx + 22}" y="${ly}">${esc(label)}</text>`);
    lx += 40 + label.length * 7;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function main(): number {
  const given = process.argv[2];
  const file = given ?? newestResults(path.join(ROOT, 'bench', 'results'));
  if (file === undefined) {
    console.error('bench-chart: no bench/results/*.json with slow-backend rows; run `npm run bench -- slow-backend` first');
    return 1;
  }
  let results: Results;
  try {
    results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  } catch (error) {
    console.error(`bench-chart: cannot read ${file}: ${(error as Error).message}`);
    return 1;
  }
  const rows = slowRows(results);
  if (rows.length === 0) {
    console.error(`bench-chart: ${file} has no slow-backend rows`);
    return 1;
  }
  const out = path.join(ROOT, 'docs', 'slow-backend-latency.svg');
  mkdirSync(path.dirname(out), { recursive: true });
  const subtitle = [results.date?.slice(0, 10), results.machine, path.basename(file)].filter(Boolean).join(' · ');
  writeFileSync(out, renderChart(rows, subtitle));
  console.log(`bench-chart: wrote ${path.relative(process.cwd(), out)} from ${path.relative(process.cwd(), file)} (${rows.length} policies)`);
  return 0;
}

process.exitCode = main();
