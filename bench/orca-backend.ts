/**
 * The `orca` scenario's backend process: an Echo server with a fixed number of worker slots.
 * A call holds a slot for `serviceMs`; calls beyond the slots wait in a FIFO queue. So the
 * capacity is real (slots / serviceMs calls a second, whoever sends them) and latency grows with
 * queueing, as in a service with a bounded thread pool. It reports its load as ORCA (gRFC A51)
 * both per call, in the `endpoint-load-metrics-bin` trailer, and out of band (A51's
 * OpenRcaService, grpc-js's ServerMetricRecorder):
 *   application_utilization  busy slots / slots, averaged over the last WINDOW_MS
 *   rps_fractional           calls finished per second over the same window
 * The per-call report is encoded here, not by grpc-js's per-call recorder
 * (`grpc.server_call_metric_recording`): in grpc-js 1.14.7 that recorder loads the ORCA proto
 * files again for every call it serializes (orca.ts: `loadedOrcaProto` is a `const null`, never
 * set), about 40 ms of CPU per call, which would make the backends the bottleneck.
 * Usage: node dist/bench/orca-backend.js ID SLOTS SERVICE_MS; prints {"port":N} once listening.
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { echoServiceDefinition, type EchoReply, type ReceivedEchoRequest } from '../src/example/echo-service.js';

/** The averaging window of the reported load, ms: short enough to follow a 4 s measurement. */
const WINDOW_MS = 250;

const [id = 'orca', slotsText = '4', serviceText = '5'] = process.argv.slice(2);
const slots = Number(slotsText);
const serviceMs = Number(serviceText);

let busy = 0;
const queue: (() => void)[] = [];
// Busy slot-milliseconds and finished calls since the window started, for the utilization average.
let busyArea = 0;
let busySince = performance.now();
let finished = 0;
let utilization = 0;
let qps = 0;

function account(now: number): void {
  busyArea += busy * (now - busySince);
  busySince = now;
}

const recorder = new grpc.ServerMetricRecorder();
let windowStart = performance.now();
setInterval(() => {
  const now = performance.now();
  account(now);
  const elapsed = now - windowStart;
  utilization = busyArea / (slots * elapsed);
  qps = (finished * 1000) / elapsed;
  busyArea = 0;
  finished = 0;
  windowStart = now;
  recorder.setApplicationUtilizationMetric(utilization);
  recorder.setQpsMetric(qps);
}, WINDOW_MS).unref();

function acquire(run: () => void): void {
  if (busy < slots) {
    account(performance.now());
    busy += 1;
    run();
  } else {
    queue.push(run);
  }
}

function release(): void {
  account(performance.now());
  finished += 1;
  const next = queue.shift();
  if (next) next();
  else busy -= 1;
}

/** The trailer of a per-call ORCA report (gRFC A51). */
const ORCA_TRAILER = 'endpoint-load-metrics-bin';

/** OrcaLoadReport (xds/data/orca/v3/orca_load_report.proto): rps_fractional = 6 and application_utilization = 9, both doubles. */
function encodeReport(): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((6 << 3) | 1).double(qps);
  w.uint32((9 << 3) | 1).double(utilization);
  return Buffer.from(w.finish());
}

const server = new grpc.Server();
server.addService(echoServiceDefinition, {
  unary: (call: grpc.ServerUnaryCall<ReceivedEchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
    acquire(() => {
      setTimeout(() => {
        release();
        const trailer = new grpc.Metadata();
        trailer.set(ORCA_TRAILER, encodeReport());
        callback(null, { message: call.request.message, serverId: id, payload: Buffer.alloc(0) }, trailer);
      }, serviceMs);
    });
  },
});
recorder.addToServer(server);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(`orca-backend: ${error.message}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ port }));
});
process.on('SIGTERM', () => server.forceShutdown());
