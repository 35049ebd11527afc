/**
 * Streams are not load. A grpc-js picker sees a call's metadata, not its method, so an
 * interceptor — which knows the method's shape — marks streaming calls with a header, and the
 * picker takes the mark off the metadata it is given (grpc-js sends that very object, a clone per
 * pick of the call's own metadata: load-balancing-call.ts doPick) before the call leaves.
 *
 * Why (docs/policies.md, "Streams and load"): a long-lived stream's lifetime is the
 * application's — a watch waits for events — so neither its presence nor its duration says how
 * fast the backend answers the next call. grpc-go's least_request (gRFC A48) and Envoy count a
 * stream as an active request for its whole life, which is how one idle watch stream kept its
 * backend at 9 unary calls out of 485 under peak_ewma; Linkerd (tower's PendingUntilFirstData)
 * counts it until the first response data and feeds that wait to the EWMA, which for a watch is
 * again the application's time. grpc-ha's picker policies still choose a stream's backend by the
 * current costs (so streams spread as unary calls do), but a streaming call never enters the
 * in-flight count or the latency estimate; its status still feeds outlier detection and stats.
 */
import { InterceptingCall, type Interceptor, type Metadata } from '@grpc/grpc-js';

/** The header that marks a streaming call between the interceptor and the picker; never sent. */
export const STREAM_MARK = 'x-grpc-ha-stream';

/** Marks client-, server- and bidi-streaming calls for grpc-ha's pickers. */
export const streamMarkInterceptor: Interceptor = (options, nextCall) => {
  const method = options.method_definition;
  if (!method.requestStream && !method.responseStream) return new InterceptingCall(nextCall(options));
  return new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set(STREAM_MARK, '1');
      next(metadata, listener);
    },
  });
};

/**
 * The metadata objects found marked: a pick may be repeated on the same metadata (slow start
 * picks again), and the first look has already taken the mark off.
 */
const marked = new WeakSet<Metadata>();

/** Whether the picked call is a stream; removes the mark so it is not sent. */
export function takeStreamMark(metadata: Metadata): boolean {
  if (marked.has(metadata)) return true;
  if (metadata.get(STREAM_MARK).length === 0) return false;
  metadata.remove(STREAM_MARK);
  marked.add(metadata);
  return true;
}
