/**
 * The client side of one HTTP/2 connection (RFC 9113), as gRPC uses it: requests on streams,
 * flow control both ways, SETTINGS, PING (answered, and sent as a keepalive while streams are
 * open), RST_STREAM and GOAWAY. No server push (disabled in the first SETTINGS), no priorities
 * (ignored), no upgrade from HTTP/1.1 (TLS with ALPN "h2" only, set up by the caller). What both
 * sides do alike (frames, settings, flow control, keepalive) is endpoint.ts.
 *
 * Why IJR has its own: a RunJob through grpc-js and Deno's node:http2 cost its client about 1 ms
 * of CPU and, after a rest, 0.6-1.0 ms of the start-to-exit; this does the same work in about
 * half the CPU, and ijrctl no longer loads grpc-js and node:http2 (80 ms of every command)
 * (bench/README.md, "A client of IJR's own").
 *
 * The peer is a server that proved its identity with a certificate of IJR's CA, but nothing it
 * sends is trusted.
 * @module
 */

import {
  CLIENT_PREFACE,
  ConnectionError,
  DEFAULT_WINDOW_SIZE,
  encodeFrame,
  ErrorCode,
  Flag,
  type Frame,
  FrameType,
  MAX_WINDOW_SIZE,
  Setting,
  settingsPayload,
  uint31,
} from "./frames.ts";
import { encodeHeaderBlock, type HeaderField, HeaderListTooLarge, HpackDecoder } from "./hpack.ts";
import { type ByteSocket, Endpoint, type Keepalive, StreamState, uint32 } from "./endpoint.ts";

export type { ByteSocket, Keepalive };

/** How a stream ended other than by the server's END_STREAM. */
export type StreamAbort =
  /** The server reset the stream (RST_STREAM) with this error code. */
  | { readonly kind: "reset"; readonly code: number }
  /** The server will not process the stream (GOAWAY below its ID, or REFUSED_STREAM). */
  | { readonly kind: "refused" }
  /** The server's headers for it were larger than this side accepts; the stream was reset. */
  | { readonly kind: "tooLarge"; readonly message: string }
  /** The connection ended (closed, broken, or a protocol error); `message` says how. */
  | { readonly kind: "lost"; readonly message: string };

/** What a stream's owner hears, in the order it happened. */
export interface StreamEvents {
  /** A complete header block: the response's headers, or its trailers. */
  headers(fields: HeaderField[], endStream: boolean): void;
  /**
   * A DATA frame's content: a view valid during this call only (it is the connection's read
   * buffer), so an owner that keeps bytes copies them; gRPC's message reader does.
   */
  data(bytes: Uint8Array, endStream: boolean): void;
  /** The stream ended without END_STREAM from the server. Nothing follows. */
  aborted(reason: StreamAbort): void;
}

/** Connection settings. */
export interface ConnectionOptions {
  /** A PING after `timeMs` with streams open; no answer in `timeoutMs` ends the connection. */
  readonly keepalive?: Keepalive;
  /**
   * The receive window of each stream: how much the server may send ahead of what the stream's
   * owner has consumed (`ClientStream.consumed`).
   */
  readonly streamWindow?: number;
}

/** A request's stream: sends the request body, credits what was consumed, or cancels. */
export interface ClientStream {
  /** Sends `bytes` (within flow control); `endStream` ends the request body. */
  send(bytes: Uint8Array, endStream: boolean): Promise<void>;
  /** The owner has consumed `count` received bytes: the server may send as many more. */
  consumed(count: number): void;
  /** Ends the stream with RST_STREAM (CANCEL by default); no events follow. */
  reset(code?: number): void;
}

const DEFAULT_STREAM_WINDOW = 1 << 20;
/** The connection's receive window: large, since each stream's own window bounds its memory. */
const CONNECTION_WINDOW = MAX_WINDOW_SIZE;
const MAX_STREAM_ID = 2 ** 31 - 1;

class Stream extends StreamState implements ClientStream {
  readonly #connection: ClientConnection;
  readonly events: StreamEvents;
  readonly headers: HeaderField[];
  readonly endOnOpen: boolean;
  readonly opened: Promise<void>;
  markOpened!: () => void;

  constructor(
    connection: ClientConnection,
    headers: HeaderField[],
    events: StreamEvents,
    endOnOpen: boolean,
    sendWindow: number,
    receiveWindow: number,
  ) {
    super(sendWindow, receiveWindow);
    this.#connection = connection;
    this.headers = headers;
    this.events = events;
    this.endOnOpen = endOnOpen;
    this.localEnded = endOnOpen;
    this.opened = new Promise((resolve) => this.markOpened = resolve);
  }

  send(bytes: Uint8Array, endStream: boolean): Promise<void> {
    return this.#connection.sendData(this, bytes, endStream);
  }

  consumed(count: number): void {
    this.#connection.credit(this, count);
  }

