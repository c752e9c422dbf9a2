/**
 * gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), the same
 * numbers grpc-js uses, without loading grpc-js: ijrctl's client does not.
 * @module
 */

export const Code = {
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

/** A gRPC status code. */
export type Code = (typeof Code)[keyof typeof Code];

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Code).map(([name, code]) => [code, name]),
);

/** The name of a status code, such as "NOT_FOUND". */
export function codeName(code: number): string {
  return NAMES[code] ?? `STATUS_${code}`;
}
