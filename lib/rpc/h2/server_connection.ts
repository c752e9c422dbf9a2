/**
 * The server side of one HTTP/2 connection (RFC 9113), as gRPC uses it: the client opens streams
 * with a request's headers and body; the server answers each with headers, DATA and trailers.
 * What both sides do alike (frames, settings, flow control, keepalive) is endpoint.ts. No server
 * push, no priorities (ignored), TLS with ALPN "h2" only (ijrd's listener sets it up).
 *
 * Why IJR has its own: ijrd served with grpc-js on Deno's node:http2, whose JavaScript layer cost
 * about 0.4 ms of CPU per call, and whose nghttp2 aborted the whole process on frames any client
 * could send (docs/security.md, "Transport").
 *
 * The client proved who it is with a certificate of IJR's CA, but it is a user, and users may be
 * hostile, so nothing it sends is trusted and nothing it sends may hold more than its share:
 * - at most `maxConcurrentStreams` streams per connection, and a stream counts until its
 *   owner (the call's handler) has let it go, not until the client resets it: a client that
 *   opens and resets streams in a loop (the "rapid reset" attack, CVE-2023-44487) gets no more
 *   handlers running than one that waits;
 * - header blocks are bounded before and after decoding, a stream's body by its window, and the
 *   answers to PINGs and SETTINGS by what the client reads (endpoint.ts).
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

/** How a request's stream ended before the server's answer did. */
export type IncomingAbort =
  /** The client reset the stream (RST_STREAM) with this error code. */
  | { readonly kind: "reset"; readonly code: number }
  /** The connection ended (closed, broken, a protocol error, or closed by the server). */
  | { readonly kind: "lost"; readonly message: string };

/** What a stream's owner hears about the request, in the order it happened. */
export interface IncomingEvents {
  /**
   * Request body bytes from one DATA frame: a view valid during this call only (the connection's
   * read buffer). `endStream` ends the body.
   */
  data(bytes: Uint8Array, endStream: boolean): void;
  /** The stream ended before the answer's end: nothing is sent or heard on it after this. */
  aborted(reason: IncomingAbort): void;
}

/** A request's stream as its owner answers it. */
export interface ServerStream {
  /** The stream's ID (odd, from the client). */
  readonly id: number;
  /** The request's headers; empty when they were larger than this side accepts. */
  readonly headers: readonly HeaderField[];
  /** Whether the request's body has ended (END_STREAM from the client). */
  readonly requestEnded: boolean;
  /** Whether the stream is over: answered in full, reset, or its connection gone. */
  readonly closed: boolean;
  /** Whether a message of the answer is still being sent (waiting for window or the socket). */
  readonly sending: boolean;
  /**
   * Sends the answer's headers, as fields or as a block already encoded (encodeHeaderBlock:
   * it indexes nothing, so a block can be made once and sent on any connection). With
   * `endStream` they are the whole answer (gRPC's "trailers-only").
   */
  respond(headers: readonly HeaderField[] | Uint8Array, endStream: boolean): void;
  /** Sends body bytes within flow control; resolves when the socket has taken them. */
  send(bytes: Uint8Array): Promise<void>;
  /** Ends the answer with trailers. */
  trailers(headers: readonly HeaderField[] | Uint8Array): void;
  /** The owner has consumed `count` body bytes: the client may send as many more. */
  consumed(count: number): void;
  /** Ends the stream with RST_STREAM (CANCEL by default); no events follow. */
  reset(code?: number): void;
  /** The owner is done with the stream: its place among the concurrent streams is free. */
  release(): void;
}

/** Settings of a server connection. */
export interface ServerConnectionOptions {
  /** The most streams whose owners have not released them, per connection. */
  readonly maxConcurrentStreams: number;
  /** How much body a client may send ahead of what a stream's owner has consumed. */
  readonly streamWindow?: number;
  /** The most bytes a request's decoded headers may take (names, values, 32 per field). */
  readonly maxHeaderListSize?: number;
  /** A PING after `timeMs` of quiet; no answer in `timeoutMs` ends the connection. */
  readonly keepalive?: Keepalive;
  /** How long an ended answer may wait for the client's window (default 10 s). */
  readonly endWaitMs?: number;
  /**
   * A new stream: the owner answers it and says who hears its body and its end. `headerProblem`
   * says why its headers were not kept (too large); the stream must then be answered at once.
   */
  onStream(stream: ServerStream, headerProblem: string | undefined): IncomingEvents;
}

const DEFAULT_STREAM_WINDOW = 1 << 20;
/** How long an ended answer may wait for the client's window before its stream is reset. */
const END_WAIT_MS = 10_000;
/** The connection's receive window: large, since each stream's own window bounds its memory. */
const CONNECTION_WINDOW = MAX_WINDOW_SIZE;
const DEFAULT_MAX_HEADER_LIST = 16 * 1024;

