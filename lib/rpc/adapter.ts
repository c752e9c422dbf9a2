/**
 * Turns a protobuf-es service descriptor into what grpc-js needs: a service definition
 * (method paths, streaming kinds, serializers using toBinary/fromBinary) for the server, and
 * a typed, promise-based client. Handlers and clients speak protobuf-es messages; grpc-js
 * only ever sees bytes. Unary, server-streaming and client-streaming methods are supported
 * (IJR's API has no bidirectional method).
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { RpcError, toStatus } from "./status.ts";

type MethodShape = GenServiceMethods[string];
type In<M extends MethodShape> = M["input"];
type Out<M extends MethodShape> = M["output"];

/** What a handler knows about its call. */
export interface CallContext {
  /** The full method path, such as "/ijr.v1.JobService/StartJob". */
  readonly method: string;
  /** The client's verified certificate, when the connection used mutual TLS. */
  readonly peerCertificate?: { raw: Uint8Array };
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
}

/** A server-side handler for one method, by its streaming kind. */
export type MethodHandler<M extends MethodShape> = M["methodKind"] extends "unary" ? (
    request: MessageShape<In<M>>,
    context: CallContext,
  ) => Promise<MessageInitShape<Out<M>>>
  : M["methodKind"] extends "server_streaming" ? (
      request: MessageShape<In<M>>,
      context: CallContext,
    ) => AsyncIterable<MessageInitShape<Out<M>>>
  : M["methodKind"] extends "client_streaming" ? (
      requests: AsyncIterable<MessageShape<In<M>>>,
      context: CallContext,
    ) => Promise<MessageInitShape<Out<M>>>
  : never;

/** Handlers for every method of a service, keyed by the method's local name. */
export type ServiceHandlers<T extends GenServiceMethods> = {
  [K in keyof T]: MethodHandler<T[K]>;
};

/** Per-call client options. */
export interface ClientCallOptions {
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /** Fails the call with DEADLINE_EXCEEDED after this many milliseconds. */
  readonly timeoutMs?: number;
}

/** A client-side method, by its streaming kind. */
export type ClientMethod<M extends MethodShape> = M["methodKind"] extends "unary" ? (
    request: MessageInitShape<In<M>>,
    options?: ClientCallOptions,
  ) => Promise<MessageShape<Out<M>>>
  : M["methodKind"] extends "server_streaming" ? (
      request: MessageInitShape<In<M>>,
      options?: ClientCallOptions,
    ) => AsyncIterable<MessageShape<Out<M>>>
  : M["methodKind"] extends "client_streaming" ? (
      requests: AsyncIterable<MessageInitShape<In<M>>> | Iterable<MessageInitShape<In<M>>>,
      options?: ClientCallOptions,
    ) => Promise<MessageShape<Out<M>>>
  : never;

/** A typed client for a service: one method per RPC, plus close(). */
export type ServiceClient<T extends GenServiceMethods> =
  & { [K in keyof T]: ClientMethod<T[K]> }
  & { close(): void };

/** The gRPC path of a method: "/package.Service/Method". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

// grpc-js sees messages as plain objects; the typed surfaces above keep the real types.
type AnyMessage = object;

function serializer(schema: DescMessage): (value: AnyMessage) => Buffer {
  // create() returns an already-created message unchanged, so handlers may return either.
  return (value) =>
    Buffer.from(toBinary(schema, create(schema, value as MessageInitShape<DescMessage>)));
}

function deserializer(schema: DescMessage): (bytes: Buffer) => AnyMessage {
  // A plain Uint8Array view, so `bytes` fields come out as Uint8Array and not node Buffers.
  return (bytes) =>
    fromBinary(schema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

/** The grpc-js service definition of a protobuf-es service. */
export function serviceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<AnyMessage, AnyMessage>> = {};
  for (const method of service.methods) {
    if (method.methodKind === "bidi_streaming") {
      throw new Error(`${methodPath(method)}: bidirectional streaming is not supported`);
    }
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming",
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  return definition;
}

