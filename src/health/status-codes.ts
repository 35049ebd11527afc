/**
 * gRPC status code names, without grpc-js: the pure detectors name codes in their ejection
 * reasons ("5 consecutive UNAVAILABLE") and configs name them as strings.
 */

/** Canonical names of gRPC status codes 0..16, by code. */
export const STATUS_CODE_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** The name of status `code`, or "code N" for a code outside 0..16. */
export function statusName(code: number): string {
  return STATUS_CODE_NAMES[code] ?? `code ${code}`;
}

/** The code named `name` (canonical upper-case name), or undefined. */
export function statusCode(name: string): number | undefined {
  const code = STATUS_CODE_NAMES.indexOf(name);
  return code < 0 ? undefined : code;
}
