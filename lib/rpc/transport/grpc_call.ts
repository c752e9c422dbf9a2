/**
 * One gRPC call as ijrd's server runs it, on a stream of IJR's HTTP/2 server (lib/rpc/h2): the
 * request's messages read with flow control, the answer's headers, messages and status written,
 * and the call's single end, whichever comes first: the status ijrd sends, the client's cancel
 * (RST_STREAM), the deadline the client gave (grpc-timeout), a request the framing refuses, or
 * the connection's loss. Its `signal` is aborted at that end, and `received` says what the
 * client was told. The adapter (adapter.ts) builds protobuf calls on it.
 * @module
 */

import { encodeHeaderBlock, ErrorCode, type IncomingEvents, type ServerStream } from "../h2/mod.ts";
import { RequestBudget } from "./request_budget.ts";
import {
  Code,
  frameMessage,
  MessageReader,
  RpcError,
  type StatusObject,
  toStatus,
} from "../wire/mod.ts";

/** What a call knows of the connection it came on; the same object for every call on it. */
export interface ConnectionInfo {
  /** The client's verified certificate (read once, when first asked for). */
  readonly peerCertificate: { raw: Uint8Array } | undefined;
}

/** The first headers of every answer: made once, sent as they are (HPACK indexes nothing). */
const RESPONSE_HEADERS = encodeHeaderBlock([
  [":status", "200"],
  ["content-type", "application/grpc"],
]);
/** The trailers of every successful call. */
const OK_TRAILERS = encodeHeaderBlock([["grpc-status", "0"]]);

/** A status as trailers; without headers sent yet, with the headers too ("trailers-only"). */
export function statusBlock(status: StatusObject, trailersOnly: boolean): Uint8Array {
  if (status.code === Code.OK && !trailersOnly) return OK_TRAILERS;
  const fields: [string, string][] = trailersOnly
    ? [[":status", "200"], ["content-type", "application/grpc"]]
    : [];
  fields.push(["grpc-status", String(status.code)]);
  if (status.details !== "") fields.push(["grpc-message", percentEncode(status.details)]);
  return encodeHeaderBlock(fields);
}

/**
 * grpc-message is percent-encoded UTF-8: printable ASCII other than "%" goes as it is (the
 * spec's rule), so messages that name fields stay readable on the wire.
 */
function percentEncode(text: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(text)) return text;
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The reason every call's signal is aborted with: one shared instance, since a new Error per
 * call (its stack captured) was a measurable share of a unary call in ijrd's profile.
 */
const CALL_OVER = new RpcError(Code.CANCELLED, "cancelled");
const CANCELLED: StatusObject = { code: Code.CANCELLED, details: "cancelled" };
const DEADLINE: StatusObject = { code: Code.DEADLINE_EXCEEDED, details: "Deadline exceeded" };

/**
 * Request bytes that may wait, read but not yet taken by the handler, before the client is
 * no longer credited for more: with the stream's window, what one upload can make ijrd hold.
 * Each message counts MESSAGE_OVERHEAD more than its bytes: empty ones are not free to keep.
 */
const QUEUE_BYTES = 256 * 1024;
const MESSAGE_OVERHEAD = 64;
/**
 * The most messages that may wait: past it the client sends faster than the handler reads
 * whatever the credit (tiny messages in the window it has), and the call ends.
 */
const MAX_QUEUED_MESSAGES = 4096;
/** The longest timer the runtime keeps (2^31-1 ms, 24.8 days); longer deadlines are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One call on the server. */
export class GrpcCall implements IncomingEvents {
  /** The method's path, such as "/ijr.v1.JobService/StartJob". */
  readonly path: string;
  readonly connection: ConnectionInfo;
  /** Aborted once the call is over, whichever way (CALL_OVER). */
  readonly signal: AbortSignal;
  readonly #controller = new AbortController();
  /** Resolves when the call is over; made by the first write that may wait for it. */
  #ended: Promise<void> | undefined;
  readonly #stream: ServerStream;
  readonly #reader = new MessageReader("client");
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #withheld = 0;
  #requestEnded = false;
  /** A unary or server-streaming request: a second message fails the call at once. */
  #expectsOne = false;
  #wake: (() => void) | undefined;
  #headersSent = false;
  #received: StatusObject | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The connection's budget of request bytes held, and this call's share of it. */
  readonly #budget: RequestBudget;
  #held = 0;
  readonly #onRoom = () => this.#creditWithheld();

  constructor(
    stream: ServerStream,
    path: string,
    connection: ConnectionInfo,
    timeoutMs: number | undefined,
    budget: RequestBudget = new RequestBudget(),
  ) {
    this.#budget = budget;
    this.#stream = stream;
    this.path = path;
    this.connection = connection;
    this.signal = this.#controller.signal;
    this.#requestEnded = stream.requestEnded;
    if (timeoutMs !== undefined) this.#armDeadline(performance.now() + timeoutMs);
  }

