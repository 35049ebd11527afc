/**
 * One more attempt for a unary call of an idempotent method that failed UNAVAILABLE after its
 * response had started. gRFC A6 commits a call once response headers arrive and never retries it
 * after that — right for a stream the application already reads, but a unary call shows the
 * application nothing before its status. And a grpc-js server sends a reply's trailers a few
 * event-loop turns after its message (the status waits for the message's write callback), so a
 * SIGKILLed backend regularly leaves calls with headers and message received and no status:
 * measured in the demo, 3-4 calls per kill on a busy machine, which A6 retries could not save.
 * For methods the user declared idempotent, sending such a call once more is safe, and it is
 * what "failover with nothing lost" needs. The resend goes through the channel again (balancer,
 * A6 retries, same deadline); metadata and message of the first attempt are held back until the
 * call's outcome is known, so the application sees one answer.
 */
import { InterceptingCall, status, type InterceptingListener, type Interceptor, type Metadata, type StatusObject } from '@grpc/grpc-js';

/** What `nextCall` returns (grpc-js does not export the type by name). */
type NextCall = ReturnType<Parameters<Interceptor>[1]>;

/** Resends, once, a committed unary call of a method `isIdempotent` accepts that ended UNAVAILABLE; see the module comment. */
export function committedRetryInterceptor(isIdempotent: (path: string) => boolean): Interceptor {
  return (options, nextCall) => {
    const def = options.method_definition;
    if (def.requestStream || def.responseStream || !isIdempotent(def.path)) return new InterceptingCall(nextCall(options));
    let request: unknown;
    let requestSent = false;
    let requestMetadata: Metadata | undefined;
    let current: NextCall | null = null;
    let cancelled = false;
    const first = nextCall(options);
    current = first;
    return new InterceptingCall(first, {
      start(metadata, listener, next) {
        // Kept, not cloned: a copy is made only for the rare resend, not on every call.
        requestMetadata = metadata;
        const deliver = (md: Metadata | undefined, reply: { value: unknown } | undefined, st: StatusObject) => {
          if (md !== undefined) listener.onReceiveMetadata(md);
          if (reply !== undefined) listener.onReceiveMessage(reply.value);
          listener.onReceiveStatus(st);
        };
        let headers: Metadata | undefined;
        let reply: { value: unknown } | undefined;
        next(metadata, {
          onReceiveMetadata: (md: Metadata) => (headers = md),
          onReceiveMessage: (message: unknown) => (reply = { value: message }),
          onReceiveStatus: (st: StatusObject) => {
            if (st.code !== status.UNAVAILABLE || headers === undefined || !requestSent || cancelled) {
              deliver(headers, reply, st);
              return;
            }
            // Committed (headers came) and lost: the only case A6 leaves unretried.
            const again = nextCall(options);
            current = again;
            let headers2: Metadata | undefined;
            let reply2: { value: unknown } | undefined;
            again.start(requestMetadata!.clone(), {
              onReceiveMetadata: (md: Metadata) => (headers2 = md),
              onReceiveMessage: (message: unknown) => (reply2 = { value: message }),
              onReceiveStatus: (st2: StatusObject) => deliver(headers2, reply2, st2),
            } satisfies Partial<InterceptingListener>);
            again.sendMessage(request);
            again.halfClose();
          },
        });
      },
      sendMessage(message, next) {
        request = message;
        requestSent = true;
        next(message);
      },
      cancel(next) {
        cancelled = true;
        if (current !== first) current?.cancelWithStatus(status.CANCELLED, 'Cancelled on client');
        next();
      },
    });
  };
}
