/**
 * Turns a protobuf-es service descriptor into what ijrd's grpc-js server needs: a service
 * definition whose handlers speak protobuf-es messages while grpc-js only ever sees bytes.
 * Unary, server-streaming and client-streaming methods are supported (IJR's API has no
 * bidirectional method). The client side is IJR's own (lib/rpc/client).
 *
 * Messages are decoded by generated decoders (message_decoder.ts), which give what protobuf-es
 * gives, faster.
 *
 * On the server the adapter owns each call from its first byte to its status: it decodes the
 * request (bytes that are not a valid message are INVALID_ARGUMENT naming the message type),
 * runs the handler, encodes the response before grpc-js sees it (a response that cannot be
 * serialized is INTERNAL, its real error kept for the log), sends the status, and tells an
 * observer (the request log) the status the client was sent.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { invalidArgument } from "../../errors/mod.ts";
import {
  decodeMessage,
  type In,
  type MethodShape,
  type Out,
  RpcError,
  type StatusObject,
  toStatus,
} from "../wire/mod.ts";
import { connectionOf, corkForThisTurn, peerCertificateOf } from "./connection.ts";

/** What a handler knows about its call. */
export interface CallContext {
  /** The full method path, such as "/ijr.v1.JobService/StartJob". */
  readonly method: string;
  /** The client's verified certificate, when the connection used mutual TLS. */
  readonly peerCertificate?: { raw: Uint8Array };
  /**
   * The connection the call came on: the same object for every call on it, for as long as it
   * is open. What is derived from its certificate can be kept against it (lib/rpc/services/caller.ts),
   * since a TLS 1.3 connection's peer certificate never changes. Absent when unknown.
   */
  readonly connection?: object;
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
}

/**
 * A response a handler has already encoded (such as a job list assembled from encodings it
 * keeps): the adapter sends its bytes as they are, after checking they are of the method's
 * response type.
 */
export class EncodedResponse<Desc extends DescMessage = DescMessage> {
  /** The message type the bytes encode. */
  readonly schema: Desc;
  /** The message in protobuf's binary wire format. */
  readonly bytes: Uint8Array;

  constructor(schema: Desc, bytes: Uint8Array) {
    this.schema = schema;
    this.bytes = bytes;
  }
}

/** A server-side handler for one method, by its streaming kind. */
export type MethodHandler<M extends MethodShape> = M["methodKind"] extends "unary" ? (
    request: MessageShape<In<M>>,
    context: CallContext,
  ) => Promise<MessageInitShape<Out<M>> | EncodedResponse<Out<M>>>
  : M["methodKind"] extends "server_streaming" ? (
      request: MessageShape<In<M>>,
      context: CallContext,
    ) => AsyncIterable<MessageInitShape<Out<M>> | EncodedResponse<Out<M>>>
  : M["methodKind"] extends "client_streaming" ? (
      requests: AsyncIterable<MessageShape<In<M>>>,
      context: CallContext,
    ) => Promise<MessageInitShape<Out<M>>>
  : never;

/** Handlers for every method of a service, keyed by the method's local name. */
export type ServiceHandlers<T extends GenServiceMethods> = {
  [K in keyof T]: MethodHandler<T[K]>;
};

/** The gRPC path of a method: "/package.Service/Method". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

// grpc-js sees messages as plain objects; the typed surfaces above keep the real types.
type AnyMessage = object;

/** How a call ended: the status ijrd sent and what it knows about the call. */
export interface CallRecord {
  /** The full method path, such as "/ijr.v1.JobService/StartJob". */
  readonly method: string;
  /** The call's context (caller certificate, cancellation). */
  readonly context: CallContext;
  /** The first request message, when one was decoded. */
  readonly request?: AnyMessage;
  /**
   * The response a unary or client-streaming handler gave, once encoded: sent when `code` is
   * OK. When the call had ended first (the client cancelled, its deadline passed) it was not
   * sent, yet it still says what the call did: the job a StartJob started.
   */
  readonly response?: AnyMessage;
  /** Server streaming: the messages sent. */
  readonly messages?: number;
  /**
   * Server streaming: the first message the handler gave, whatever the call's outcome; sent
   * unless the call had ended first. RunJob's names the job it started, even when the client
   * was gone before it could be sent or the call ends in an error later. Not kept for a
   * message type with bytes fields (StreamOutput's chunks of output).
   */
  readonly first?: unknown;
  /** The status code the client was sent. */
  readonly code: grpc.status;
  /** The status message the client was sent. */
  readonly details: string;
  /** What caused a non-OK status; for INTERNAL the real error, which the client never sees. */
  readonly error?: unknown;
  /** From the call reaching ijrd's code to its status, in milliseconds. */
  readonly durationMs: number;
}

