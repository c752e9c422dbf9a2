/**
 * Serves a protobuf-es service on ijrd's gRPC server (server.ts): handlers speak protobuf-es
 * messages while the calls (grpc_call.ts) carry bytes. Unary, server-streaming and
 * client-streaming methods are supported (IJR's API has no bidirectional method). The client
 * side is lib/rpc/client.
 *
 * Messages are decoded by generated decoders (message_decoder.ts), which give what protobuf-es
 * gives, faster.
 *
 * The adapter owns each call from its first byte to its status: it decodes the request (bytes
 * that are not a valid message are INVALID_ARGUMENT naming the message type), runs the handler,
 * encodes the response (a response that cannot be serialized is INTERNAL, its real error kept
 * for the log), sends the status, and tells an observer (the request log) the status the client
 * was sent.
 * @module
 */

import {
  create,
  type DescMessage,
  type DescMethod,
  type MessageInitShape,
  type MessageShape,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { invalidArgument } from "../../errors/mod.ts";
import {
  Code,
  decodeMessage,
  type In,
  type MethodShape,
  type Out,
  type StatusObject,
  toStatus,
} from "../wire/mod.ts";
import type { ConnectionInfo, GrpcCall } from "./grpc_call.ts";
import type { RpcServer } from "./server.ts";

/** What a handler knows about its call. */
export interface CallContext {
  /** The full method path, such as "/ijr.v1.JobService/StartJob". */
  readonly method: string;
  /** The client's verified certificate, when the connection used mutual TLS. */
  readonly peerCertificate?: { raw: Uint8Array };
  /**
   * The connection the call came on: the same object for every call on it, for as long as it
   * is open. What is derived from its certificate can be kept against it (lib/rpc/services/caller.ts),
   * since a TLS 1.3 connection's peer certificate never changes. Absent when unknown (tests).
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

// The call layer sees messages as plain objects; the typed surfaces above keep the real types.
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
  readonly code: Code;
  /** The status message the client was sent. */
  readonly details: string;
  /** What caused a non-OK status; for INTERNAL the real error, which the client never sees. */
  readonly error?: unknown;
  /** From the call reaching ijrd's code to its status, in milliseconds. */
  readonly durationMs: number;
}

/** Told once per call, when the call's status has been sent (or the call ended otherwise). */
export type CallObserver = (record: CallRecord) => void;

/** Options of {@link addService}. */
export interface AddServiceOptions {
  /** Called at the end of every call, with the status the client was sent. */
  readonly onCallEnd?: CallObserver;
}

const OK_STATUS: StatusObject = { code: Code.OK, details: "OK" };

/** The message of a request that does not decode as its type, naming the type. */
function decodeRequest(schema: DescMessage, bytes: Uint8Array, what: string): AnyMessage {
  try {
    return decodeMessage(schema, bytes);
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
function encodeMessage(schema: DescMessage, value: unknown): Uint8Array {
  if (value instanceof EncodedResponse) {
    if (value.schema.typeName !== schema.typeName) {
      throw new Error(`an encoded ${value.schema.typeName} where ${schema.typeName} is due`);
    }
    return value.bytes;
  }
  return toBinary(schema, create(schema, value as MessageInitShape<DescMessage>));
}

/** A call's context; the peer certificate is read only when a handler asks for it. */
class ServerCallContext implements CallContext {
  readonly method: string;
  readonly connection: object;
  readonly signal: AbortSignal;

  readonly #info: ConnectionInfo;

  constructor(call: GrpcCall) {
    this.method = call.path;
    this.connection = this.#info = call.connection;
    this.signal = call.signal;
  }

  get peerCertificate(): { raw: Uint8Array } | undefined {
    return this.#info.peerCertificate;
  }
}

/** One call on the server side: its context, what it decoded, and its single end. */
class ServerCall {
  readonly context: CallContext;
  request?: AnyMessage;
  response?: AnyMessage;
  messages?: number;
  first?: unknown;
  readonly #call: GrpcCall;
  readonly #observer?: CallObserver;
  readonly #started = performance.now();
  #ended = false;

  constructor(call: GrpcCall, observer?: CallObserver) {
    this.#call = call;
    this.#observer = observer;
    this.context = new ServerCallContext(call);
  }

  /** Ends the call with an error: its status, the real error kept for the observer. */
  fail(error: unknown): void {
    this.end(toStatus(error), error);
  }

  /**
   * Sends `status` (after `message`, a unary answer), once, and tells the observer what the
   * client received: when the call had already ended (the client cancelled, the deadline
   * passed, the request was refused), the client got that instead.
   */
  end(status: StatusObject, error: unknown, message?: Uint8Array): void {
    if (this.#ended) return;
    this.#ended = true;
    const received = this.#call.finish(status, message);
    try {
      this.#observer?.({
        method: this.#call.path,
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
}

/** Serves a service's handlers on `server`. */
export function addService<T extends GenServiceMethods>(
  server: RpcServer,
  service: GenService<T>,
  handlers: ServiceHandlers<T>,
  options: AddServiceOptions = {},
): void {
  const table = handlers as Record<string, (...args: unknown[]) => unknown>;
  for (const method of service.methods) {
    const handler = table[method.localName];
    if (!handler) throw new Error(`${methodPath(method)}: no handler`);
    server.addMethod(methodPath(method), adaptHandler(method, handler, options.onCallEnd));
  }
}

function adaptHandler(
  method: DescMethod,
  handler: (...args: unknown[]) => unknown,
  observer: CallObserver | undefined,
): (call: GrpcCall) => Promise<void> {
  switch (method.methodKind) {
    case "unary":
      return async (call) => {
        const server = new ServerCall(call, observer);
        try {
          server.request = decodeRequest(method.input, await call.single(), "request");
          const response = await handler(server.request, server.context);
          respond(server, method, response);
        } catch (error) {
          server.fail(error);
        }
      };
    case "client_streaming":
      return async (call) => {
        const server = new ServerCall(call, observer);
        // A message that does not decode fails the call, whatever the handler makes of it.
        let malformed: unknown;
        const requests = decodeRequests(call, method.input, server, (error) => malformed = error);
        try {
          const response = await handler(requests, server.context);
          if (malformed === undefined) respond(server, method, response);
          else server.fail(malformed);
        } catch (error) {
          server.fail(malformed ?? error);
        }
      };
    case "server_streaming": {
      const keepsFirst = !carriesBytes(method.output);
      return async (call) => {
        const server = new ServerCall(call, observer);
        server.messages = 0;
        try {
          server.request = decodeRequest(method.input, await call.single(), "request");
          const responses = handler(server.request, server.context) as AsyncIterable<unknown>;
          await streamResponses(call, method.output, responses, server, keepsFirst);
          server.end(OK_STATUS, undefined);
        } catch (error) {
          server.fail(error);
        }
      };
    }
    default:
      throw new Error(`${methodPath(method)}: unsupported method kind ${method.methodKind}`);
  }
}

/** Serializes a unary or client-streaming response and sends it, or fails the call. */
function respond(server: ServerCall, method: DescMethod, response: unknown): void {
  let bytes: Uint8Array;
  try {
    bytes = encodeMessage(method.output, response);
  } catch (error) {
    server.fail(error);
    return;
  }
  server.response = response as AnyMessage;
  server.end(OK_STATUS, undefined, bytes);
}

/** A client stream's messages, decoded; the first is kept for the observer. */
async function* decodeRequests(
  call: GrpcCall,
  schema: DescMessage,
  server: ServerCall,
  onMalformed: (error: unknown) => void,
): AsyncGenerator<AnyMessage> {
  let index = 0;
  for await (const bytes of call.messages()) {
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
 * Serializes and writes responses with back-pressure; stops early when the call is over (the
 * client went away). A response that cannot be serialized ends the handler's iteration and
 * rejects.
 */
async function streamResponses(
  call: GrpcCall,
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
    await call.write(bytes);
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
