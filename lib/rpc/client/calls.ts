/**
 * Typed gRPC clients for protobuf-es services, over IJR's own HTTP/2 client (lib/rpc/h2): one
 * promise-returning method per unary or client-streaming RPC, one async iterable per
 * server-streaming RPC, the same shapes the server's adapter (lib/rpc/transport/adapter.ts)
 * serves. Failures are RpcErrors with the server's status, or with the client's own:
 * CANCELLED "Cancelled on client" (the caller's signal), DEADLINE_EXCEEDED "Deadline exceeded
 * after …" (its timeout), UNAVAILABLE (no connection, or the connection ended mid-call).
 *
 * A call the server never saw (REFUSED_STREAM, or above a GOAWAY's last stream) is sent once
 * more when nothing of it is lost by that: unary and server-streaming calls, before any answer.
 * After a GOAWAY it goes on a new connection; a restarting ijrd says GOAWAY to calls that raced
 * its shutdown.
 * @module
 */

import {
  create,
  type DescMessage,
  type DescMethod,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import {
  type ClientStream,
  ErrorCode,
  type HeaderField,
  type StreamAbort,
  type StreamEvents,
} from "../h2/mod.ts";
import {
  Code,
  decodeMessage,
  frameMessage,
  type In,
  MessageReader,
  type MethodShape,
  type Out,
  RpcError,
} from "../wire/mod.ts";
import { Channel, type ChannelOptions, type ClientTls } from "./channel.ts";
import { checkResponseHeaders, requestHeaders, statusOf } from "./grpc_wire.ts";

// deno-lint-ignore no-explicit-any
type AnyMessage = any;

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

/** A client for `service` on a channel of its own to `address`; close() closes the channel. */
export function createClient<T extends GenServiceMethods>(
  service: GenService<T>,
  address: string,
  tls: ClientTls,
  options: ChannelOptions = {},
): ServiceClient<T> {
  const channel = new Channel(address, tls, options);
  return clientOn(service, channel, () => channel.close());
}

/**
 * A client for `service` on `channel`, which other clients may share; close() does nothing to
 * the channel: its owner closes it.
 */
export function clientOn<T extends GenServiceMethods>(
  service: GenService<T>,
  channel: Channel,
  close: () => void = () => {},
): ServiceClient<T> {
  const methods: Record<string, unknown> = { close };
  for (const method of service.methods) {
    methods[method.localName] = clientMethod(channel, method);
  }
  return methods as ServiceClient<T>;
}

function clientMethod(channel: Channel, method: DescMethod): unknown {
  const path = `/${method.parent.typeName}/${method.name}`;
  // create() returns an already-created message unchanged, and fills in an init shape.
  const encode = (message: AnyMessage) =>
    frameMessage(toBinary(method.input, create(method.input, message)));
  const output = method.output;
  switch (method.methodKind) {
    case "unary":
      return async (request: AnyMessage, options?: ClientCallOptions) => {
        const body = encode(request);
        const answer = await collect(
          channel,
          path,
          options,
          (stream) => stream.send(body, true),
          true,
        );
        return decodeResponse(output, answer);
      };
    case "server_streaming":
      return (request: AnyMessage, options?: ClientCallOptions) =>
        readStream(channel, path, output, encode(request), options);
    case "client_streaming":
      return async (
        requests: AsyncIterable<AnyMessage> | Iterable<AnyMessage>,
        options?: ClientCallOptions,
      ) => {
        const answer = await collect(channel, path, options, async (stream, answered) => {
          for await (const request of requests) {
            if (answered()) return;
            await stream.send(encode(request), false);
          }
          if (!answered()) await stream.send(new Uint8Array(0), true);
        }, false);
        return decodeResponse(output, answer);
      };
    default:
      throw new Error(`${path}: unsupported method kind ${method.methodKind}`);
  }
}

/** Decodes a response; bytes that are no valid message fail the call as INTERNAL. */
function decodeResponse(schema: DescMessage, bytes: Uint8Array): AnyMessage {
  try {
    return decodeMessage(schema, bytes);
  } catch (error) {
    throw new RpcError(
      Code.INTERNAL,
      `response is not a valid ${schema.typeName}: ${(error as Error).message ?? error}`,
    );
  }
}

/** How long after its deadline a call's stream is reset if the server has not ended it. */
const DEADLINE_GRACE_MS = 1_000;

/** Receives a call's answer: messages as they complete, then its status. */
class Call implements StreamEvents {
  readonly #reader = new MessageReader("server");
  readonly #onArrived: (count: number) => void;
  readonly #onMessage: (message: Uint8Array, size: number) => void;
  readonly #onEnd: (error: unknown, refused: boolean) => void;
  #headersSeen = false;
  #done = false;
  stream: ClientStream | undefined;
  /** True once headers or a message came: the server has seen the call. */
  answered = false;

  constructor(
    onArrived: (count: number) => void,
    onMessage: (message: Uint8Array, size: number) => void,
    onEnd: (error: unknown, refused: boolean) => void,
  ) {
    this.#onArrived = onArrived;
    this.#onMessage = onMessage;
    this.#onEnd = onEnd;
  }

  get done(): boolean {
    return this.#done;
  }

  headers(fields: HeaderField[], endStream: boolean): void {
    if (endStream) this.#streamEnded();
    if (this.#done) return;
    this.answered = true;
    if (!this.#headersSeen) {
      this.#headersSeen = true;
      const wrong = checkResponseHeaders(fields);
      if (wrong) return this.fail(wrong);
      if (!endStream) return;
    } else if (!endStream) {
      return this.fail(new RpcError(Code.INTERNAL, "the server sent headers after its trailers"));
    }
    // Trailers, or the only headers of an answer with no message ("trailers-only").
    if (this.#reader.partial > 0) {
      return this.fail(new RpcError(Code.INTERNAL, "the answer ended inside a message"));
    }
    const { code, message } = statusOf(fields);
    this.#finish(code === Code.OK ? undefined : new RpcError(code, message), false);
  }

  data(bytes: Uint8Array, endStream: boolean): void {
    if (endStream) this.#streamEnded();
    if (this.#done) return;
    this.answered = true;
    if (!this.#headersSeen) {
      return this.fail(new RpcError(Code.INTERNAL, "the server sent a message before headers"));
    }
    let messages;
    try {
      messages = this.#reader.push(bytes);
    } catch (error) {
      return this.fail(error);
    }
    if (!endStream) this.#onArrived(bytes.length);
    for (const { message, size } of messages) this.#onMessage(message, size);
    if (endStream) {
      this.#finish(
        new RpcError(Code.UNKNOWN, "the server ended the answer without a status"),
        false,
      );
    }
  }

  aborted(reason: StreamAbort): void {
    this.#streamEnded();
    if (this.#done) return;
    switch (reason.kind) {
      case "refused":
        return this.#finish(new RpcError(Code.UNAVAILABLE, "Stream refused by server"), true);
      case "lost":
        return this.#finish(new RpcError(Code.UNAVAILABLE, reason.message), false);
      case "tooLarge":
        return this.#finish(new RpcError(Code.RESOURCE_EXHAUSTED, reason.message), false);
      case "reset":
        return this.#finish(resetStatus(reason.code), false);
    }
  }

  /** Ends the call on this side with `error`: the server is told with RST_STREAM CANCEL. */
  fail(error: unknown): void {
    if (this.#done) return;
    this.stream?.reset(ErrorCode.CANCEL);
    this.#finish(error, false);
  }

  /** Resets the stream if the server has not ended it by then (see `expire`). */
  #expiry: ReturnType<typeof setTimeout> | undefined;

  /**
   * Ends the call on this side at its deadline, and leaves the stream to the server: it got
   * the same deadline (grpc-timeout) and ends the call itself a moment later, so that its
   * request log says DEADLINE_EXCEEDED. A RST_STREAM CANCEL sent at once would reach it a
   * moment before its own deadline, and be logged as a cancel. A server that has not ended
   * the stream `DEADLINE_GRACE_MS` later is told with RST_STREAM CANCEL.
   */
  expire(error: RpcError): void {
    if (this.#done) return;
    if (this.stream === undefined) return this.fail(error);
    this.#expiry = setTimeout(() => this.stream?.reset(ErrorCode.CANCEL), DEADLINE_GRACE_MS);
    this.#finish(error, false);
  }

  #streamEnded(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  #finish(error: unknown, refused: boolean): void {
    this.#done = true;
    this.#onEnd(error, refused);
  }
}

/** The status a call ends with when the server resets its stream (as grpc-js maps them). */
function resetStatus(code: number): RpcError {
  switch (code) {
    case ErrorCode.CANCEL:
      return new RpcError(Code.CANCELLED, "Call cancelled");
    case ErrorCode.ENHANCE_YOUR_CALM:
      return new RpcError(Code.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
    case ErrorCode.INADEQUATE_SECURITY:
      return new RpcError(Code.PERMISSION_DENIED, "Protocol not secure enough");
    default:
      return new RpcError(Code.INTERNAL, `Received RST_STREAM with code ${code}`);
  }
}

/** What a call's owner hears and may do while it runs. */
interface CallHooks {
  /** Writes the request body; `ended` turns true once the call has ended. */
  send(stream: ClientStream, ended: () => boolean): Promise<void>;
  /** True when the call may be sent again after the server refused it unseen. */
  readonly retryable: boolean;
  /**
   * `count` bytes of the answer arrived: credit them (`credit`) now, or later when the owner
   * has taken them. A retried call starts over with `restart`.
   */
  arrived(count: number, credit: (count: number) => void): void;
  message(message: Uint8Array, size: number): void;
  /** The call's end: undefined for OK, else the error. Heard once. */
  end(error: unknown): void;
  restart?(): void;
}

/** The live side of a running call: whichever attempt is current. */
interface CallHandle {
  fail(error: unknown): void;
  /** Ends the call at its deadline (Call.expire). */
  expire(error: RpcError): void;
  credit(count: number): void;
}

/**
 * Starts a call and arranges its ends: the caller's signal, its deadline, a refused first
 * attempt sent again. Returns at once; the outcome goes to `hooks.end`.
 */
function startCall(
  channel: Channel,
  path: string,
  options: ClientCallOptions | undefined,
  hooks: CallHooks,
): CallHandle {
  const started = performance.now();
  const timeoutMs = options?.timeoutMs;
  const signal = options?.signal;
  let call: Call | undefined;
  let ended = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cancel = () => handle.fail(new RpcError(Code.CANCELLED, "Cancelled on client"));
  const end = (error: unknown) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    signal?.removeEventListener("abort", cancel);
    hooks.end(error);
  };
  const handle: CallHandle = {
    fail: (error) => call ? call.fail(error) : end(error),
    expire: (error) => call ? call.expire(error) : end(error),
    credit: (count) => call?.stream?.consumed(count),
  };
  const attempt = async (retriesLeft: number) => {
    const current: Call = new Call(
      (count) => hooks.arrived(count, (credited) => current.stream?.consumed(credited)),
      (message, size) => hooks.message(message, size),
      (error, refused) => {
        if (refused && retriesLeft > 0 && !current.answered && !ended) {
          hooks.restart?.();
          attempt(retriesLeft - 1);
        } else {
          end(error);
        }
      },
    );
    call = current;
    try {
      const connection = await channel.connection();
      if (current.done) return; // cancelled, or past its deadline, while connecting
      const left = timeoutMs === undefined ? undefined : timeoutMs - (performance.now() - started);
      const stream = connection.request(
        requestHeaders(path, channel.address, left),
        current,
        false,
      );
      current.stream = stream;
      if (current.done) return; // the connection had ended meanwhile
      await hooks.send(stream, () => current.done);
    } catch (error) {
      current.fail(error);
    }
  };
  if (signal?.aborted) {
    end(new RpcError(Code.CANCELLED, "Cancelled on client"));
    return handle;
  }
  signal?.addEventListener("abort", cancel, { once: true });
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      const seconds = ((performance.now() - started) / 1000).toFixed(3);
      handle.expire(new RpcError(Code.DEADLINE_EXCEEDED, `Deadline exceeded after ${seconds}s`));
    }, timeoutMs);
  }
  attempt(hooks.retryable ? 1 : 0);
  return handle;
}

/**
 * Runs a unary or client-streaming call to its end: its one message, or its failure. The
 * answer is credited as it arrives; a second message fails the call at once (INTERNAL), so
 * what the client holds is bounded by the largest message accepted.
 */
function collect(
  channel: Channel,
  path: string,
  options: ClientCallOptions | undefined,
  send: (stream: ClientStream, ended: () => boolean) => Promise<void>,
  retryable: boolean,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let answer: Uint8Array | undefined;
    const call = startCall(channel, path, options, {
      send,
      retryable,
      arrived: (count, credit) => credit(count),
      message: (message) => {
        if (answer === undefined) answer = message;
        else {
          call.fail(
            new RpcError(
              Code.INTERNAL,
              "the server sent more than one response message where one was due",
            ),
          );
        }
      },
      end: (error) => {
        if (error !== undefined) reject(error);
        else if (answer === undefined) {
          reject(
            new RpcError(Code.INTERNAL, "the server sent no response message where one was due"),
          );
        } else resolve(answer);
      },
      restart: () => answer = undefined,
    });
  });
}