/** Told once per call, when the call's status has been handed to grpc-js. */
export type CallObserver = (record: CallRecord) => void;

/** Options of {@link addService}. */
export interface AddServiceOptions {
  /** Called at the end of every call, with the status the client was sent. */
  readonly onCallEnd?: CallObserver;
}

const OK_STATUS: StatusObject = { code: grpc.status.OK, details: "OK" };

/** The message of a request that does not decode as its type, naming the type. */
function decodeRequest(schema: DescMessage, bytes: Uint8Array, what: string): AnyMessage {
  try {
    // A plain Uint8Array view, so `bytes` fields come out as Uint8Array and not node Buffers.
    return decodeMessage(schema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (error) {
    throw invalidArgument(
      `${what} is not a valid ${schema.typeName}: ${(error as Error).message ?? error}`,
    );
  }
}

/**
 * Serializes a message; create() returns an already-created message unchanged. An
 * EncodedResponse is sent as it is, when it is of the expected type.
 */
function encodeMessage(schema: DescMessage, value: unknown): Buffer {
  let bytes: Uint8Array;
  if (value instanceof EncodedResponse) {
    if (value.schema.typeName !== schema.typeName) {
      throw new Error(`an encoded ${value.schema.typeName} where ${schema.typeName} is due`);
    }
    bytes = value.bytes;
  } else {
    bytes = toBinary(schema, create(schema, value as MessageInitShape<DescMessage>));
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The grpc-js service definition ijrd serves: bytes in, bytes out. The adapter decodes each
 * request and encodes each response itself, so that a request that is not a valid message
 * is INVALID_ARGUMENT naming its type (grpc-js would answer INTERNAL "Error deserializing
 * request"), and a response that cannot be serialized is an INTERNAL whose real cause is
 * logged, with a status the request log knows.
 */
export function serviceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const bytes = (value: Buffer) => value;
  for (const method of service.methods) {
    if (method.methodKind === "bidi_streaming") {
      throw new Error(`${methodPath(method)}: bidirectional streaming is not supported`);
    }
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming",
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: bytes,
      responseDeserialize: bytes,
      originalName: method.name,
    };
  }
  return definition;
}

interface ServerCallLike {
  getAuthContext(): { sslPeerCertificate?: { raw: Uint8Array } } | null;
  getDeadline(): grpc.Deadline;
  on(event: "cancelled", listener: () => void): unknown;
}

/**
 * The reason every call's signal is aborted with. One shared instance: grpc-js ends every
 * call with "cancelled", even a successful one, and a new Error per call (its stack
 * captured) was a measurable share of a unary call in ijrd's profile.
 */
const CALL_OVER = new RpcError(grpc.status.CANCELLED, "cancelled");

/** A call's context; the peer certificate is fetched only when a handler asks for it. */
class ServerCallContext implements CallContext {
  readonly method: string;
  readonly connection?: object;
  readonly signal: AbortSignal;
  readonly #call: ServerCallLike;
  #peer?: { peer?: { raw: Uint8Array } };

  constructor(call: ServerCallLike, method: DescMethod) {
    this.#call = call;
    this.method = methodPath(method);
    this.connection = connectionOf(call);
    const controller = new AbortController();
    // grpc-js emits "cancelled" once a call is over, whichever way: after its status is
    // sent, and when the client cancels, the deadline passes or grpc-js refuses a message.
    call.on("cancelled", () => controller.abort(CALL_OVER));
    this.signal = controller.signal;
  }

  /**
   * Read from the TLS socket on first use: Deno builds a whole certificate object for it. On a
   * connection ijrd ended TLS for itself (goaway_filter.ts) grpc-js sees no TLS socket, and the
   * connection has the certificate.
   */
  get peerCertificate(): { raw: Uint8Array } | undefined {
    this.#peer ??= {
      peer: this.#call.getAuthContext()?.sslPeerCertificate ?? peerCertificateOf(this.connection),
    };
    return this.#peer.peer;
  }
}

/** One call on the server side: its context, what it decoded, and its single end. */
class ServerCall {
  readonly context: CallContext;
  request?: AnyMessage;
  response?: AnyMessage;
  messages?: number;
  first?: unknown;
  readonly #call: ServerCallLike;
  readonly #path: string;
  readonly #observer?: CallObserver;
  readonly #started = performance.now();
  #ended = false;

  constructor(call: ServerCallLike, method: DescMethod, observer?: CallObserver) {
    this.#call = call;
    this.#path = methodPath(method);
    this.#observer = observer;
    this.context = new ServerCallContext(call, method);
  }

  /** Ends the call with an error: its status, the real error kept for the observer. */
  fail(error: unknown, send: (status: StatusObject) => void): void {
    const status = toStatus(error);
    this.end(status, error, () => send(status));
  }

  /**
   * Hands `status` to grpc-js through `send`, once, and tells the observer what the client
   * received: when grpc-js has already ended the call (the client cancelled, the deadline
   * passed, it refused an oversized message), the client got that instead.
   */
  end(status: StatusObject, error: unknown, send: () => void): void {
    if (this.#ended) return;
    this.#ended = true;
    const received = this.context.signal.aborted ? this.#endedByGrpc() : status;
    corkForThisTurn(this.context.connection);
    send();
    try {
      this.#observer?.({
        method: this.#path,
        context: this.context,
        request: this.request,
        response: this.response,
        messages: this.messages,
        first: this.first,
        code: received.code,
        details: received.details,
        error,
        durationMs: performance.now() - this.#started,
      });
    } catch (failure) {
      console.error(`ijr: the call observer failed: ${(failure as Error)?.stack ?? failure}`);
    }
  }

  #endedByGrpc(): StatusObject {
    const deadline = this.#call.getDeadline();
    const due = deadline instanceof Date ? deadline.getTime() : deadline;
    return due <= Date.now()
      ? { code: grpc.status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }
      : { code: grpc.status.CANCELLED, details: "cancelled" };
  }
}

