/**
 * A grpc-js client that sends and receives raw bytes (identity serializers), so tests can
 * send what no well-behaved client would: bytes that are not a valid message, fields out of
 * range, oversized messages. Every call resolves with the status the server sent.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { credentialsOf } from "./grpc_server.ts";
import type { TestPki } from "./pki.ts";

/** What a raw call ended with. */
export interface RawResult {
  /** The status code's name, such as "INVALID_ARGUMENT" ("OK" on success). */
  readonly code: string;
  /** The status message. */
  readonly details: string;
  /** Response messages (one for unary and client streaming calls that succeeded). */
  readonly responses: Uint8Array[];
}

const bytes = (value: Buffer) => value;

function result(error: grpc.ServiceError | null, responses: Uint8Array[]): RawResult {
  if (!error) return { code: "OK", details: "", responses };
  return { code: grpc.status[error.code], details: error.details, responses };
}

/** A raw client over mutual TLS as one of the test PKI's users. */
export class RawClient {
  readonly #client: grpc.Client;

  constructor(address: string, pki: TestPki, user: "admin" | "alice" | "bob") {
    this.#client = new grpc.Client(
      address,
      credentialsOf(pki, user),
      // The client must not refuse what the server may answer with; the server's own receive
      // limit is what the tests exercise.
      { "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1 },
    );
  }

  /** A unary call with `request` as the message bytes. */
  unary(path: string, request: Uint8Array, options: { deadlineMs?: number } = {}) {
    return new Promise<RawResult>((resolve) => {
      this.#client.makeUnaryRequest(
        path,
        bytes,
        bytes,
        Buffer.from(request),
        new grpc.Metadata(),
        options.deadlineMs === undefined
          ? {}
          : { deadline: new Date(Date.now() + options.deadlineMs) },
        (error, response) => resolve(result(error, response ? [new Uint8Array(response)] : [])),
      );
    });
  }

  /** A server-streaming call: every message received, then the status. */
  serverStream(path: string, request: Uint8Array): Promise<RawResult> {
    return new Promise<RawResult>((resolve) => {
      const responses: Uint8Array[] = [];
      const call = this.#client.makeServerStreamRequest(
        path,
        bytes,
        bytes,
        Buffer.from(request),
        new grpc.Metadata(),
        {},
      );
      call.on("data", (message: Buffer) => responses.push(new Uint8Array(message)));
      // The status can arrive before messages still buffered in the stream are read: the
      // result is complete once both the status and the stream's end are in.
      let status: grpc.StatusObject | undefined;
      let ended = false;
      const settle = () => {
        if (!status || !ended) return;
        resolve({
          code: grpc.status[status.code],
          details: status.code === grpc.status.OK ? "" : status.details,
          responses,
        });
      };
      call.on("status", (received: grpc.StatusObject) => {
        status = received;
        settle();
      });
      call.on("error", () => {
        ended = true;
        settle();
      });
      for (const event of ["end", "close"]) {
        call.on(event, () => {
          ended = true;
          settle();
        });
      }
    });
  }

  /** A client-streaming call that sends `requests` as message bytes, then half-closes. */
  clientStream(path: string, requests: Uint8Array[]): Promise<RawResult> {
    return new Promise<RawResult>((resolve) => {
      const call = this.#client.makeClientStreamRequest(
        path,
        bytes,
        bytes,
        new grpc.Metadata(),
        {},
        (error, response) => resolve(result(error, response ? [new Uint8Array(response)] : [])),
      );
      // Writes after the server has answered fail quietly; the status is what counts.
      call.on("error", () => {});
      for (const request of requests) call.write(Buffer.from(request));
      call.end();
    });
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }
}