interface ServerCallLike {
  getAuthContext(): { sslPeerCertificate?: { raw: Uint8Array } } | null;
  on(event: "cancelled", listener: () => void): unknown;
}

function contextOf(call: ServerCallLike, method: DescMethod): CallContext {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort(new RpcError(grpc.status.CANCELLED, "cancelled")));
  const peer = call.getAuthContext()?.sslPeerCertificate;
  return { method: methodPath(method), peerCertificate: peer, signal: controller.signal };
}

/** Adds a service's handlers to a grpc-js server. */
export function addService<T extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<T>,
  handlers: ServiceHandlers<T>,
): void {
  const implementation: grpc.UntypedServiceImplementation = {};
  const table = handlers as Record<string, (...args: unknown[]) => unknown>;
  for (const method of service.methods) {
    const handler = table[method.localName];
    if (!handler) throw new Error(`${methodPath(method)}: no handler`);
    implementation[method.localName] = adaptHandler(method, handler);
  }
  server.addService(serviceDefinition(service), implementation);
}

function adaptHandler(
  method: DescMethod,
  handler: (...args: unknown[]) => unknown,
): grpc.UntypedHandleCall {
  switch (method.methodKind) {
    case "unary":
      return (
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        (handler(call.request, contextOf(call, method)) as Promise<unknown>).then(
          (response) => callback(null, response),
          (error) => callback(toStatus(error)),
        );
      };
    case "client_streaming":
      return (
        call: grpc.ServerReadableStream<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const requests = call as AsyncIterable<unknown>;
        (handler(requests, contextOf(call, method)) as Promise<unknown>).then(
          (response) => callback(null, response),
          (error) => {
            call.destroy(); // stop reading the rest of an upload we refused
            callback(toStatus(error));
          },
        );
      };
    case "server_streaming":
      return (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const context = contextOf(call, method);
        const responses = handler(call.request, context) as AsyncIterable<unknown>;
        streamResponses(call, responses, context).then(
          () => call.end(),
          (error) => call.emit("error", toStatus(error)),
        );
      };
    default:
      throw new Error(`${methodPath(method)}: unsupported method kind ${method.methodKind}`);
  }
}

/** Writes responses with back-pressure; stops early when the client goes away. */
async function streamResponses(
  call: grpc.ServerWritableStream<unknown, unknown>,
  responses: AsyncIterable<unknown>,
  context: CallContext,
): Promise<void> {
  for await (const response of responses) {
    if (context.signal.aborted) return;
    if (!call.write(response)) {
      await Promise.race([once(call, "drain"), once(context.signal, "abort")]);
    }
  }
}

function callOptions(options?: ClientCallOptions): grpc.CallOptions {
  return options?.timeoutMs === undefined
    ? {}
    : { deadline: new Date(Date.now() + options.timeoutMs) };
}

function asRpcError(error: unknown): unknown {
  const status = error as Partial<grpc.ServiceError>;
  if (typeof status?.code === "number" && typeof status.details === "string") {
    return new RpcError(status.code, status.details);
  }
  return error;
}