/** Runs `fn`, turning a synchronous throw into a rejection. */
function settle<T>(fn: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

/** Adds a service's handlers to a grpc-js server. */
export function addService<T extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<T>,
  handlers: ServiceHandlers<T>,
  options: AddServiceOptions = {},
): void {
  const implementation: grpc.UntypedServiceImplementation = {};
  const table = handlers as Record<string, (...args: unknown[]) => unknown>;
  for (const method of service.methods) {
    const handler = table[method.localName];
    if (!handler) throw new Error(`${methodPath(method)}: no handler`);
    implementation[method.localName] = adaptHandler(method, handler, options.onCallEnd);
  }
  server.addService(serviceDefinition(service), implementation);
}

function adaptHandler(
  method: DescMethod,
  handler: (...args: unknown[]) => unknown,
  observer: CallObserver | undefined,
): grpc.UntypedHandleCall {
  switch (method.methodKind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const server = new ServerCall(call, method, observer);
        const reply = (status: StatusObject) => callback(status);
        try {
          server.request = decodeRequest(method.input, call.request, "request");
        } catch (error) {
          server.fail(error, reply);
          return;
        }
        settle(() => handler(server.request, server.context)).then(
          (response) => respond(server, method, response, (bytes) => callback(null, bytes), reply),
          (error) => server.fail(error, reply),
        );
      };
    case "client_streaming":
      return (
        call: grpc.ServerReadableStream<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) => {
        const server = new ServerCall(call, method, observer);
        const reply = (status: StatusObject) => callback(status);
        // A message that does not decode fails the call, whatever the handler makes of it.
        let malformed: unknown;
        const requests = decodeRequests(call, method.input, server, (error) => malformed = error);
        settle(() => handler(requests, server.context)).then(
          (response) =>
            malformed === undefined
              ? respond(server, method, response, (bytes) => callback(null, bytes), reply)
              : server.fail(malformed, reply),
          (error) => {
            call.destroy(); // stop reading the rest of an upload we refused
            server.fail(malformed ?? error, reply);
          },
        );
      };
    case "server_streaming": {
      const keepsFirst = !carriesBytes(method.output);
      return (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const server = new ServerCall(call, method, observer);
        server.messages = 0;
        const reply = (status: StatusObject) => call.emit("error", status);
        let responses: AsyncIterable<unknown>;
        try {
          server.request = decodeRequest(method.input, call.request, "request");
          responses = handler(server.request, server.context) as AsyncIterable<unknown>;
        } catch (error) {
          server.fail(error, reply);
          return;
        }
        streamResponses(call, method.output, responses, server, keepsFirst).then(
          () => server.end(OK_STATUS, undefined, () => call.end()),
          (error) => server.fail(error, reply),
        );
      };
    }
    default:
      throw new Error(`${methodPath(method)}: unsupported method kind ${method.methodKind}`);
  }
}

