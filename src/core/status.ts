/**
 * gRPC status codes, once, without grpc-js (grpc/doc/statuscodes.md), and the one failure class
 * every part of grpc-ha agrees on: which statuses say "the endpoint is in trouble". The latency
 * estimate penalises them, outlier ejection counts them by default, the proxy's backends use them.
 */

/** gRPC status codes by canonical name. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A canonical status name, e.g. "UNAVAILABLE". */
export type StatusName = keyof typeof Status;

/** Canonical names of gRPC status codes 0..16, by code. */
export const STATUS_CODE_NAMES: readonly StatusName[] = Object.keys(Status) as StatusName[];

/** The name of status `code`, or "code N" for a code outside 0..16. */
export function statusName(code: number): string {
  return STATUS_CODE_NAMES[code] ?? `code ${code}`;
}

/** The code named `name` (canonical upper-case name), or undefined. */
export function statusCode(name: string): number | undefined {
  return Object.hasOwn(Status, name) ? Status[name as StatusName] : undefined;
}

/**
 * Statuses that count as a failure of the endpoint: the server or the path to it is in trouble.
 * Application answers (NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, ...) are the endpoint
 * working; CANCELLED is the caller's doing and carries no signal. Envoy's gRPC equivalent of its
 * 5xx class.
 */
export const ENDPOINT_FAILURE_CODE_NAMES = ['UNAVAILABLE', 'INTERNAL', 'UNKNOWN', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'DATA_LOSS'] as const satisfies readonly StatusName[];

/** {@link ENDPOINT_FAILURE_CODE_NAMES} as codes. */
export const ENDPOINT_FAILURE_CODES: ReadonlySet<number> = new Set(ENDPOINT_FAILURE_CODE_NAMES.map((n) => Status[n]));

/** Whether a call that ended with `code` counts against its endpoint. */
export function isEndpointFailure(code: number): boolean {
  return ENDPOINT_FAILURE_CODES.has(code);
}
