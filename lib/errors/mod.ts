/**
 * Errors that carry the gRPC status they map to, so the library can say "not found" or
 * "invalid argument" without knowing about gRPC, and the RPC layer translates faithfully.
 * @module
 */

/** The status codes the library uses; names and meanings as in gRPC. */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "RESOURCE_EXHAUSTED"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNAVAILABLE"
  | "INTERNAL";

/** An error with a status code and a message meant for the user. */
export class IjrError extends Error {
  /** The status code this error maps to. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IjrError";
    this.code = code;
  }
}

/** Shorthand for `new IjrError("INVALID_ARGUMENT", message)`. */
export function invalidArgument(message: string): IjrError {
  return new IjrError("INVALID_ARGUMENT", message);
}

/** Shorthand for `new IjrError("NOT_FOUND", message)`. */
export function notFound(message: string): IjrError {
  return new IjrError("NOT_FOUND", message);
}

/** Shorthand for `new IjrError("FAILED_PRECONDITION", message)`. */
export function failedPrecondition(message: string): IjrError {
  return new IjrError("FAILED_PRECONDITION", message);
}

/** Longest excerpt of a refused value that an error message quotes. */
const QUOTE_CHARS = 40;

/**
 * `text` quoted for an error message (JSON string syntax, so control characters show), cut
 * short after 40 characters: an error about a megabyte-long value must not carry it back.
 */
export function quoteValue(text: string): string {
  return JSON.stringify(text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}...` : text);
}

export { diskError, isNoSpace } from "./disk.ts";
