/**
 * Translation between the library's IjrError codes and gRPC status codes, both ways.
 * Unknown errors become INTERNAL with a generic message: their text may carry host paths or
 * stack details that a remote caller has no business seeing; the daemon logs them instead.
 * No grpc-js here: ijrctl's client loads this module too.
 * @module
 */

import { type ErrorCode, IjrError } from "../../errors/mod.ts";
import { Code, codeName } from "./codes.ts";

const TO_GRPC: Record<ErrorCode, Code> = {
  INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  NOT_FOUND: Code.NOT_FOUND,
  ALREADY_EXISTS: Code.ALREADY_EXISTS,
  FAILED_PRECONDITION: Code.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: Code.RESOURCE_EXHAUSTED,
  PERMISSION_DENIED: Code.PERMISSION_DENIED,
  UNAUTHENTICATED: Code.UNAUTHENTICATED,
  ABORTED: Code.ABORTED,
  OUT_OF_RANGE: Code.OUT_OF_RANGE,
  UNAVAILABLE: Code.UNAVAILABLE,
  INTERNAL: Code.INTERNAL,
};

/** A gRPC status: its code and the message the caller is shown. */
export interface StatusObject {
  /** The gRPC status code. */
  code: Code;
  /** The message shown to the caller. */
  details: string;
}

/**
 * Maps any thrown value to the status sent to the caller. An RpcError is a status already: on
 * ijrd, the call layer's refusal of a request's framing (lib/rpc/transport/grpc_call.ts).
 */
export function toStatus(error: unknown): StatusObject {
  if (error instanceof IjrError) return { code: TO_GRPC[error.code], details: error.message };
  if (error instanceof RpcError) return { code: error.code, details: error.message };
  return { code: Code.INTERNAL, details: "internal error (see the daemon's log)" };
}

/** The name of a status code, such as "NOT_FOUND". */
export function statusName(code: number): string {
  return codeName(code);
}

/** An error returned by a remote call: the gRPC code and the server's message. */
export class RpcError extends Error {
  /** The gRPC status code. */
  readonly code: Code;

  constructor(code: Code, message: string) {
    super(message);
    this.name = "RpcError";
    this.code = code;
  }

  /** The status code's name, such as "NOT_FOUND". */
  get codeName(): string {
    return statusName(this.code);
  }
}
