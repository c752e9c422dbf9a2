/**
 * gRPC over HTTP/2 as its client sees it (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * a request's headers, length-prefixed messages, and the status in the trailers (or in the
 * only headers of a "trailers-only" answer).
 * @module
 */

import type { HeaderField } from "../h2/mod.ts";
import { Code, RpcError } from "../wire/mod.ts";

/** The most one received message may take (grpc-js's default too). */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

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

/** A grpc-timeout value: at most 8 digits and a unit, rounded up so it never comes early. */
export function grpcTimeout(timeoutMs: number): string {
  const ms = Math.max(0, Math.ceil(timeoutMs));
  if (ms < 1e8) return `${ms}m`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 1e8) return `${seconds}S`;
  return `${Math.min(Math.ceil(seconds / 3600), 99_999_999)}H`;
}

/** A message with its 5-byte prefix (not compressed, big-endian length). */
export function frameMessage(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}

/**
 * Reassembles length-prefixed messages from DATA as it arrives, copying each message's bytes
 * into one buffer made when its prefix is read: what it holds is bounded by the largest message
 * accepted, however finely a server cuts its DATA. A compressed message (none was asked for) or
 * one above the size limit fails with the status the call must end with.
 */
export class MessageReader {
  readonly #prefix = new Uint8Array(5);
  #prefixFilled = 0;
  /** The message being filled, once its prefix is read. */
  #message: Uint8Array | undefined;
  #messageFilled = 0;
  readonly #maxBytes: number;

  constructor(maxBytes = MAX_RECEIVE_MESSAGE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes received that do not yet make a whole message. */
  get partial(): number {
    return this.#prefixFilled + this.#messageFilled;
  }

  /** Adds `bytes` and returns the messages they complete (`size` counts the 5-byte prefix too). */
  push(bytes: Uint8Array): { message: Uint8Array; size: number }[] {
    const messages: { message: Uint8Array; size: number }[] = [];
    let at = 0;
    while (true) {
      if (this.#message === undefined) {
        const take = Math.min(5 - this.#prefixFilled, bytes.length - at);
        this.#prefix.set(bytes.subarray(at, at + take), this.#prefixFilled);
        this.#prefixFilled += take;
        at += take;
        if (this.#prefixFilled < 5) break;
        this.#message = new Uint8Array(this.#readPrefix());
      }
      const message = this.#message;
      const take = Math.min(message.length - this.#messageFilled, bytes.length - at);
      message.set(bytes.subarray(at, at + take), this.#messageFilled);
      this.#messageFilled += take;
      at += take;
      if (this.#messageFilled < message.length) break;
      messages.push({ message, size: 5 + message.length });
      this.#message = undefined;
      this.#prefixFilled = this.#messageFilled = 0;
      if (at === bytes.length) break;
    }
    return messages;
  }

  /** The length a complete prefix announces, after its checks. */
  #readPrefix(): number {
    const flags = this.#prefix[0];
    if (flags !== 0) {
      throw new RpcError(
        Code.INTERNAL,
        flags === 1
          ? "the server sent a compressed message, and no compression was negotiated"
          : `message flags ${flags} are not gRPC's`,
      );
    }
    const length = new DataView(this.#prefix.buffer).getUint32(1);
    if (length > this.#maxBytes) {
      throw new RpcError(
        Code.RESOURCE_EXHAUSTED,
        `Received message larger than max (${length} vs. ${this.#maxBytes})`,
      );
    }
    return length;
  }
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

/** The first value of `name` in `fields`. */
export function header(fields: readonly HeaderField[], name: string): string | undefined {
  return fields.find(([field]) => field === name)?.[1];
}

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