function watchAbort(call: { cancel(): void }, signal?: AbortSignal): () => void {
  if (!signal) return () => {};
  const cancel = () => call.cancel();
  if (signal.aborted) cancel();
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

/** Creates a typed client for a service over an existing grpc-js channel setup. */
export function createClient<T extends GenServiceMethods>(
  service: GenService<T>,
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions: grpc.ChannelOptions = {},
): ServiceClient<T> {
  const client = new grpc.Client(address, credentials, channelOptions);
  const methods: Record<string, unknown> = { close: () => client.close() };
  for (const method of service.methods) {
    methods[method.localName] = clientMethod(client, method);
  }
  return methods as ServiceClient<T>;
}

function clientMethod(client: grpc.Client, method: DescMethod): unknown {
  const path = methodPath(method);
  const serialize = serializer(method.input);
  const deserialize = deserializer(method.output);
  switch (method.methodKind) {
    case "unary":
      return (request: AnyMessage, options?: ClientCallOptions) =>
        new Promise((resolve, reject) => {
          const call = client.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            request,
            new grpc.Metadata(),
            callOptions(options),
            (error, response) => {
              unwatch();
              if (error) reject(asRpcError(error));
              else resolve(response);
            },
          );
          const unwatch = watchAbort(call, options?.signal);
        });
    case "server_streaming":
      return (request: AnyMessage, options?: ClientCallOptions) =>
        readStream(
          client.makeServerStreamRequest(
            path,
            serialize,
            deserialize,
            request,
            new grpc.Metadata(),
            callOptions(options),
          ),
          options?.signal,
        );
    case "client_streaming":
      return (
        requests: AsyncIterable<AnyMessage> | Iterable<AnyMessage>,
        options?: ClientCallOptions,
      ) =>
        new Promise((resolve, reject) => {
          let settled = false;
          const call = client.makeClientStreamRequest(
            path,
            serialize,
            deserialize,
            new grpc.Metadata(),
            callOptions(options),
            (error, response) => {
              settled = true;
              unwatch();
              if (error) reject(asRpcError(error));
              else resolve(response);
            },
          );
          const unwatch = watchAbort(call, options?.signal);
          writeRequests(call, requests, () => settled).catch((error) => {
            call.cancel();
            if (!settled) reject(error);
          });
        });
    default:
      throw new Error(`${path}: unsupported method kind ${method.methodKind}`);
  }
}

/** Sends a client stream with back-pressure; stops when the server has already answered. */
async function writeRequests(
  call: grpc.ClientWritableStream<AnyMessage>,
  requests: AsyncIterable<AnyMessage> | Iterable<AnyMessage>,
  settled: () => boolean,
): Promise<void> {
  for await (const request of requests) {
    if (settled()) return;
    if (!call.write(request)) {
      await Promise.race([once(call, "drain"), once(call, "close")]);
    }
  }
  call.end();
}

/**
 * Reads a server stream as an async iterable. Node's own Readable iterator throws as soon as
 * the stream errors, dropping messages that had already arrived; a stream that fails after
 * five messages must deliver those five first, so messages are queued here and the error
 * surfaces only after them. The stream is paused while the consumer is behind.
 */
async function* readStream(
  call: grpc.ClientReadableStream<AnyMessage>,
  signal?: AbortSignal,
): AsyncGenerator<AnyMessage> {
  const HIGH_WATER = 16;
  const queue: AnyMessage[] = [];
  let finished = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  call.on("data", (message: AnyMessage) => {
    queue.push(message);
    if (queue.length >= HIGH_WATER) call.pause();
    notify();
  });
  // grpc-js pushes the end of the stream before it emits the error, and messages still
  // buffered in the Readable follow as 'data'; so the error is only recorded here, and the
  // iteration ends at 'end' (or 'close' when the stream is destroyed).
  call.on("error", (error: unknown) => {
    failure = asRpcError(error);
    notify();
  });
  const finish = () => {
    finished = true;
    notify();
  };
  call.on("end", finish);
  call.on("close", finish);
  const unwatch = watchAbort(call, signal);
  let completed = false;
  try {
    while (true) {
      if (queue.length > 0) {
        const message = queue.shift()!;
        if (queue.length < HIGH_WATER / 2 && call.isPaused()) call.resume();
        yield message;
      } else if (finished) {
        if (failure !== undefined) throw failure;
        completed = true;
        return;
      } else {
        await new Promise<void>((resolve) => wake = resolve);
      }
    }
  } finally {
    unwatch();
    // A consumer that stops early (break, return) cancels the server's stream.
    if (!completed) call.cancel();
  }
}
