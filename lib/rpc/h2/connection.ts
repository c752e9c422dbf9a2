/**
 * The client side of one HTTP/2 connection (RFC 9113), as gRPC uses it: requests on streams,
 * flow control both ways, SETTINGS, PING (answered, and sent as a keepalive while streams are
 * open), RST_STREAM and GOAWAY. No server push (disabled in the first SETTINGS), no priorities
 * (ignored), no upgrade from HTTP/1.1 (TLS with ALPN "h2" only, set up by the caller).
 *
 * Why IJR has its own: a RunJob through grpc-js and Deno's node:http2 cost its client about 1 ms
 * of CPU and, after a rest, 0.6-1.0 ms of the start-to-exit; this does the same work in about
 * half the CPU, and ijrctl no longer loads grpc-js and node:http2 (80 ms of every command)
 * (bench/README.md, "A client of IJR's own"). ijrd itself still runs grpc-js.
 *
 * The peer is a server that proved its identity with a certificate of IJR's CA, but nothing it
 * sends is trusted: frames, header blocks and windows are checked, and a violation ends the
 * connection with GOAWAY and every open stream with it.
 * @module
 */

import {
  CLIENT_PREFACE,
  ConnectionError,
  type ConnectionError as ConnectionErrorType,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  encodeFrame,
  ErrorCode,
  Flag,
  type Frame,
  FrameReader,
  FrameType,
  MAX_WINDOW_SIZE,
  Setting,
  settingsPayload,
  uint31,
} from "./frames.ts";
import {
  CompressionError,
  encodeHeaderBlock,
  type HeaderField,
  HeaderListTooLarge,
  HpackDecoder,
} from "./hpack.ts";

/** The byte stream a connection runs over (a node:tls socket, or a plain one in tests). */
export interface ByteSocket {
  write(chunk: Uint8Array): boolean;
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "drain", listener: () => void): unknown;
  on(event: "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  once(event: "drain", listener: () => void): unknown;
  removeListener(event: "drain", listener: () => void): unknown;
  end(): unknown;
  destroy(): unknown;
}

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

/** Keepalive: a PING after `timeMs` with streams open; no answer in `timeoutMs` ends the connection. */
export interface Keepalive {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

/** Connection settings. */
export interface ConnectionOptions {
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
/** The most CONTINUATION frames one header block may take (IJR's server sends none). */
const MAX_CONTINUATIONS = 64;
/**
 * The most answers to the server's PINGs and SETTINGS that may wait while the socket is not
 * taking more: a server that sends them without reading the answers would otherwise fill this
 * process's memory.
 */
const MAX_QUEUED_ACKS = 1024;

class Stream implements ClientStream {
  id = 0;
  readonly #connection: ClientConnection;
  readonly events: StreamEvents;
  readonly headers: HeaderField[];
  readonly endOnOpen: boolean;
  sendWindow: number;
  receiveWindow: number;
  /** Consumed but not yet credited to the server. */
  uncredited = 0;
  localEnded = false;
  remoteEnded = false;
  closed = false;
  /** Resolves sends waiting for window or for the stream to be opened. */
  wake: (() => void)[] = [];
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
    this.#connection = connection;
    this.headers = headers;
    this.events = events;
    this.endOnOpen = endOnOpen;
    this.localEnded = endOnOpen;
    this.sendWindow = sendWindow;
    this.receiveWindow = receiveWindow;
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

  wakeAll(): void {
    const waiting = this.wake;
    this.wake = [];
    for (const resolve of waiting) resolve();
  }
}

/** One HTTP/2 connection from the client side. */
export class ClientConnection {
  readonly #socket: ByteSocket;
  readonly #options: ConnectionOptions;
  readonly #reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  readonly #decoder = new HpackDecoder();
  readonly #streams = new Map<number, Stream>();
  /** Streams waiting for the server's MAX_CONCURRENT_STREAMS to allow them. */
  readonly #waitingToOpen: Stream[] = [];
  readonly #streamWindow: number;
  #nextStreamId = 1;
  #peerMaxConcurrent = Infinity;
  #peerInitialWindow = DEFAULT_WINDOW_SIZE;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #connectionSendWindow = DEFAULT_WINDOW_SIZE;
  #connectionUncredited = 0;
  /** Sends waiting for the connection's window. */
  #connectionWake: (() => void)[] = [];
  /** A header block being continued: its stream, flags and fragments so far. */
  #continuing:
    | {
      streamId: number;
      endStream: boolean;
      fragments: Uint8Array[];
      size: number;
      frames: number;
    }
    | undefined;
  #pending: Uint8Array[] = [];
  #flushQueued = false;
  #draining = false;
  #closeWhenIdle = false;
  #ended: string | undefined;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pingDeadline: ReturnType<typeof setTimeout> | undefined;
  readonly #closeListeners: (() => void)[] = [];

