/**
 * Client interceptors grpc-ha adds: a default deadline for calls that would otherwise have none,
 * and failures that say which method on which target failed.
 */
import { InterceptingCall, status, type Interceptor, type StatusObject } from '@grpc/grpc-js';

/**
 * Sets `deadlineMs` on unary and client-streaming calls that carry no deadline. Server-streaming
 * and bidi calls are often long-lived on purpose and are left alone.
 */
export function defaultDeadlineInterceptor(deadlineMs: number): Interceptor {
  return (options, nextCall) => {
    const def = options.method_definition;
    if (options.deadline === undefined && !def.responseStream) {
      return new InterceptingCall(nextCall({ ...options, deadline: Date.now() + deadlineMs }));
    }
    return new InterceptingCall(nextCall(options));
  };
}

/**
 * Appends "(method M, target T)" to the details of every failed call, so a log line or an error
 * report says where it came from; the balancer's own reason (which endpoints, why) stays first.
 */
export function errorContextInterceptor(target: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveStatus(s: StatusObject, nextStatus: (s: StatusObject) => void) {
            if (s.code === status.OK) return nextStatus(s);
            nextStatus({ ...s, details: `${s.details} (method ${options.method_definition.path}, target ${target})` });
          },
        });
      },
    });
}