class IncomingStream extends StreamState implements ServerStream {
  readonly #connection: ServerConnection;
  readonly #endWaitMs: number;
  readonly headers: readonly HeaderField[];
  events: IncomingEvents | undefined;
  released = false;
  /** The place it took among the concurrent streams is given back (released and closed). */
  placeFreed = false;
  /** The last send, which the next one waits for: one message's frames never interleave. */
  #lastSend: Promise<void> | undefined;
  #sending = 0;
  /** The answer's end, waiting for the sends before it to have queued their frames. */
  #endWhenSent: (() => void) | undefined;

  constructor(
    connection: ServerConnection,
    id: number,
    headers: readonly HeaderField[],
    sendWindow: number,
    receiveWindow: number,
    endWaitMs: number,
  ) {
    super(sendWindow, receiveWindow);
    this.#connection = connection;
    this.#endWaitMs = endWaitMs;
    this.id = id;
    this.headers = headers;
  }

  get requestEnded(): boolean {
    return this.remoteEnded;
  }

  respond(headers: readonly HeaderField[] | Uint8Array, endStream: boolean): void {
    if (endStream) this.#end(() => this.#connection.sendHeaders(this, headers, true));
    else this.#connection.sendHeaders(this, headers, false);
  }

  send(bytes: Uint8Array): Promise<void> {
    this.#sending++;
    const send = () => this.#connection.sendData(this, bytes);
    // The first send starts now, so that its frames join what this turn writes.
    const sent = (this.#lastSend ? this.#lastSend.then(send) : send()).finally(() => {
      if (--this.#sending > 0) return;
      this.#lastSend = undefined;
      const end = this.#endWhenSent;
      this.#endWhenSent = undefined;
      end?.();
    });
    this.#lastSend = sent.catch(() => {});
    return sent;
  }

  trailers(headers: readonly HeaderField[] | Uint8Array): void {
    this.#end(() => this.#connection.sendHeaders(this, headers, true));
  }

  /** Whether a message of the answer is still being sent (waiting for window or the socket). */
  get sending(): boolean {
    return this.#sending > 0;
  }

  /**
   * Ends the answer after the messages before it: a status queued while a message still waits
   * for the client's window would cut it short, and call it OK. A client that never credits
   * the window cannot keep the answer, and what it holds, for more than END_WAIT_MS: the stream
   * is then reset.
   */
  #end(end: () => void): void {
    if (this.#sending === 0) return end();
    const timer = setTimeout(() => this.reset(ErrorCode.CANCEL), this.#endWaitMs);
    Deno.unrefTimer(timer);
    this.#endWhenSent = () => {
      clearTimeout(timer);
      end();
    };
  }

  consumed(count: number): void {
    this.#connection.credit(this, count);
  }

  reset(code: number = ErrorCode.CANCEL): void {
    this.#connection.resetStream(this, code);
  }

  release(): void {
    this.#connection.release(this);
  }
}

/** One HTTP/2 connection from the server side. */
export class ServerConnection extends Endpoint<IncomingStream> {
  protected readonly peerName = "client";
  readonly #options: ServerConnectionOptions;
  /** The highest stream ID the client has opened. */
  #lastStreamId = 0;
  /**
   * Streams that hold a place among the concurrent ones: until their owner has released them
   * and they are closed, whichever comes last (a reset stream whose handler still runs, an
   * answered one whose last frames wait for the client's window).
   */
  #holding = 0;
  /** A GOAWAY was sent: no new streams, and the connection ends when the open ones have. */
  #draining = false;
  /** The header problem of the block being read, for the stream it opens. */
  #opening: { id: number; refused: boolean } | undefined;

  constructor(socket: ByteSocket, options: ServerConnectionOptions) {
    const streamWindow = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    const maxHeaderList = options.maxHeaderListSize ?? DEFAULT_MAX_HEADER_LIST;
    super(
      socket,
      { stream: streamWindow, connection: CONNECTION_WINDOW },
      new HpackDecoder(undefined, maxHeaderList),
      options.keepalive,
    );
    this.#options = options;
    this.expectedPreface = CLIENT_PREFACE;
    this.queue(encodeFrame(
      FrameType.SETTINGS,
      0,
      0,
      settingsPayload([
        [Setting.MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, maxHeaderList],
      ]),
    ));
    this.queue(encodeFrame(
      FrameType.WINDOW_UPDATE,
      0,
      0,
      uint31(CONNECTION_WINDOW - DEFAULT_WINDOW_SIZE),
    ));
    this.startKeepalive();
  }