  reset(code: number = ErrorCode.CANCEL): void {
    this.#connection.resetStream(this, code);
  }
}

/** One HTTP/2 connection from the client side. */
export class ClientConnection extends Endpoint<Stream> {
  protected readonly peerName = "server";
  /** Streams waiting for the server's MAX_CONCURRENT_STREAMS to allow them. */
  readonly #waitingToOpen: Stream[] = [];
  #nextStreamId = 1;
  #peerMaxConcurrent = Infinity;
  #draining = false;
  #closeWhenIdle = false;

  constructor(socket: ByteSocket, options: ConnectionOptions) {
    const streamWindow = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    super(
      socket,
      { stream: streamWindow, connection: CONNECTION_WINDOW },
      new HpackDecoder(),
      options.keepalive,
    );
    this.queue(CLIENT_PREFACE);
    this.queue(encodeFrame(
      FrameType.SETTINGS,
      0,
      0,
      settingsPayload([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, 64 * 1024],
      ]),
    ));
    this.queue(encodeFrame(
      FrameType.WINDOW_UPDATE,
      0,
      0,
      uint31(CONNECTION_WINDOW - DEFAULT_WINDOW_SIZE),
    ));
  }

  /** True while new streams may be opened on this connection. */
  get accepting(): boolean {
    return this.ended === undefined && !this.#draining && !this.#closeWhenIdle &&
      this.#nextStreamId <= MAX_STREAM_ID;
  }

  /** How many streams are open or waiting to open. */
  get activeStreams(): number {
    return this.streams.size + this.#waitingToOpen.length;
  }

  /**
   * Opens a stream with a request's headers (and, with `endStream`, no body). The stream
   * waits for a place when the server's limit of concurrent streams is reached. On a connection
   * that no longer accepts streams, `events.aborted` hears why at once.
   */
  request(headers: HeaderField[], events: StreamEvents, endStream: boolean): ClientStream {
    const stream = new Stream(
      this,
      headers,
      events,
      endStream,
      this.peerInitialWindow,
      this.streamWindow,
    );
    if (!this.accepting) {
      // Ended or ending since the caller got it: lost with the reason it ended, or refused
      // (never seen by the server, so it may go on another connection).
      this.retire(stream);
      events.aborted(
        this.ended !== undefined ? { kind: "lost", message: this.ended } : { kind: "refused" },
      );
      return stream;
    }
    this.#waitingToOpen.push(stream);
    this.#openWaiting();
    return stream;
  }

  /**
   * Ends the connection: the socket is ended (TLS close_notify, then FIN); open streams end as
   * lost. No GOAWAY (RFC 9113 §6.8 says SHOULD, not MUST): the nghttp2 inside Deno 2.9's
   * node:http2 aborts the whole process on an assertion (find_stream_on_goaway_func:
   * `stream->closed_next == NULL`) when a client's GOAWAY meets some of its streams' states
   * (docs/security.md); ijrd no longer runs it, other servers may. A client that closes has no
   * stream left to tell the server about anyway.
   */
  close(): void {
    if (this.ended !== undefined) return;
    this.flush();
    this.end("Connection closed by the client", true);
  }

  /** Takes no new streams, and closes when the open ones have ended. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
    if (this.activeStreams === 0) this.close();
  }

  #openWaiting(): void {
    while (
      this.#waitingToOpen.length > 0 && this.streams.size < this.#peerMaxConcurrent &&
      this.ended === undefined
    ) {
      const stream = this.#waitingToOpen.shift()!;
      if (stream.closed) continue;
      if (this.#nextStreamId > MAX_STREAM_ID) {
        this.retire(stream);
        stream.events.aborted({ kind: "refused" });
        continue;
      }
      stream.id = this.#nextStreamId;
      this.#nextStreamId += 2;
      this.streams.set(stream.id, stream);
      const block = encodeHeaderBlock(stream.headers);
      if (block.length > this.peerMaxFrameSize) {
        // IJR's requests carry a few short headers: this would be a bug, not a peer's doing.
        throw new Error(`request headers of ${block.length} bytes do not fit one frame`);
      }
      const flags = Flag.END_HEADERS | (stream.endOnOpen ? Flag.END_STREAM : 0);
      this.queue(encodeFrame(FrameType.HEADERS, flags, stream.id, block));
      stream.markOpened();
      this.startKeepalive();
    }
  }

  /** Sends DATA for `stream` within both windows, in frames the server accepts. */
  async sendData(stream: Stream, bytes: Uint8Array, endStream: boolean): Promise<void> {
    // Without a wait when the stream is open: a request's DATA then joins its HEADERS in the
    // same write.
    if (stream.id === 0) await stream.opened;
    await this.sendDataOf(stream, bytes, endStream);
  }

  /** Credits `count` consumed bytes of `stream`, in updates of at least a quarter window. */
  credit(stream: Stream, count: number): void {
    this.creditOf(stream, count);
  }

  resetStream(stream: Stream, code: number): void {
    if (stream.closed) return;
    const opened = stream.id !== 0; // else it waited for a place: nothing to tell the server
    this.retire(stream);
    if (opened) this.queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(code)));
    this.afterStreamClosed();
  }

  /**
   * Takes `stream` out for good, however it ended: sends waiting on it (for a place, a window
   * or the socket) return and see it closed, and it no longer counts as active.
   */
  protected retire(stream: Stream): void {
    stream.closed = true;
    stream.markOpened();
    stream.wakeAll();
    if (stream.id !== 0) {
      this.streams.delete(stream.id);
    } else {
      const at = this.#waitingToOpen.indexOf(stream);
      if (at >= 0) this.#waitingToOpen.splice(at, 1);
    }
  }

  protected streamDone(stream: Stream): void {
    this.retire(stream);
    this.afterStreamClosed();
  }

  protected afterStreamClosed(): void {
    this.#openWaiting();
    if (this.streams.size === 0) this.stopKeepalive();
    if (this.activeStreams > 0) return;
    if (this.#closeWhenIdle) this.close();
    else if (this.#draining) this.end("Connection closed by the server", true);
  }

  protected wantsKeepalive(): boolean {
    return this.streams.size > 0;
  }

  /** A client processes no pushed streams: its GOAWAY names none. */
  protected lastProcessed(): number {
    return 0;
  }

  protected allStreams(): Stream[] {
    return [...this.streams.values(), ...this.#waitingToOpen];
  }

  protected streamLost(stream: Stream, message: string): void {
    stream.events.aborted({ kind: "lost", message });
  }

  /** The stream a frame is for; undefined for one already closed (frames may still arrive). */
  protected streamOf(frame: Frame): Stream | undefined {
    if (frame.streamId === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${frame.type} on stream 0`);
    }
    const stream = this.streams.get(frame.streamId);
    if (
      stream === undefined && (frame.streamId % 2 === 0 || frame.streamId >= this.#nextStreamId)
    ) {
      throw new ConnectionError(
        ErrorCode.PROTOCOL_ERROR,
        `frame type ${frame.type} on stream ${frame.streamId}, which this client never opened`,
      );
    }
    return stream;
  }

  protected streamData(stream: Stream, content: Uint8Array, endStream: boolean): void {
    if (endStream) this.#remoteEnd(stream);
    stream.events.data(content, endStream);
  }

  protected headersFrame(frame: Frame): void {
    this.streamOf(frame);
  }

  protected headerBlock(streamId: number, block: Uint8Array, endStream: boolean): void {
    // Decoded even for a stream already closed: the table must follow every block.
    let fields: HeaderField[];
    try {
      fields = this.decodeHeaders(block);
    } catch (error) {
      if (!(error instanceof HeaderListTooLarge)) throw error;
      // The table is in step: only this stream ends.
      const stream = this.streams.get(streamId);
      if (stream === undefined) return;
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      stream.events.aborted({ kind: "tooLarge", message: `response headers: ${error.message}` });
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (endStream) this.#remoteEnd(stream);
    stream.events.headers(fields, endStream);
  }

  #remoteEnd(stream: Stream): void {
    stream.remoteEnded = true;
    if (stream.localEnded) {
      this.closeIfDone(stream);
    } else {
      // The server has answered while the body was still being sent (an early status): the
      // rest of the body is of no use, and RST_STREAM NO_ERROR says so (RFC 9113 8.1).
      this.retire(stream);
      this.queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(ErrorCode.NO_ERROR)));
      this.afterStreamClosed();
    }
  }

  protected streamReset(stream: Stream, code: number): void {
    stream.events.aborted(
      code === ErrorCode.REFUSED_STREAM ? { kind: "refused" } : { kind: "reset", code },
    );
  }

  protected otherSetting(id: number, value: number): void {
    switch (id) {
      case Setting.MAX_CONCURRENT_STREAMS:
        this.#peerMaxConcurrent = value;
        break;
      case Setting.ENABLE_PUSH:
        // Only a client may enable push (RFC 9113 6.5.2).
        if (value !== 0) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `ENABLE_PUSH ${value} from a server`);
        }
        break;
      default:
        // HEADER_TABLE_SIZE sizes the server's decoder, which this client's encoder never
        // indexes into; MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
        break;
    }
  }

  protected settingsApplied(): void {
    this.#openWaiting();
  }

  protected goaway(lastStreamId: number): void {
    this.#draining = true;
    // Streams above the last one the server will process were never seen: they may be sent
    // again on another connection.
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) {
        this.retire(stream);
        stream.events.aborted({ kind: "refused" });
      }
    }
    for (const stream of [...this.#waitingToOpen]) {
      this.retire(stream);
      stream.events.aborted({ kind: "refused" });
    }
    this.afterStreamClosed();
  }
}
