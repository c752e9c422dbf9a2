/**
 * gRPC's framing over HTTP/2 (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md),
 * the same for both ends: length-prefixed messages, the grpc-timeout header, and reading a
 * header's value. The client's requests and statuses are lib/rpc/client/grpc_wire.ts; the
 * server's are lib/rpc/transport/grpc_call.ts.
 * @module
 */

import { Code } from "./codes.ts";
import { RpcError } from "./status.ts";

/** Who sent the bytes a MessageReader reads. */
export type PeerRole = "client" | "server";

/** One header field: a lower-case name and its value (as lib/rpc/h2 has it). */
type Field = readonly [name: string, value: string];

/** The most one received message may take (grpc-js's default too). */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/** A grpc-timeout value: at most 8 digits and a unit, rounded up so it never comes early. */
export function grpcTimeout(timeoutMs: number): string {
  const ms = Math.max(0, Math.ceil(timeoutMs));
  if (ms < 1e8) return `${ms}m`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 1e8) return `${seconds}S`;
  return `${Math.min(Math.ceil(seconds / 3600), 99_999_999)}H`;
}

const TIMEOUT_UNITS_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * A grpc-timeout value in milliseconds: 1 to 8 digits and a unit (H, M, S, m, u, n), or
 * undefined when it is not one.
 */
export function parseGrpcTimeout(text: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(text);
  return match ? Number(match[1]) * TIMEOUT_UNITS_MS[match[2]] : undefined;
}

/** A message with its 5-byte prefix (not compressed, big-endian length). */
export function frameMessage(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}

/**
 * Reassembles length-prefixed messages from DATA as it arrives: what it holds is what has come
 * of the current message, bounded by the largest message accepted. A compressed message (none was negotiated) or
 * one above the size limit fails with the status the call must end with: `refusals` says which
 * (a server's faults are INTERNAL to its client; a client's are INVALID_ARGUMENT to ijrd).
 */
export class MessageReader {
  readonly #prefix = new Uint8Array(5);
  #prefixFilled = 0;
  /** The length the current message's prefix announced, once it is read. */
  #length: number | undefined;
  /**
   * The current message's bytes so far, in a buffer that grows (to what came, at least doubling,
   * up to the announced length) as they come: a prefix that announces 4 MiB costs nothing until the bytes are sent
   * (a peer could open many streams with such prefixes), and however finely the peer cuts its
   * DATA, the buffer is at most twice what came.
   */
  #buffer: Uint8Array | undefined;
  #messageFilled = 0;
  readonly #maxBytes: number;
  readonly #peer: PeerRole;

  constructor(peer: PeerRole, maxBytes = MAX_RECEIVE_MESSAGE_BYTES) {
    this.#peer = peer;
    this.#maxBytes = maxBytes;
  }

  /** Bytes received that do not yet make a whole message. */
  get partial(): number {
    return this.#prefixFilled + this.#messageFilled;
  }

  /**
   * Adds `bytes` (a view the caller may reuse after this call: what is kept is copied) and
   * returns the messages they complete (`size` counts the 5-byte prefix too).
   */
  push(bytes: Uint8Array): { message: Uint8Array; size: number }[] {
    const messages: { message: Uint8Array; size: number }[] = [];
    let at = 0;
    while (true) {
      if (this.#length === undefined) {
        const take = Math.min(5 - this.#prefixFilled, bytes.length - at);
        this.#prefix.set(bytes.subarray(at, at + take), this.#prefixFilled);
        this.#prefixFilled += take;
        at += take;
        if (this.#prefixFilled < 5) break;
        this.#length = this.#readPrefix();
      }
      const length = this.#length;
      const take = Math.min(length - this.#messageFilled, bytes.length - at);
      const buffer = this.#room(length, this.#messageFilled + take);
      buffer.set(bytes.subarray(at, at + take), this.#messageFilled);
      this.#messageFilled += take;
      at += take;
      if (this.#messageFilled < length) break;
      messages.push({ message: buffer, size: 5 + length });
      this.#buffer = undefined;
      this.#length = undefined;
      this.#prefixFilled = this.#messageFilled = 0;
      if (at === bytes.length) break;
    }
    return messages;
  }

  /** The current message's buffer with room for `needed` bytes, at most `length`. */
  #room(length: number, needed: number): Uint8Array {
    const buffer = this.#buffer;
    if (buffer !== undefined && buffer.length >= needed) return buffer;
    const size = Math.min(length, Math.max(needed, 2 * (buffer?.length ?? 0)));
    const grown = new Uint8Array(size);
    if (buffer !== undefined) grown.set(buffer.subarray(0, this.#messageFilled));
    this.#buffer = grown;
    return grown;
  }

  /** The length a complete prefix announces, after its checks. */
  #readPrefix(): number {
    const flags = this.#prefix[0];
    if (flags !== 0) {
      throw new RpcError(
        this.#peer === "server" ? Code.INTERNAL : Code.INVALID_ARGUMENT,
        flags === 1
          ? `the ${this.#peer} sent a compressed message, and no compression was negotiated`
          : `message flags ${flags} are not gRPC's`,
      );
    }
    const length = new DataView(this.#prefix.buffer).getUint32(1);
    if (length > this.#maxBytes) {
      throw new RpcError(
        Code.RESOURCE_EXHAUSTED,
        this.#peer === "server"
          ? `Received message larger than max (${length} vs. ${this.#maxBytes})`
          : `request message of ${length} bytes; the most accepted is ${this.#maxBytes}`,
      );
    }
    return length;
  }
}

/** The first value of `name` in `fields`. */
export function header(fields: readonly Field[], name: string): string | undefined {
  return fields.find(([field]) => field === name)?.[1];
}
