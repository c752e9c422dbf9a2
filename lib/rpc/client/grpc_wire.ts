/**
 * gRPC over HTTP/2 as its client sees it (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * a request's headers, length-prefixed messages, and the status in the trailers (or in the
 * only headers of a "trailers-only" answer).
 * @module
 */

import type { HeaderField } from "../h2/mod.ts";
import { Code, grpcTimeout, header, RpcError } from "../wire/mod.ts";

/** The headers of a call to `path`; with a deadline, its grpc-timeout. */
export function requestHeaders(
  path: string,
  authority: string,
  timeoutMs?: number,
): HeaderField[] {
  const headers: HeaderField[] = [
    [":method", "POST"],
    [":scheme", "https"],
    [":path", path],
    [":authority", authority],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
  if (timeoutMs !== undefined) headers.push(["grpc-timeout", grpcTimeout(timeoutMs)]);
  return headers;
}

/** HTTP statuses a gRPC client maps to codes when no grpc-status came (the spec's table). */
const HTTP_TO_CODE: Record<number, Code> = {
  400: Code.INTERNAL,
  401: Code.UNAUTHENTICATED,
  403: Code.PERMISSION_DENIED,
  404: Code.UNIMPLEMENTED,
  429: Code.UNAVAILABLE,
  502: Code.UNAVAILABLE,
  503: Code.UNAVAILABLE,
  504: Code.UNAVAILABLE,
};

/**
 * What is wrong with a response's first headers, as the status the call ends with; undefined
 * when they are those of a gRPC answer.
 */
export function checkResponseHeaders(fields: readonly HeaderField[]): RpcError | undefined {
  const status = Number(header(fields, ":status"));
  // A gRPC status, when there is one, says more than the HTTP status (a proxy's answer).
  if (status !== 200 && header(fields, "grpc-status") !== undefined) {
    const { code, message } = statusOf(fields);
    if (code !== Code.OK) return new RpcError(code, message);
  }
  if (status !== 200) {
    return new RpcError(
      HTTP_TO_CODE[status] ?? Code.UNKNOWN,
      `the server answered with HTTP status ${header(fields, ":status") ?? "(none)"}`,
    );
  }
  const contentType = header(fields, "content-type") ?? "";
  if (!/^application\/grpc([+;]|$)/.test(contentType)) {
    return new RpcError(Code.UNKNOWN, `the server answered with content-type "${contentType}"`);
  }
  return undefined;
}

/** The status in trailers (or trailers-only headers): grpc-status and grpc-message. */
export function statusOf(fields: readonly HeaderField[]): { code: Code; message: string } {
  const text = header(fields, "grpc-status");
  if (text === undefined) return { code: Code.UNKNOWN, message: "the server sent no status" };
  const code = /^\d{1,2}$/.test(text) && Number(text) <= 16 ? Number(text) as Code : Code.UNKNOWN;
  return { code, message: percentDecode(header(fields, "grpc-message") ?? "") };
}

/** grpc-message is percent-encoded UTF-8; a malformed one is shown as it came. */
function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
