/**
 * `hpack-bomb`: what header blocks the proxy must refuse cost it (RFC 9113 §10.5.1, RFC 7541
 * §7.3). python3-h2 (test/python/h2_peer.py) sends 600 blocks of 32 KB as fast as the proxy
 * takes them, replacing each connection the proxy closes: `bomb` blocks insert one 4 KB entry into
 * the HPACK dynamic table and reference it 28,000 times (113 MB once decoded), `plain` blocks are
 * one 32 KB literal. Per kind: the proxy process's CPU (utime + stime from /proc) and a steady
 * grpc-js client's p99 and failures through the same proxy meanwhile. Kinds alternate over
 * rounds. GRPC_HA_BENCH_PROXY_CLI=<path of another build's dist/src/cli/main.js> measures that
 * build instead (before/after comparisons).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { EchoClient } from '../src/example/echo-service.js';
import { spawnBackendGroup } from '../src/example/backend-process.js';
import { round2 } from './load.js';
import { cpuTicks, startGrpcHa } from './proxy.js';
import type { BenchContext, BenchRow } from './types.js';

const PEER = fileURLToPath(new URL('../../test/python/h2_peer.py', import.meta.url));
const KINDS = ['bomb', 'plain'] as const;

/** Runs the comparison. */
export async function runHpackBomb(ctx: BenchContext): Promise<BenchRow[]> {
  const blocks = ctx.quick ? 60 : 600;
  const rounds = ctx.quick ? 1 : 2;
  const group = await spawnBackendGroup([{ id: 'b0' }]);
  const cli = process.env.GRPC_HA_BENCH_PROXY_CLI;
  const proxy = await startGrpcHa(group.servers.map((s) => s.address), 1, cli);
  const client = new EchoClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
  const rows: BenchRow[] = [];
  try {
    if (cli) ctx.log(`proxy: ${cli}`);
    for (let round = 0; round < rounds; round++) {
      for (const kind of KINDS) {
        const steady = steadyCalls(client);
        const cpu0 = cpuTicks(proxy.pid);
        const result = await sendBlocks(proxy.port, blocks, kind);
        const cpuMs = (cpuTicks(proxy.pid) - cpu0) * 10;
        const calls = await steady.stop();
        const row: BenchRow = {
          scenario: 'hpack-bomb',
          kind,
          round,
          blocks: result.sent,
          connections: result.connections,
          answered: result.answered,
          proxy_cpu_ms: cpuMs,
          cpu_us_per_block: round2((cpuMs * 1000) / Math.max(1, result.sent)),
          steady_calls: calls.latencies.length,
          steady_failed: calls.failed,
          steady_p99_ms: round2(calls.p99()),
        };
        ctx.log(JSON.stringify(row));
        ctx.emit(row);
        rows.push(row);
      }
    }
  } finally {
    client.close();
    await proxy.stop();
    await group.stop();
  }
  return rows;
}

interface BlockResult {
  sent: number;
  answered: number;
  connections: number;
}

function sendBlocks(port: number, blocks: number, kind: string): Promise<BlockResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', [PEER, 'hpack-bomb', String(port), String(blocks), kind, '100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`h2_peer.py hpack-bomb exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as BlockResult);
    });
  });
}

/** Unary calls one after another, 5 ms apart, until stopped: their latencies and failures. */
function steadyCalls(client: EchoClient): { stop(): Promise<{ latencies: number[]; failed: number; p99(): number }> } {
  let running = true;
  const latencies: number[] = [];
  let failed = 0;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await new Promise<void>((resolve) =>
        client.unary({ message: 'steady' }, { deadline: Date.now() + 2000 }, (err) => {
          if (err) failed++;
          else latencies.push(performance.now() - t0);
          resolve();
        }),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      return { latencies, failed, p99: () => sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)] ?? NaN };
    },
  };
}
