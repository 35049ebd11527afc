/**
 * Streams are not load (src/grpc/stream-calls.ts, docs/policies.md "Streams and load"): one
 * long-lived server stream, served by a real backend process, leaves the unary calls of the same
 * client spread evenly over 3 backends under every load-aware policy; and the header that marks
 * a stream for the picker never reaches a server, whatever the policy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { EchoClient, echoServiceDefinition, type EchoReply } from '../src/example/echo-service.js';
import { spawnBackendGroup, type BackendGroup } from '../src/example/backend-process.js';
import { policyChannelOptions, type LoadBalancingConfigEntry } from '../src/grpc/service-config.js';
import { STREAM_MARK } from '../src/grpc/stream-calls.js';

const LOAD_AWARE: LoadBalancingConfigEntry[] = [{ least_request: {} }, { peak_ewma: {} }];
const CALLS = 300;
const CONCURRENCY = 4;

function unary(c: EchoClient): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    c.unary({ message: 'hi' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, r) => (err ? reject(err) : resolve(r!))),
  );
}

describe('a long-lived stream does not make its backend look busy', () => {
  let group: BackendGroup;
  before(async () => {
    // 40 ms per reply: the stream sends a message every 40 ms for as long as it lives, and the
    // backends' latencies differ far less than 25 % (peak_ewma then compares calls in flight).
    group = await spawnBackendGroup(['s0', 's1', 's2'].map((id) => ({ id, latencyMs: 40 })));
  });
  after(() => group.stop());

  for (const policy of LOAD_AWARE) {
    it(`${Object.keys(policy)[0]}: each backend takes 25-42 % of the unary calls`, async () => {
      const target = `ipv4:${group.servers.map((s) => s.address).join(',')}`;
      const client = new EchoClient(target, grpc.credentials.createInsecure(), policyChannelOptions(policy));
      try {
        const stream = client.serverStream({ message: 'watch', count: 1_000_000 });
        stream.on('error', () => undefined); // cancelled at the end
        const streamServer = await new Promise<string>((resolve) => stream.once('data', (r: EchoReply) => resolve(r.serverId)));
        const counts = new Map<string, number>();
        // Few calls in flight (4 over 3 backends): one call more on a backend decides most comparisons.
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next++ < CALLS) {
              const r = await unary(client);
              counts.set(r.serverId, (counts.get(r.serverId) ?? 0) + 1);
            }
          }),
        );
        stream.cancel();
        for (const s of group.servers) {
          const share = (counts.get(s.id) ?? 0) / CALLS;
          assert.ok(share >= 0.25 && share <= 0.42, `${s.id}${s.id === streamServer ? ' (holds the stream)' : ''}: ${share.toFixed(3)} of ${JSON.stringify([...counts])}`);
        }
      } finally {
        client.close();
      }
    });
  }
});

describe('the stream mark stays in the client', () => {
  let server: grpc.Server;
  let address = '';
  const seen: string[][] = [];
  before(async () => {
    server = new grpc.Server();
    const record = (md: grpc.Metadata) => seen.push(md.get(STREAM_MARK).map(String));
    server.addService(echoServiceDefinition, {
      unary: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        record(call.metadata);
        cb(null, { message: 'u', serverId: 'x' });
      },
      bidiStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        record(call.metadata);
        call.on('data', () => call.write({ message: 'b', serverId: 'x' }));
        call.on('end', () => call.end());
      },
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  const policies: LoadBalancingConfigEntry[] = [{ peak_ewma: {} }, { health_aware: { childPolicy: [{ round_robin: {} }] } }, { round_robin: {} }];
  for (const policy of policies) {
    it(`${JSON.stringify(policy)}: neither a unary call nor a stream carries it`, async () => {
      seen.length = 0;
      const client = new EchoClient(`ipv4:${address}`, grpc.credentials.createInsecure(), policyChannelOptions(policy));
      try {
        await unary(client);
        const bidi = client.bidiStream();
        await new Promise<void>((resolve, reject) => {
          bidi.once('data', () => resolve());
          bidi.once('error', reject);
          bidi.write({ message: 'x' });
        });
        bidi.end();
        assert.deepEqual(seen, [[], []]);
      } finally {
        client.close();
      }
    });
  }
});