/**
 * A server-streaming call as an async iterable of decoded messages. Messages that arrived
 * before a failure are delivered before it. What the consumer has not taken yet is bounded:
 * past QUEUE_BYTES, arrivals are credited to the server only as the consumer takes messages,
 * so the server can send ahead no further than the stream's window. A consumer that stops
 * early (break, return) cancels the call.
 */
async function* readStream(
  channel: Channel,
  path: string,
  schema: DescMessage,
  body: Uint8Array,
  options?: ClientCallOptions,
): AsyncGenerator<AnyMessage> {
  const QUEUE_BYTES = 256 * 1024;
  const queue: { message: Uint8Array; size: number }[] = [];
  let queuedBytes = 0;
  let withheld = 0;
  let finished = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const call = startCall(channel, path, options, {
    send: (stream) => stream.send(body, true),
    retryable: true,
    arrived: (count, credit) => {
      if (queuedBytes < QUEUE_BYTES) credit(count);
      else withheld += count;
    },
    message: (message, size) => {
      queue.push({ message, size });
      queuedBytes += size;
      notify();
    },
    end: (error) => {
      finished = true;
      failure = error;
      notify();
    },
    restart: () => {
      queue.length = 0;
      queuedBytes = withheld = 0;
    },
  });
  let completed = false;
  try {
    while (true) {
      if (queue.length > 0) {
        const { message, size } = queue.shift()!;
        queuedBytes -= size;
        if (withheld > 0 && queuedBytes < QUEUE_BYTES) {
          call.credit(withheld);
          withheld = 0;
        }
        let decoded;
        try {
          decoded = decodeResponse(schema, message);
        } catch (error) {
          call.fail(error);
          throw error;
        }
        yield decoded;
      } else if (finished) {
        if (failure !== undefined) throw failure;
        completed = true;
        return;
      } else {
        await new Promise<void>((resolve) => wake = resolve);
      }
    }
  } finally {
    if (!completed) call.fail(new RpcError(Code.CANCELLED, "Cancelled on client"));
  }
}