  /** Streams open now (answers not finished). */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Takes no new streams (GOAWAY, NO_ERROR, naming the last stream opened) and ends the
   * connection once the open ones have been answered.
   */
  drain(): void {
    if (this.ended !== undefined || this.#draining) return;
    this.#draining = true;
    this.queue(this.goawayFrame(ErrorCode.NO_ERROR));
    this.afterStreamClosed();
  }

  /**
   * Ends the connection now: GOAWAY, open streams reset (CANCEL), their owners told it was
   * lost.
   */
  close(message = "Connection closed by the server"): void {
    if (this.ended !== undefined) return;
    this.queue(this.goawayFrame(ErrorCode.NO_ERROR));
    for (const stream of this.streams.values()) {
      this.queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(ErrorCode.CANCEL)));
    }
    this.flush();
    this.end(message, true);
  }

  sendHeaders(
    stream: IncomingStream,
    headers: readonly HeaderField[] | Uint8Array,
    endStream: boolean,
  ): void {
    if (stream.closed || this.ended !== undefined) return;
    if (stream.localEnded) throw new Error("the answer has already ended");
    const block = headers instanceof Uint8Array ? headers : encodeHeaderBlock(headers);
    const endFlag = endStream ? Flag.END_STREAM : 0;
    const max = this.peerMaxFrameSize;
    if (block.length <= max) {
      this.queue(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | endFlag, stream.id, block));
    } else {
      // A long status message: the rest of the block goes in CONTINUATION frames.
      this.queue(encodeFrame(FrameType.HEADERS, endFlag, stream.id, block.subarray(0, max)));
      for (let at = max; at < block.length; at += max) {
        const last = at + max >= block.length;
        this.queue(encodeFrame(
          FrameType.CONTINUATION,
          last ? Flag.END_HEADERS : 0,
          stream.id,
          block.subarray(at, at + max),
        ));
      }
    }
    if (endStream) {
      this.#localEnd(stream);
      // The answer is complete: it leaves once this turn's microtasks have run (with whatever
      // else they queue), not at the turn's end, when other work of the turn (a job's end
      // processed right after its start) would have held it back (bench/README.md).
      this.flushAfterMicrotasks();
    }
  }

  async sendData(stream: IncomingStream, bytes: Uint8Array): Promise<void> {
    await this.sendDataOf(stream, bytes, false);
  }

  credit(stream: IncomingStream, count: number): void {
    this.creditOf(stream, count);
  }

  resetStream(stream: IncomingStream, code: number): void {
    if (stream.closed) return;
    this.retire(stream);
    this.queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(code)));
    this.afterStreamClosed();
  }

  release(stream: IncomingStream): void {
    stream.released = true;
    this.#freePlace(stream);
  }

  #freePlace(stream: IncomingStream): void {
    if (!stream.released || !stream.closed || stream.placeFreed) return;
    stream.placeFreed = true;
    this.#holding--;
  }

  /** The answer is complete: the stream closes, or if the body is still coming, is cut short. */
  #localEnd(stream: IncomingStream): void {
    stream.localEnded = true;
    if (stream.remoteEnded) {
      this.closeIfDone(stream);
      return;
    }
    // Answered before the request's body ended (a refused upload): the rest of the body is of
    // no use, and RST_STREAM NO_ERROR says so (RFC 9113 8.1).
    this.retire(stream);
    this.queue(encodeFrame(FrameType.RST_STREAM, 0, stream.id, uint32(ErrorCode.NO_ERROR)));
    this.afterStreamClosed();
  }

  protected retire(stream: IncomingStream): void {
    stream.closed = true;
    stream.wakeAll();
    this.streams.delete(stream.id);
    this.#freePlace(stream);
  }

  protected streamDone(stream: IncomingStream): void {
    this.retire(stream);
    this.afterStreamClosed();
  }

  protected afterStreamClosed(): void {
    if (this.#draining && this.streams.size === 0) {
      this.flush();
      this.end("Connection closed by the server", true);
    }
  }

  /** Pings go out on an idle connection too: a client that vanished must not hold it. */
  protected wantsKeepalive(): boolean {
    return true;
  }

  protected lastProcessed(): number {
    return this.#lastStreamId;
  }

  protected allStreams(): IncomingStream[] {
    return [...this.streams.values()];
  }

  protected streamLost(stream: IncomingStream, message: string): void {
    stream.events?.aborted({ kind: "lost", message });
  }

  /** The stream a DATA, RST_STREAM or WINDOW_UPDATE frame is for; undefined for a closed one. */
  protected streamOf(frame: Frame): IncomingStream | undefined {
    if (frame.streamId === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${frame.type} on stream 0`);
    }
    if (frame.streamId % 2 === 0 || frame.streamId > this.#lastStreamId) {
      throw new ConnectionError(
        ErrorCode.PROTOCOL_ERROR,
        `frame type ${frame.type} on stream ${frame.streamId}, which the client never opened`,
      );
    }
    return this.streams.get(frame.streamId);
  }

  protected streamData(stream: IncomingStream, content: Uint8Array, endStream: boolean): void {
    if (endStream) stream.remoteEnded = true;
    stream.events?.data(content, endStream);
    if (endStream) this.closeIfDone(stream);
  }

  /** Checks a HEADERS frame's stream before its block is read (and continued). */
  protected headersFrame(frame: Frame, _block: Uint8Array, endStream: boolean): void {
    const id = frame.streamId;
    if (id % 2 === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${id}`);
    }
    if (id <= this.#lastStreamId) {
      // Trailers of an open request: gRPC's clients send none, but HTTP/2 allows them.
      // Trailers may still come for a stream this side has reset or answered early (RFC 9113
      // 5.1: ignored; the block is still decoded, for the table). Anything else is an error.
      const stream = this.streams.get(id);
      this.#opening = undefined;
      if (stream === undefined && !endStream) {
        throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
      }
      if (stream !== undefined && (stream.remoteEnded || !endStream)) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `second HEADERS on stream ${id}`);
      }
      return;
    }
    this.#lastStreamId = id;
    // Past the limit, or after a GOAWAY: refused, the client may send it again elsewhere. The
    // block is still decoded when it is complete, to keep the table in step.
    const refused = this.#draining || this.#holding >= this.#options.maxConcurrentStreams;
    this.#opening = { id, refused };
  }

  protected headerBlock(streamId: number, block: Uint8Array, endStream: boolean): void {
    const opening = this.#opening?.id === streamId ? this.#opening : undefined;
    this.#opening = undefined;
    let fields: HeaderField[] = [];
    let problem: string | undefined;
    try {
      fields = this.decodeHeaders(block);
    } catch (error) {
      if (!(error instanceof HeaderListTooLarge)) throw error;
      problem = `request headers: ${error.message}`; // the table is in step: only this stream
    }
    if (opening === undefined) {
      // A request's trailers: they end its body, and say nothing gRPC reads.
      const stream = this.streams.get(streamId);
      if (stream !== undefined) this.streamData(stream, new Uint8Array(0), true);
      return;
    }
    if (opening.refused) {
      this.queue(
        encodeFrame(FrameType.RST_STREAM, 0, streamId, uint32(ErrorCode.REFUSED_STREAM)),
      );
      return;
    }
    const stream = new IncomingStream(
      this,
      streamId,
      fields,
      this.peerInitialWindow,
      this.streamWindow,
      this.#options.endWaitMs ?? END_WAIT_MS,
    );
    stream.remoteEnded = endStream;
    this.streams.set(streamId, stream);
    this.#holding++;
    stream.events = this.#options.onStream(stream, problem);
  }

  protected streamReset(stream: IncomingStream, code: number): void {
    stream.events?.aborted({ kind: "reset", code });
  }

  protected otherSetting(id: number, value: number): void {
    if (id === Setting.ENABLE_PUSH && value > 1) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `ENABLE_PUSH ${value}`);
    }
    // The rest: HEADER_TABLE_SIZE sizes the client's decoder, which this side's encoder never
    // indexes into; MAX_CONCURRENT_STREAMS limits pushes, which this side never makes;
    // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
  }

  /** While the client does not read what this side writes, its requests are not read either. */
  protected override blocked(): void {
    this.socket.pause();
  }

  protected override unblocked(): void {
    this.socket.resume();
  }

  /**
   * Frames are written at the end of this turn of the event loop, not after the current
   * microtasks: a stream's last message and its status come from different steps of the
   * handler's async iteration (a RunJob's "ended", then OK), and written apart they were two TLS
   * records, two write(2)s and two wake-ups of the client. A stream's end is written sooner
   * (sendHeaders): after the microtasks that made it, which include its last message.
   */
  protected override scheduleFlush(flush: () => void): void {
    setImmediate(flush);
  }

  /**
   * A bug of ijrd's while handling a frame (an owner's event threw) costs this connection, not
   * the process with every other user's calls: logged, and the client told INTERNAL_ERROR.
   */
  protected override unexpected(error: unknown): void {
    console.error(`ijr: HTTP/2 connection failed: ${(error as Error)?.stack ?? error}`);
    this.fail(new ConnectionError(ErrorCode.INTERNAL_ERROR, "internal error"));
  }

  protected settingsApplied(): void {}

  /** The client will open nothing more: it closes the connection itself when it is done. */
  protected goaway(): void {}
}
