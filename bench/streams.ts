/**
 * `streams`: N long-lived streams open (--streams 1,8: bidi streams that exchange one message,
 * then wait idle, as a watch does) while the same client sends unary calls, c in flight
 * (--concurrency 1: one call at a time, where one call more or less decides every comparison),
 * over 3 backends. Per policy and grpc-js round_robin, interleaved rounds (--rounds 2): the unary
 * share of each backend and the p99. The "streams counted" rows run the same policy without the
 * stream mark (src/grpc/stream-calls.ts), i.e. counting a stream as a call in flight for its
 * whole life, as grpc-go's least_request and Envoy do.
 */
import { credentials, type ChannelOptions, type ClientDuplexStream } from '@grpc/grpc-js';
import { spawnBackendGroup } from '../src/example/backend-process.js';
import { EchoClient, type EchoReply, type EchoRequest } from '../src/example/echo-service.js';
import { policyChannelOptions, type LoadBalancingConfigEntry } from '../src/grpc/service-config.js';
import { GRPC_JS_ROUND_ROBIN } from './cluster.js';
import { quantile, round2, runLoad } from './load.js';
import { numbersOption, type BenchContext, type BenchRow } from './types.js';

interface Variant {
  readonly name: string;
  options(): ChannelOptions;
}

function withoutMark(entry: LoadBalancingConfigEntry): ChannelOptions {
  const { interceptors: _mark, ...rest } = policyChannelOptions(entry);
  return rest;
}

const VARIANTS: readonly Variant[] = [
  { name: 'grpc-js round_robin', options: () => policyChannelOptions(GRPC_JS_ROUND_ROBIN) },
  { name: 'least_request', options: () => policyChannelOptions({ least_request: {} }) },
  { name: 'peak_ewma', options: () => policyChannelOptions({ peak_ewma: {} }) },
  { name: 'least_request, streams counted', options: () => withoutMark({ least_request: {} }) },
  { name: 'peak_ewma, streams counted', options: () => withoutMark({ peak_ewma: {} }) },
];

/** Runs the streams scenario. */
export async function runStreams(ctx: BenchContext): Promise<BenchRow[]> {
  const streamCounts = numbersOption(ctx, 'streams', [1, 8], 1);
  const [concurrency] = numbersOption(ctx, 'concurrency', [1], 1);
  const [rounds] = numbersOption(ctx, 'rounds', [ctx.quick ? 1 : 2], 1);
  const windowMs = ctx.quick ? 500 : 2000;
  const group = await spawnBackendGroup([{ id: 'b0' }, { id: 'b1' }, { id: 'b2' }]);
  const target = `ipv4:${group.servers.map((s) => s.address).join(',')}`;
  const ids = group.servers.map((s) => s.id);
  type Acc = { latencies: number[]; byServer: Map<string, number>; streamsOn: Map<string, number> };
  const acc = new Map<string, Acc>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const streams of streamCounts) {
        for (const variant of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
          const client = new EchoClient(target, credentials.createInsecure(), variant.options());
          const open: ClientDuplexStream<EchoRequest, EchoReply>[] = [];
          try {
            await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));
            const key = `${variant.name}@${streams}`;
            const a: Acc = acc.get(key) ?? { latencies: [], byServer: new Map<string, number>(), streamsOn: new Map<string, number>() };
            for (let i = 0; i < streams; i++) {
              const stream = client.bidiStream();
              stream.on('error', () => undefined); // cancelled at the end
              open.push(stream);
              const first = await new Promise<EchoReply>((resolve) => {
                stream.once('data', resolve);
                stream.write({ message: 'subscribe' });
              });
              a.streamsOn.set(first.serverId, (a.streamsOn.get(first.serverId) ?? 0) + 1);
            }
            const r = await runLoad(client, { concurrency, durationMs: windowMs });
            if (r.failed > 0) throw new Error(`streams: ${r.failed} calls failed: ${r.errors[0]}`);
            for (const x of r.latenciesMs) a.latencies.push(x);
            for (const [id, n] of r.byServer) a.byServer.set(id, (a.byServer.get(id) ?? 0) + n);
            acc.set(key, a);
          } finally {
            for (const s of open) s.cancel();
            client.close();
          }
        }
        ctx.log(`round ${round + 1}/${rounds}: ${streams} streams done`);
      }
    }
  } finally {
    await group.stop();
  }
  const rows: BenchRow[] = [];
  for (const streams of streamCounts) {
    const baseline = acc.get(`grpc-js round_robin@${streams}`)!;
    for (const variant of VARIANTS) {
      const a = acc.get(`${variant.name}@${streams}`)!;
      const total = [...a.byServer.values()].reduce((x, y) => x + y, 0);
      const shares = ids.map((id) => (a.byServer.get(id) ?? 0) / total);
      const row: BenchRow = {
        scenario: 'streams',
        policy: variant.name,
        streams,
        c: concurrency,
        // Per backend: its unary share, and in brackets the streams it holds (summed over rounds).
        unary_share: ids.map((id, i) => `${shares[i]!.toFixed(3)} (${a.streamsOn.get(id) ?? 0})`).join(' / '),
        min_share: Math.round(Math.min(...shares) * 10_000) / 10_000,
        max_share: Math.round(Math.max(...shares) * 10_000) / 10_000,
        p99_ms: round2(quantile(a.latencies, 0.99)),
        baseline_p99_ms: round2(quantile(baseline.latencies, 0.99)),
        calls: total,
      };
      ctx.emit(row);
      rows.push(row);
    }
  }
  return rows;
}