  #armDeadline(due: number): void {
    const left = due - performance.now();
    this.#timer = left > MAX_TIMER_MS
      ? setTimeout(() => this.#armDeadline(due), MAX_TIMER_MS)
      : setTimeout(() => this.#endWith(DEADLINE, true), left);
  }

  /** What the client was told, once the call is over. */
  get received(): StatusObject | undefined {
    return this.#received;
  }

  // --- the request (IncomingEvents of the call's stream)

  data(bytes: Uint8Array, endStream: boolean): void {
    if (this.#received !== undefined) return;
    let messages: { message: Uint8Array; size: number }[];
    try {
      messages = this.#reader.push(bytes);
    } catch (error) {
      // Compressed, or above the size limit: the status says which.
      this.#endWith(toStatus(error), true);
      return;
    }
    for (const { message } of messages) {
      this.#queue.push(message);
      this.#queuedBytes += message.length + MESSAGE_OVERHEAD;
    }
    const refusal = this.#tooMany();
    if (refusal !== undefined) {
      this.#endWith(refusal, true);
      return;
    }
    this.#account();
    // What arrives is credited at once while few messages wait and the connection's calls hold
    // less than their budget; past that, once handlers have taken enough (messages(), below).
    // The window then bounds what is held.
    if (!endStream) {
      this.#withheld += bytes.length;
      this.#creditWithheld();
    }
    if (endStream) {
      this.#requestEnded = true;
      if (this.#reader.partial > 0) {
        this.#endWith(
          { code: Code.INVALID_ARGUMENT, details: "the request ended inside a message" },
          true,
        );
      }
    }
    this.#notify();
  }

  /** Tells the connection's budget what this call holds now. */
  #account(): void {
    const held = this.#received === undefined ? this.#queuedBytes + this.#reader.partial : 0;
    this.#budget.add(held - this.#held);
    this.#held = held;
  }

  /** Credits what was withheld, when this call and its connection have room for it. */
  #creditWithheld(): void {
    if (this.#withheld === 0 || this.#received !== undefined) return;
    if (this.#budget.full) {
      this.#budget.whenRoom(this.#onRoom);
      return;
    }
    if (this.#queuedBytes >= QUEUE_BYTES) return; // credited as the handler takes messages
    this.#stream.consumed(this.#withheld);
    this.#withheld = 0;
  }

  /** What ends the call when more messages wait than it may have. */
  #tooMany(): StatusObject | undefined {
    if (this.#expectsOne && this.#queue.length > 1) {
      return {
        code: Code.INVALID_ARGUMENT,
        details: "a request of this method is exactly one message; this one had more",
      };
    }
    if (this.#queue.length > MAX_QUEUED_MESSAGES) {
      return {
        code: Code.RESOURCE_EXHAUSTED,
        details: `more than ${MAX_QUEUED_MESSAGES} request messages waiting to be read`,
      };
    }
    return undefined;
  }

  /** Reset by the client, or the connection is gone: nothing can be sent any more. */
  aborted(): void {
    this.#endWith(CANCELLED, false);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * The one message of a unary or server-streaming request, once the request has ended. A
   * request of no message, or of more than one, is INVALID_ARGUMENT.
   */
  async single(): Promise<Uint8Array> {
    this.#expectsOne = true;
    const refusal = this.#tooMany();
    if (refusal !== undefined) this.#endWith(refusal, true);
    while (!this.#requestEnded && this.#received === undefined) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#received !== undefined) throw CALL_OVER;
    if (this.#queue.length === 0) {
      throw new RpcError(
        Code.INVALID_ARGUMENT,
        "a request of this method is exactly one message; this one had none",
      );
    }
    return this.#queue[0];
  }

  /** The messages of a client-streaming request, as the client sends them. */
  async *messages(): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.#received !== undefined) {
        throw CALL_OVER; // a cancelled upload stops here, whatever it had sent ahead
      } else if (this.#queue.length > 0) {
        const message = this.#queue.shift()!;
        this.#queuedBytes -= message.length + MESSAGE_OVERHEAD;
        this.#account();
        this.#creditWithheld();
        yield message;
      } else if (this.#requestEnded) {
        return;
      } else {
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    }
  }

  // --- the answer

  /** Sends one response message; resolves when the socket has taken it, or the call ended. */
  write(message: Uint8Array): Promise<void> {
    if (this.#received !== undefined) return Promise.resolve();
    this.#sendHeaders();
    const sent = this.#stream.send(frameMessage(message));
    // A call that ends meanwhile (its deadline, the client gone) does not wait for the window.
    this.#ended ??= new Promise((resolve) =>
      this.signal.addEventListener("abort", () => resolve(), { once: true })
    );
    return Promise.race([sent, this.#ended]);
  }

  /**
   * Ends the call with `status`, after `message` when there is one (a unary answer: headers,
   * message and status leave in one write). Returns what the client was told: an earlier end
   * (cancel, deadline, a refused request) wins.
   */
  finish(status: StatusObject, message?: Uint8Array): StatusObject {
    if (this.#received !== undefined) return this.#received;
    if (message !== undefined) {
      this.#sendHeaders();
      void this.#stream.send(frameMessage(message));
    }
    this.#endWith(status, true);
    return this.#received!;
  }

  #sendHeaders(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.#stream.respond(RESPONSE_HEADERS, false);
  }

  /** The call's single end: the status sent (when `send` and the stream is open), the signal. */
  #endWith(status: StatusObject, send: boolean): void {
    if (this.#received !== undefined) return;
    this.#received = status;
    clearTimeout(this.#timer);
    // A status other than OK while a message still waits for the client's window (a deadline,
    // a refusal) does not wait behind it: the stream is reset, and the message dropped.
    const stalled = status.code !== Code.OK && this.#stream.sending;
    if (send && !stalled && !this.#stream.closed) {
      this.#stream.trailers(statusBlock(status, !this.#headersSent));
    } else if (!this.#stream.closed) {
      this.#stream.reset(ErrorCode.CANCEL);
    }
    this.#withheld = 0;
    this.#budget.forget(this.#onRoom);
    this.#account(); // gives back what it held
    this.#controller.abort(CALL_OVER);
    this.#notify();
  }
}
