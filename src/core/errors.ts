/**
 * The one error type grpc-ha throws. `code` is stable and documented; the message says what was
 * wrong, where, and what to do.
 */

/** Stable error codes; see README "Errors". */
export const ERROR_CODES = {
  /** A policy, registry or server config failed validation; the message names the field and the rule. */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** An address or target could not be parsed. */
  INVALID_ADDRESS: 'INVALID_ADDRESS',
  /** A service registry (file directory, etcd, Consul) could not be reached or answered with an error. */
  REGISTRY_UNAVAILABLE: 'REGISTRY_UNAVAILABLE',
  /** An optional peer dependency a feature needs is not installed; the message names the package to install. */
  MISSING_DEPENDENCY: 'MISSING_DEPENDENCY',
  /** A client class or credentials come from another copy of @grpc/grpc-js than grpc-ha's; the message names both. */
  GRPC_JS_MISMATCH: 'GRPC_JS_MISMATCH',
  /** A server could not start (address in use, admin server, registration); the message names the step and nothing is left running. */
  START_FAILED: 'START_FAILED',
} as const;

/** One of {@link ERROR_CODES}. */
export type GrpcHaErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** The error grpc-ha throws, with a stable `code` and the underlying `cause` when there is one. */
export class GrpcHaError extends Error {
  override readonly name = 'GrpcHaError';

  constructor(
    readonly code: GrpcHaErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Wraps anything thrown into a GrpcHaError, keeping an existing one as is. */
  static from(reason: unknown, code: GrpcHaErrorCode): GrpcHaError {
    if (reason instanceof GrpcHaError) return reason;
    const message = reason instanceof Error ? reason.message : String(reason);
    return new GrpcHaError(code, message, { cause: reason });
  }
}
