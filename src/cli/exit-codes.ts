/** Exit codes of the grpc-ha CLI, one meaning each, so scripts and probes can branch on them. */
export const EXIT = {
  /** Success; for `health`, the service is SERVING. */
  OK: 0,
  /** A runtime failure that none of the codes below names. */
  FAILURE: 1,
  /** A usage mistake: unknown flag, bad value. */
  USAGE: 2,
  /** `health`: the address could not be reached. */
  UNREACHABLE: 3,
  /** `health`: no answer within --timeout. */
  TIMEOUT: 4,
  /** `health`: the service answered, and it is not SERVING (NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN). */
  NOT_SERVING: 5,
  /** `health`: the server answered with an error, e.g. UNIMPLEMENTED when it has no health service. */
  RPC_ERROR: 6,
  /** `resolve`: the target's service has no instances (the message lists the services there). */
  NO_INSTANCES: 7,
} as const;

/** An error that ends the CLI with a chosen code and a one-line message, never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