/** Serializes a unary or client-streaming response and sends it, or fails the call. */
function respond(
  server: ServerCall,
  method: DescMethod,
  response: unknown,
  send: (bytes: Buffer) => void,
  reply: (status: StatusObject) => void,
): void {
  let bytes: Buffer;
  try {
    bytes = encodeMessage(method.output, response);
  } catch (error) {
    server.fail(error, reply);
    return;
  }
  server.response = response as AnyMessage;
  server.end(OK_STATUS, undefined, () => send(bytes));
}

/** A client stream's messages, decoded; the first is kept for the observer. */
async function* decodeRequests(
  call: AsyncIterable<Buffer>,
  schema: DescMessage,
  server: ServerCall,
  onMalformed: (error: unknown) => void,
): AsyncGenerator<AnyMessage> {
  let index = 0;
  for await (const bytes of call) {
    index++;
    let message: AnyMessage;
    try {
      message = decodeRequest(schema, bytes, `request message ${index}`);
    } catch (error) {
      onMalformed(error);
      throw error;
    }
    server.request ??= message;
    yield message;
  }
}

/**
 * Serializes and writes responses with back-pressure; stops early when the client goes away.
 * A response that cannot be serialized ends the handler's iteration and rejects.
 */
async function streamResponses(
  call: grpc.ServerWritableStream<Buffer, Buffer>,
  schema: DescMessage,
  responses: AsyncIterable<unknown>,
  server: ServerCall,
  keepsFirst: boolean,
): Promise<void> {
  const { signal } = server.context;
  for await (const response of responses) {
    if (keepsFirst && server.first === undefined) server.first = response;
    if (signal.aborted) return;
    const bytes = encodeMessage(schema, response);
    server.messages = (server.messages ?? 0) + 1;
    corkForThisTurn(server.context.connection);
    if (!call.write(bytes)) {
      await Promise.race([once(call, "drain"), once(signal, "abort")]);
    }
  }
}

/**
 * Whether messages of `schema` carry bytes fields (StreamOutput's chunks of output, up to 64
 * KiB each). A stream's first message is kept for its observer (what a RunJob started) for as
 * long as the stream lasts, hours for an output follower: not a chunk of bytes, which would
 * stay in memory all that while and tells the log nothing.
 */
function carriesBytes(schema: DescMessage): boolean {
  return schema.fields.some((field) =>
    (field.fieldKind === "scalar" || field.fieldKind === "list") &&
    field.scalar === ScalarType.BYTES
  );
}
