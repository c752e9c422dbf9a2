/**
 * Translation between the library's IjrError codes and gRPC status codes, both ways.
 * Unknown errors become INTERNAL with a generic message: their text may carry host paths or
 * stack details that a remote caller has no business seeing; the daemon logs them instead.
 * @module
 */

import { status as Status } from "@grpc/grpc-js";
import { type ErrorCode, IjrError } from "../../errors/mod.ts";

const TO_GRPC: Record<ErrorCode, Status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  ABORTED: Status.ABORTED,
  OUT_OF_RANGE: Status.OUT_OF_RANGE,
  UNAVAILABLE: Status.UNAVAILABLE,
  INTERNAL: Status.INTERNAL,
};

/** A gRPC status as grpc-js expects it in callbacks and stream errors. */
export interface StatusObject {
  /** The gRPC status code. */
  code: Status;
  /** The message shown to the caller. */
  details: string;
}

/** Maps any thrown value to the status sent to the caller. */
export function toStatus(error: unknown): StatusObject {
  if (error instanceof IjrError) return { code: TO_GRPC[error.code], details: error.message };
  return { code: Status.INTERNAL, details: "internal error (see the daemon's log)" };
}

/** The name of a status code, such as "NOT_FOUND". */
export function statusName(code: number): string {
  return Status[code] ?? `STATUS_${code}`;
}

/** An error returned by a remote call: the gRPC code and the server's message. */
export class RpcError extends Error {
  /** The gRPC status code. */
  readonly code: Status;

  constructor(code: Status, message: string) {
    super(message);
    this.name = "RpcError";
    this.code = code;
  }

  /** The status code's name, such as "NOT_FOUND". */
  get codeName(): string {
    return statusName(this.code);
  }
}
