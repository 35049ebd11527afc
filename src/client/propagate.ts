/**
 * Deadline and cancellation propagation: a server handler that calls another service passes on
 * what is left of its own deadline, and its cancellation, with one helper.
 */
import { propagate, type CallOptions } from '@grpc/grpc-js';

/** Any server call a handler receives (unary, client-, server- or bidi-streaming). */
export type ServerCall = NonNullable<CallOptions['parent']>;

/**
 * Call options for a downstream call made while serving `call`: the downstream deadline is the
 * caller's remaining deadline minus `marginMs` (time to still answer the caller), and cancelling
 * the caller cancels the downstream call.
 */
export function downstreamCallOptions(call: ServerCall, marginMs = 0): CallOptions {
  const options: CallOptions = {
    parent: call,
    // DEADLINE | CANCELLATION (and census, harmless), as grpc-js defines them.
    propagate_flags: propagate.DEFAULTS,
  };
  const parentDeadline = call.getDeadline();
  const deadlineMs = parentDeadline instanceof Date ? parentDeadline.getTime() : parentDeadline;
  if (marginMs > 0 && Number.isFinite(deadlineMs)) {
    // grpc-js takes the earlier of the parent's deadline and ours.
    options.deadline = deadlineMs - marginMs;
  }
  return options;
}