  constructor(socket: ByteSocket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#streamWindow = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    socket.on("data", (chunk) => this.#receive(chunk));
    socket.on("error", (error) => this.#end(error.message));
    socket.on("close", () => this.#end("Connection dropped"));
    this.#queue(CLIENT_PREFACE);
    this.#queue(encodeFrame(
      FrameType.SETTINGS,
      0,
      0,
      settingsPayload([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, 64 * 1024],
      ]),
    ));
    this.#queue(encodeFrame(
      FrameType.WINDOW_UPDATE,
      0,
      0,
      uint31(CONNECTION_WINDOW - DEFAULT_WINDOW_SIZE),
    ));
  }

  /** True while new streams may be opened on this connection. */
  get accepting(): boolean {
    return this.#ended === undefined && !this.#draining && !this.#closeWhenIdle &&
      this.#nextStreamId <= MAX_STREAM_ID;
  }

  /** How many streams are open or waiting to open. */
  get activeStreams(): number {
    return this.#streams.size + this.#waitingToOpen.length;
  }

  /** Calls `listener` once when the connection has ended (for whatever reason). */
  onClose(listener: () => void): void {
    if (this.#ended !== undefined) queueMicrotask(listener);
    else this.#closeListeners.push(listener);
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
      this.#peerInitialWindow,
      this.#streamWindow,
    );
    if (!this.accepting) {
      // Ended or ending since the caller got it: lost with the reason it ended, or refused
      // (never seen by the server, so it may go on another connection).
      this.#retire(stream);
      events.aborted(
        this.#ended !== undefined ? { kind: "lost", message: this.#ended } : { kind: "refused" },
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
   * node:http2, which ijrd serves on, aborts the whole process on an assertion
   * (find_stream_on_goaway_func: `stream->closed_next == NULL`) when a client's GOAWAY meets
   * some of its streams' states, which a busy ijrd showed in the tests (docs/security.md). A
   * client that closes has no stream left to tell the server about anyway.
   */
  close(): void {
    if (this.#ended !== undefined) return;
    this.#flush();
    this.#end("Connection closed by the client", true);
  }

  /** Takes no new streams, and closes when the open ones have ended. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
    if (this.activeStreams === 0) this.close();
  }

  #openWaiting(): void {
    while (
      this.#waitingToOpen.length > 0 && this.#streams.size < this.#peerMaxConcurrent &&
      this.#ended === undefined
    ) {
      const stream = this.#waitingToOpen.shift()!;
      if (stream.closed) continue;
      if (this.#nextStreamId > MAX_STREAM_ID) {
        this.#retire(stream);
        stream.events.aborted({ kind: "refused" });
        continue;
      }
      stream.id = this.#nextStreamId;
      this.#nextStreamId += 2;
      this.#streams.set(stream.id, stream);
      const block = encodeHeaderBlock(stream.headers);
      if (block.length > this.#peerMaxFrameSize) {
        // IJR's requests carry a few short headers: this would be a bug, not a peer's doing.
        throw new Error(`request headers of ${block.length} bytes do not fit one frame`);
      }
      const flags = Flag.END_HEADERS | (stream.endOnOpen ? Flag.END_STREAM : 0);
      this.#queue(encodeFrame(FrameType.HEADERS, flags, stream.id, block));
      stream.markOpened();
      this.#startKeepalive();
    }
  }

  /** Sends DATA for `stream` within both windows, in frames the server accepts. */
  async sendData(stream: Stream, bytes: Uint8Array, endStream: boolean): Promise<void> {
    // Without a wait when the stream is open: a request's DATA then joins its HEADERS in the
    // same write.
    if (stream.id === 0) await stream.opened;
    let at = 0;
    while (true) {
      if (stream.closed || this.#ended !== undefined) return;
      if (stream.localEnded) throw new Error("the request body has already ended");
      const left = bytes.length - at;
      // A window can be negative: the server may shrink the initial window below what is in
      // flight (RFC 9113 6.9.2).
      const size = Math.max(
        0,
        Math.min(left, stream.sendWindow, this.#connectionSendWindow, this.#peerMaxFrameSize),
      );
      if (size <= 0 && left > 0) {
        // Wait for a WINDOW_UPDATE (of the stream or the connection) or the stream's end.
        await new Promise<void>((resolve) => {
          stream.wake.push(resolve);
          this.#connectionWake.push(resolve);
        });
        continue;
      }
      const last = at + size === bytes.length;
      stream.sendWindow -= size;
      this.#connectionSendWindow -= size;
      this.#queue(encodeFrame(
        FrameType.DATA,
        last && endStream ? Flag.END_STREAM : 0,
        stream.id,
        bytes.subarray(at, at + size),
      ));
      at += size;
      if (last) break;
      await this.#drainedOr(stream);
    }
    if (endStream) {
      stream.localEnded = true;
      this.#closeIfDone(stream);
    }
    await this.#drainedOr(stream);
  }

  /** Credits `count` consumed bytes of `stream`, in updates of at least a quarter window. */
  credit(stream: Stream, count: number): void {
    if (stream.closed || stream.remoteEnded) return;
    stream.uncredited += count;
    if (stream.uncredited >= this.#streamWindow / 4) {
      stream.receiveWindow += stream.uncredited;
      this.#queue(encodeFrame(FrameType.WINDOW_UPDATE, 0, stream.id, uint31(stream.uncredited)));
      stream.uncredited = 0;
    }
  }

  resetStream(stream: Stream, code: number): void {
    if (stream.closed) return;
    const opened = stream.id !== 0; // else it waited for a place: nothing to tell the server
    this.#retire(stream);
    if (opened) this.#queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(code)));
    this.#afterStreamClosed();
  }

  /**
   * Takes `stream` out for good, however it ended: sends waiting on it (for a place, a window
   * or the socket) return and see it closed, and it no longer counts as active.
   */
  #retire(stream: Stream): void {
    stream.closed = true;
    stream.markOpened();
    stream.wakeAll();
    if (stream.id !== 0) {
      this.#streams.delete(stream.id);
    } else {
      const at = this.#waitingToOpen.indexOf(stream);
      if (at >= 0) this.#waitingToOpen.splice(at, 1);
    }
  }

  #closeIfDone(stream: Stream): void {
    if (stream.localEnded && stream.remoteEnded && !stream.closed) {
      this.#retire(stream);
      this.#afterStreamClosed();
    }
  }

  #afterStreamClosed(): void {
    this.#openWaiting();
    if (this.#streams.size === 0) this.#stopKeepalive();
    if (this.activeStreams > 0) return;
    if (this.#closeWhenIdle) this.close();
    else if (this.#draining) this.#end("Connection closed by the server", true);
  }

  /** A promise that waits for the socket to take more, when it has asked to (back-pressure). */
  #drainWait: Promise<void> | undefined;
  /** Settles `#drainWait` (on drain, or when the connection ends). */
  #drainDone: (() => void) | undefined;

  /** Waits for the socket to drain, or for `stream` to end meanwhile. */
  #drainedOr(stream: Stream): Promise<void> {
    const drain = this.#drainWait;
    if (drain === undefined || stream.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      stream.wake.push(resolve);
      drain.then(resolve);
    });
  }

  #queue(frame: Uint8Array): void {
    if (this.#ended !== undefined) return;
    this.#pending.push(frame);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // Frames queued in the same turn (a request's HEADERS and DATA, several answers) leave
      // in one write and one TLS record.
      queueMicrotask(() => this.#flush());
    }
  }

  /** Acks queued while the socket was not draining (reset when it drains). */
  #acksWhileBlocked = 0;

  #queueAck(frame: Uint8Array): void {
    if (this.#drainWait !== undefined && ++this.#acksWhileBlocked > MAX_QUEUED_ACKS) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${MAX_QUEUED_ACKS} PING or SETTINGS frames while not reading the answers`,
      );
    }
    this.#queue(frame);
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#pending.length === 0 || this.#ended !== undefined) return;
    const frames = this.#pending;
    this.#pending = [];
    let chunk: Uint8Array;
    if (frames.length === 1) {
      chunk = frames[0];
    } else {
      chunk = new Uint8Array(frames.reduce((sum, frame) => sum + frame.length, 0));
      let at = 0;
      for (const frame of frames) {
        chunk.set(frame, at);
        at += frame.length;
      }
    }
    if (!this.#socket.write(chunk) && this.#drainWait === undefined) {
      this.#drainWait = new Promise<void>((resolve) => {
        const done = () => {
          if (this.#drainDone !== done) return;
          this.#drainWait = this.#drainDone = undefined;
          this.#acksWhileBlocked = 0;
          resolve();
        };
        this.#drainDone = done;
        this.#socket.once("drain", done);
      });
    }
  }

  #receive(chunk: Uint8Array): void {
    if (this.#ended !== undefined) return;
    try {
      let at = 0;
      while (at < chunk.length) {
        const space = this.#reader.space();
        const count = Math.min(space.length, chunk.length - at);
        space.set(chunk.subarray(at, at + count));
        this.#reader.filled(count);
        at += count;
        for (let frame = this.#reader.next(); frame; frame = this.#reader.next()) {
          this.#handle(frame);
          if (this.#ended !== undefined) return;
        }
      }
    } catch (error) {
      if (error instanceof ConnectionError) this.#fail(error);
      else if (error instanceof CompressionError) {
        this.#fail(new ConnectionError(ErrorCode.COMPRESSION_ERROR, error.message));
      } else throw error;
    }
  }

  /** Ends the connection for a protocol violation by the server. */
  #fail(error: ConnectionErrorType): void {
    // The last stream this side processed: none, a client processes no pushed streams.
    const payload = new Uint8Array(8);
    payload.set(uint32(error.code), 4);
    this.#queue(encodeFrame(FrameType.GOAWAY, 0, 0, payload));
    this.#flush();
    this.#end(`HTTP/2 protocol error from the server: ${error.message}`, true);
  }

  #handle(frame: Frame): void {
    if (this.#continuing && frame.type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "header block interrupted");
    }
    switch (frame.type) {
      case FrameType.DATA:
        return this.#onData(frame);
      case FrameType.HEADERS:
        return this.#onHeaders(frame);
      case FrameType.CONTINUATION:
        return this.#onContinuation(frame);
      case FrameType.RST_STREAM:
        return this.#onReset(frame);
      case FrameType.SETTINGS:
        return this.#onSettings(frame);
      case FrameType.PING:
        return this.#onPing(frame);
      case FrameType.GOAWAY:
        return this.#onGoaway(frame);
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(frame);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE after push was disabled");
      case FrameType.PRIORITY:
        if (frame.streamId === 0 || frame.payload.length !== 5) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "malformed PRIORITY");
        }
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 section 4.1)
    }
  }

  /** The stream a frame is for; undefined for one already closed (frames may still arrive). */
  #streamOf(frame: Frame): Stream | undefined {
    if (frame.streamId === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${frame.type} on stream 0`);
    }
    const stream = this.#streams.get(frame.streamId);
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

  #onData(frame: Frame): void {
    const stream = this.#streamOf(frame);
    // Padding counts against the windows too, so the whole payload is accounted for first.
    this.#connectionUncredited += frame.payload.length;
    if (this.#connectionUncredited >= CONNECTION_WINDOW / 2) {
      this.#queue(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint31(this.#connectionUncredited)));
      this.#connectionUncredited = 0;
    }
    const content = unpad(frame);
    // A stream leaves the map as soon as it ends: what still comes for it is ignored, which
    // RFC 9113 5.1 allows for a closed stream.
    if (stream === undefined) return;
    if (frame.payload.length > stream.receiveWindow) {
      throw new ConnectionError(
        ErrorCode.FLOW_CONTROL_ERROR,
        `stream ${stream.id} sent ${frame.payload.length} bytes beyond its window`,
      );
    }
    stream.receiveWindow -= frame.payload.length;
    // Padding is never consumed by the owner: credit it at once.
    const padding = frame.payload.length - content.length;
    const endStream = (frame.flags & Flag.END_STREAM) !== 0;
    if (endStream) this.#remoteEnd(stream);
    else if (padding > 0) this.credit(stream, padding);
    stream.events.data(content, endStream);
  }

  #onHeaders(frame: Frame): void {
    let block = unpad(frame);
    if (frame.flags & Flag.PRIORITY) {
      if (block.length < 5) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "short HEADERS");
      block = block.subarray(5);
    }
    this.#streamOf(frame);
    const endStream = (frame.flags & Flag.END_STREAM) !== 0;
    if (frame.flags & Flag.END_HEADERS) {
      this.#deliverHeaders(frame.streamId, block, endStream);
    } else {
      this.#continuing = {
        streamId: frame.streamId,
        endStream,
        fragments: [block.slice()],
        size: block.length,
        frames: 0,
      };
    }
  }

  #onContinuation(frame: Frame): void {
    const continuing = this.#continuing;
    if (continuing === undefined || continuing.streamId !== frame.streamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block");
    }
    // A running total: a block sent as many tiny fragments must not cost a pass over all of
    // them per fragment. Empty ones add nothing but must not go on for ever either.
    if (frame.payload.length > 0) continuing.fragments.push(frame.payload.slice());
    const size = continuing.size += frame.payload.length;
    if (size > 256 * 1024 || ++continuing.frames > MAX_CONTINUATIONS) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `header block larger than 256 KiB or ${MAX_CONTINUATIONS} frames`,
      );
    }
    if (frame.flags & Flag.END_HEADERS) {
      this.#continuing = undefined;
      const block = new Uint8Array(size);
      let at = 0;
      for (const fragment of continuing.fragments) {
        block.set(fragment, at);
        at += fragment.length;
      }
      this.#deliverHeaders(continuing.streamId, block, continuing.endStream);
    }
  }

  #deliverHeaders(streamId: number, block: Uint8Array, endStream: boolean): void {
    // Decoded even for a stream already closed: the table must follow every block.
    let fields: HeaderField[];
    try {
      fields = this.#decoder.decode(block);
    } catch (error) {
      if (!(error instanceof HeaderListTooLarge)) throw error;
      // The table is in step: only this stream ends.
      const stream = this.#streams.get(streamId);
      if (stream === undefined) return;
      this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      stream.events.aborted({ kind: "tooLarge", message: `response headers: ${error.message}` });
      return;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    if (endStream) this.#remoteEnd(stream);
    stream.events.headers(fields, endStream);
  }

  #remoteEnd(stream: Stream): void {
    stream.remoteEnded = true;
    if (stream.localEnded) {
      this.#closeIfDone(stream);
    } else {
      // The server has answered while the body was still being sent (an early status): the
      // rest of the body is of no use, and RST_STREAM NO_ERROR says so (RFC 9113 8.1).
      this.#retire(stream);
      this.#queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(ErrorCode.NO_ERROR)));
      this.#afterStreamClosed();
    }
  }

  #onReset(frame: Frame): void {
    if (frame.payload.length !== 4) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size");
    }
    const stream = this.#streamOf(frame);
    if (stream === undefined) return;
    const code = readUint32(frame.payload, 0);
    this.#retire(stream);
    stream.events.aborted(
      code === ErrorCode.REFUSED_STREAM ? { kind: "refused" } : {
        kind: "reset",
        code,
      },
    );
    this.#afterStreamClosed();
  }

  #onSettings(frame: Frame): void {
    if (frame.streamId !== 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    }
    if (frame.flags & Flag.ACK) {
      if (frame.payload.length !== 0) {
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      }
      return;
    }
    if (frame.payload.length % 6 !== 0) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of the wrong size");
    }
    for (let at = 0; at < frame.payload.length; at += 6) {
      const id = (frame.payload[at] << 8) | frame.payload[at + 1];
      const value = readUint32(frame.payload, at + 2);
      switch (id) {
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW_SIZE) {
            throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "initial window too large");
          }
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const stream of [...this.#streams.values(), ...this.#waitingToOpen]) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW_SIZE) {
              throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
            }
            if (delta > 0) stream.wakeAll();
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 2 ** 24 - 1) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `max frame size ${value}`);
          }
          this.#peerMaxFrameSize = value;
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = value;
          break;
        case Setting.ENABLE_PUSH:
          // Only a client may enable push (RFC 9113 6.5.2).
          if (value !== 0) {
            throw new ConnectionError(
              ErrorCode.PROTOCOL_ERROR,
              `ENABLE_PUSH ${value} from a server`,
            );
          }
          break;
        default:
          // HEADER_TABLE_SIZE sizes the server's decoder, which this client's encoder never
          // indexes into; MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
          break;
      }
    }
    this.#queueAck(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    this.#openWaiting();
  }

  #onPing(frame: Frame): void {
    if (frame.streamId !== 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
    }
    if (frame.payload.length !== 8) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING of the wrong size");
    }
    if (frame.flags & Flag.ACK) {
      clearTimeout(this.#pingDeadline);
      this.#pingDeadline = undefined;
      this.#startKeepalive();
      return;
    }
    this.#queueAck(encodeFrame(FrameType.PING, Flag.ACK, 0, frame.payload.slice()));
  }

  #onGoaway(frame: Frame): void {
    if (frame.streamId !== 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
    }
    if (frame.payload.length < 8) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "short GOAWAY");
    }
    const lastStreamId = readUint32(frame.payload, 0) & 0x7fffffff;
    this.#draining = true;
    // Streams above the last one the server will process were never seen: they may be sent
    // again on another connection.
    for (const stream of [...this.#streams.values()]) {
      if (stream.id > lastStreamId) {
        this.#retire(stream);
        stream.events.aborted({ kind: "refused" });
      }
    }
    for (const stream of [...this.#waitingToOpen]) {
      this.#retire(stream);
      stream.events.aborted({ kind: "refused" });
    }
    this.#afterStreamClosed();
  }

  #onWindowUpdate(frame: Frame): void {
    if (frame.payload.length !== 4) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size");
    }
    const increment = readUint32(frame.payload, 0) & 0x7fffffff;
    if (frame.streamId === 0) {
      if (increment === 0) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "window increment 0");
      }
      this.#connectionSendWindow += increment;
      if (this.#connectionSendWindow > MAX_WINDOW_SIZE) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      const waiting = this.#connectionWake;
      this.#connectionWake = [];
      for (const resolve of waiting) resolve();
      return;
    }
    const stream = this.#streamOf(frame);
    if (stream === undefined) return;
    if (increment === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `window increment 0 on ${stream.id}`);
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_SIZE) {
      throw new ConnectionError(
        ErrorCode.FLOW_CONTROL_ERROR,
        `stream ${stream.id} window overflow`,
      );
    }
    stream.wakeAll();
  }

  #startKeepalive(): void {
    const keepalive = this.#options.keepalive;
    if (
      keepalive === undefined || this.#keepaliveTimer !== undefined ||
      this.#pingDeadline !== undefined || this.#streams.size === 0 || this.#ended !== undefined
    ) return;
    this.#keepaliveTimer = setTimeout(() => {
      this.#keepaliveTimer = undefined;
      if (this.#streams.size === 0 || this.#ended !== undefined) return;
      this.#queue(encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)));
      this.#pingDeadline = setTimeout(() => {
        this.#pingDeadline = undefined;
        this.#socket.destroy();
        this.#end("Connection dropped");
      }, keepalive.timeoutMs);
    }, keepalive.timeMs);
  }

  #stopKeepalive(): void {
    clearTimeout(this.#keepaliveTimer);
    this.#keepaliveTimer = undefined;
    // An outstanding ping still gets its answer or its timeout: the socket may be dead.
  }

  /** Ends the connection once: every stream ends as lost with `message`. */
  #end(message: string, closeSocket = false): void {
    if (this.#ended !== undefined) return;
    this.#ended = message;
    clearTimeout(this.#keepaliveTimer);
    clearTimeout(this.#pingDeadline);
    this.#keepaliveTimer = this.#pingDeadline = undefined;
    if (closeSocket) this.#socket.end();
    for (const stream of [...this.#streams.values(), ...this.#waitingToOpen]) {
      if (stream.closed) continue;
      this.#retire(stream);
      stream.events.aborted({ kind: "lost", message });
    }
    for (const resolve of this.#connectionWake.splice(0)) resolve();
    this.#drainDone?.();
    for (const listener of this.#closeListeners.splice(0)) listener();
    if (!closeSocket) this.#socket.destroy();
  }
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function uint32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0);
  return bytes;
}

/** A DATA or HEADERS payload without its padding (PADDED flag). */
function unpad(frame: Frame): Uint8Array {
  if (!(frame.flags & Flag.PADDED)) return frame.payload;
  if (frame.payload.length < 1) {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "short padded frame");
  }
  const padding = frame.payload[0];
  if (padding >= frame.payload.length) {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame");
  }
  return frame.payload.subarray(1, frame.payload.length - padding);
}
