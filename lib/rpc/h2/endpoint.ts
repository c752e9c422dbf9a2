/**
 * What both ends of an HTTP/2 connection (RFC 9113) do alike, whichever opened it: cutting the
 * bytes into frames, assembling header blocks (HEADERS and CONTINUATION), SETTINGS, PING (answered,
 * and sent as a keepalive), WINDOW_UPDATE, flow control both ways, batching what is written in
 * one turn into one write, and ending the connection once. The client (connection.ts) and the
 * server (server_connection.ts) add how streams are opened, answered and ended.
 *
 * Nothing the peer sends is trusted: frames, header blocks and windows are checked, and a
 * violation ends the connection with GOAWAY and every open stream with it.
 * @module
 */

import {
  ConnectionError,
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
  uint31,
} from "./frames.ts";
import { CompressionError, HpackDecoder } from "./hpack.ts";

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
  pause(): unknown;
  resume(): unknown;
}

/** Keepalive: a PING after `timeMs`; no answer in `timeoutMs` ends the connection. */
export interface Keepalive {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

/** How long an ended socket has to say goodbye before it is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** The most CONTINUATION frames one header block may take (IJR's peers send none). */
const MAX_CONTINUATIONS = 64;
/** The most bytes one header block may take before it is decoded. */
const MAX_HEADER_BLOCK = 256 * 1024;
/**
 * The most answers to the peer's PINGs and SETTINGS that may wait while the socket is not
 * taking more: a peer that sends them without reading the answers would otherwise fill this
 * process's memory.
 */
const MAX_QUEUED_ACKS = 1024;
/**
 * PING and SETTINGS frames a peer may send: a bucket of CONTROL_BURST, refilled at
 * CONTROL_PER_SECOND. Each costs this side an answer and, for SETTINGS, a pass over its streams:
 * a peer sending them as fast as the line goes would keep the one JavaScript thread busy.
 */
const CONTROL_BURST = 1000;
const CONTROL_PER_SECOND = 50;

/** What flow control and the end of a stream need to know, on either side. */
export class StreamState {
  id = 0;
  sendWindow: number;
  receiveWindow: number;
  /** Consumed but not yet credited to the peer. */
  uncredited = 0;
  localEnded = false;
  remoteEnded = false;
  closed = false;
  /**
   * Sends waiting for window, for the socket, or for the stream to be opened. Each removes
   * itself from every set it is in once woken, so that waits that end another way (the
   * socket drained) leave nothing behind.
   */
  readonly wake = new Set<() => void>();

  constructor(sendWindow: number, receiveWindow: number) {
    this.sendWindow = sendWindow;
    this.receiveWindow = receiveWindow;
  }

  wakeAll(): void {
    wakeAll(this.wake);
  }
}

/** One HTTP/2 connection's common part; `S` is the side's stream. */
export abstract class Endpoint<S extends StreamState> {
  protected readonly socket: ByteSocket;
  protected readonly streams = new Map<number, S>();
  /** The receive window each stream starts with (advertised as SETTINGS_INITIAL_WINDOW_SIZE). */
  protected readonly streamWindow: number;
  /** The connection's receive window, advertised with a WINDOW_UPDATE at the start. */
  protected readonly connectionWindow: number;
  protected peerInitialWindow = DEFAULT_WINDOW_SIZE;
  protected peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Why the connection ended, once it has. */
  protected ended: string | undefined;
  /** The bytes the peer must send first (a server's client preface), until they have come. */
  protected expectedPreface: Uint8Array | undefined;
  readonly #reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  readonly #decoder: HpackDecoder;
  readonly #keepalive: Keepalive | undefined;
  #prefaceSeen = 0;
  #connectionSendWindow = DEFAULT_WINDOW_SIZE;
  #connectionUncredited = 0;
  /** Sends waiting for the connection's window. */
  readonly #connectionWake = new Set<() => void>();
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
  #flushAfterMicrotasksQueued = false;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #pingDeadline: ReturnType<typeof setTimeout> | undefined;
  readonly #closeListeners: (() => void)[] = [];
  /** A promise that waits for the socket to take more, when it has asked to (back-pressure). */
  #drainWait: Promise<void> | undefined;
  /** Settles `#drainWait` (on drain, or when the connection ends). */
  #drainDone: (() => void) | undefined;
  /** Acks queued while the socket was not draining (reset when it drains). */
  #acksWhileBlocked = 0;
  #controlTokens = CONTROL_BURST;
  #controlCheckedAt = performance.now();

  constructor(
    socket: ByteSocket,
    windows: { stream: number; connection: number },
    decoder: HpackDecoder,
    keepalive: Keepalive | undefined,
  ) {
    this.socket = socket;
    this.streamWindow = windows.stream;
    this.connectionWindow = windows.connection;
    this.#decoder = decoder;
    this.#keepalive = keepalive;
    socket.on("data", (chunk) => this.#receive(chunk));
    socket.on("error", (error) => this.end(error.message));
    socket.on("close", () => this.end("Connection dropped"));
  }

  /** Calls `listener` once when the connection has ended (for whatever reason). */
  onClose(listener: () => void): void {
    if (this.ended !== undefined) queueMicrotask(listener);
    else this.#closeListeners.push(listener);
  }

  // --- what each side does differently

  /** A complete HEADERS frame's block (not yet continued) arrived for `frame.streamId`. */
  protected abstract headersFrame(frame: Frame, block: Uint8Array, endStream: boolean): void;
  /** A complete header block for `streamId`, to decode (decodeHeaders) and act on. */
  protected abstract headerBlock(streamId: number, block: Uint8Array, endStream: boolean): void;
  /** The stream a DATA, RST_STREAM or WINDOW_UPDATE frame is for; undefined for a closed one. */
  protected abstract streamOf(frame: Frame): S | undefined;
  /** A stream's DATA content arrived (after its windows were checked). */
  protected abstract streamData(stream: S, content: Uint8Array, endStream: boolean): void;
  /** The peer reset `stream` with `code`; the stream is already retired. */
  protected abstract streamReset(stream: S, code: number): void;
  /** The peer sent GOAWAY, keeping streams up to `lastStreamId`. */
  protected abstract goaway(lastStreamId: number, code: number): void;
  /** A setting only one side cares about. */
  protected abstract otherSetting(id: number, value: number): void;
  /** The peer's settings were applied. */
  protected abstract settingsApplied(): void;
  /** Takes `stream` out of the open ones for good (it no longer counts as active). */
  protected abstract retire(stream: S): void;
  /** After a stream closed: open waiting ones, close an idle connection, stop pings. */
  protected abstract afterStreamClosed(): void;
  /** Both sides of `stream` ended (by END_STREAM each way). */
  protected abstract streamDone(stream: S): void;
  /** The last stream this side processed, for a GOAWAY it sends. */
  protected abstract lastProcessed(): number;
  /** Every stream still open or waiting, to end with the connection. */
  protected abstract allStreams(): S[];
  /** The connection ended with `message`: tell a stream's owner. */
  protected abstract streamLost(stream: S, message: string): void;
  /** Streams to keep alive for: a keepalive ping goes out only while this is true. */
  protected abstract wantsKeepalive(): boolean;

  // --- writing

  protected queue(frame: Uint8Array): void {
    if (this.ended !== undefined) return;
    this.#pending.push(frame);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // Frames queued in the same turn (a request's HEADERS and DATA, an answer's message and
      // status, several answers) leave in one write and one TLS record.
      this.scheduleFlush(() => this.flush());
    }
  }

  /**
   * When queued frames are written: after the current microtasks by default. The server waits
   * for the end of the turn instead (server_connection.ts says why).
   */
  protected scheduleFlush(flush: () => void): void {
    queueMicrotask(flush);
  }

  /**
   * Writes what is queued once the current microtasks have run, ahead of the flush the turn
   * scheduled (the server's: an answer that is complete need not wait for the turn's end).
   */
  protected flushAfterMicrotasks(): void {
    if (this.#flushAfterMicrotasksQueued) return;
    this.#flushAfterMicrotasksQueued = true;
    queueMicrotask(() => {
      this.#flushAfterMicrotasksQueued = false;
      this.flush();
    });
  }

  /** Takes one PING or SETTINGS frame from the peer's allowance, or ends the connection. */
  #controlFrame(): void {
    const now = performance.now();
    this.#controlTokens = Math.min(
      CONTROL_BURST,
      this.#controlTokens + (now - this.#controlCheckedAt) * CONTROL_PER_SECOND / 1000,
    );
    this.#controlCheckedAt = now;
    if (--this.#controlTokens < 0) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${CONTROL_BURST} PING and SETTINGS frames, beyond ${CONTROL_PER_SECOND} a second`,
      );
    }
  }

  #queueAck(frame: Uint8Array): void {
    if (this.#drainWait !== undefined && ++this.#acksWhileBlocked > MAX_QUEUED_ACKS) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${MAX_QUEUED_ACKS} PING or SETTINGS frames while not reading the answers`,
      );
    }
    this.queue(frame);
  }

  protected flush(): void {
    this.#flushQueued = false;
    if (this.#pending.length === 0 || this.ended !== undefined) return;
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
    if (!this.socket.write(chunk) && this.#drainWait === undefined) {
      this.blocked();
      this.#drainWait = new Promise<void>((resolve) => {
        const done = () => {
          if (this.#drainDone !== done) return;
          this.#drainWait = this.#drainDone = undefined;
          this.#acksWhileBlocked = 0;
          if (this.ended === undefined) this.unblocked();
          resolve();
        };
        this.#drainDone = done;
        this.socket.once("drain", done);
      });
    }
  }

  /** The socket takes no more for now (its buffer is full): a side may stop reading. */
  protected blocked(): void {}

  /** The socket drained. */
  protected unblocked(): void {}

  /** Waits for the socket to drain, or for `stream` to end meanwhile. */
  protected drainedOr(stream: S): Promise<void> {
    const drain = this.#drainWait;
    if (drain === undefined || stream.closed) return Promise.resolve();
    return waitIn([stream.wake], drain);
  }

  /**
   * Sends DATA for `stream` within both windows, in frames the peer accepts; resolves when the
   * socket has taken it (or the stream or connection ended meanwhile).
   */
  protected async sendDataOf(stream: S, bytes: Uint8Array, endStream: boolean): Promise<void> {
    try {
      await this.#sendData(stream, bytes, endStream);
    } finally {
      // Window this send did not use goes to the next send waiting for it.
      this.#passOnConnectionWindow();
    }
  }

  async #sendData(stream: S, bytes: Uint8Array, endStream: boolean): Promise<void> {
    let at = 0;
    while (true) {
      if (stream.closed || this.ended !== undefined) return;
      if (stream.localEnded) throw new Error("the stream's body has already ended");
      const left = bytes.length - at;
      // A window can be negative: the peer may shrink the initial window below what is in
      // flight (RFC 9113 6.9.2).
      const size = Math.max(
        0,
        Math.min(left, stream.sendWindow, this.#connectionSendWindow, this.peerMaxFrameSize),
      );
      if (size <= 0 && left > 0) {
        // Wait for a WINDOW_UPDATE of the window that is short (the stream's first), or the
        // stream's end (which wakes the stream's waiters too).
        if (stream.sendWindow <= 0) {
          this.#passOnConnectionWindow();
          await waitIn([stream.wake]);
        } else {
          await waitIn([stream.wake, this.#connectionWake]);
        }
        continue;
      }
      const last = at + size === bytes.length;
      stream.sendWindow -= size;
      this.#connectionSendWindow -= size;
      this.queue(encodeFrame(
        FrameType.DATA,
        last && endStream ? Flag.END_STREAM : 0,
        stream.id,
        bytes.subarray(at, at + size),
      ));
      at += size;
      if (last) break;
      await this.drainedOr(stream);
    }
    if (endStream) {
      stream.localEnded = true;
      this.closeIfDone(stream);
    }
    await this.drainedOr(stream);
  }

  /** Wakes the first send waiting for the connection's window, while there is some. */
  #passOnConnectionWindow(): void {
    if (this.#connectionSendWindow <= 0) return;
    for (const wake of this.#connectionWake) {
      wake();
      return;
    }
  }

  /** Credits `count` consumed bytes of `stream`, in updates of at least a quarter window. */
  protected creditOf(stream: S, count: number): void {
    if (stream.closed || stream.remoteEnded) return;
    stream.uncredited += count;
    if (stream.uncredited >= this.streamWindow / 4) {
      stream.receiveWindow += stream.uncredited;
      this.queue(encodeFrame(FrameType.WINDOW_UPDATE, 0, stream.id, uint31(stream.uncredited)));
      stream.uncredited = 0;
    }
  }

  protected closeIfDone(stream: S): void {
    if (stream.localEnded && stream.remoteEnded && !stream.closed) this.streamDone(stream);
  }

  // --- reading

  #receive(chunk: Uint8Array): void {
    if (this.ended !== undefined) return;
    try {
      const at = this.expectedPreface === undefined ? 0 : this.#checkPreface(chunk);
      this.#reader.feed(chunk.subarray(at), (frame) => {
        this.#handle(frame);
        return this.ended === undefined;
      });
    } catch (error) {
      if (error instanceof ConnectionError) this.fail(error);
      else if (error instanceof CompressionError) {
        this.fail(new ConnectionError(ErrorCode.COMPRESSION_ERROR, error.message));
      } else this.unexpected(error);
    }
  }

  /** An error of this side's own while handling a frame (a bug): thrown, unless a side says. */
  protected unexpected(error: unknown): void {
    throw error;
  }

  /** Checks the preface's bytes in `chunk`; returns where the frames after it start. */
  #checkPreface(chunk: Uint8Array): number {
    const preface = this.expectedPreface!;
    let at = 0;
    while (at < chunk.length && this.#prefaceSeen < preface.length) {
      if (chunk[at] !== preface[this.#prefaceSeen]) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 client preface");
      }
      at++;
      this.#prefaceSeen++;
    }
    if (this.#prefaceSeen === preface.length) this.expectedPreface = undefined;
    return at;
  }

  /** Ends the connection for a protocol violation by the peer, telling it why with GOAWAY. */
  protected fail(error: ConnectionError): void {
    this.queue(this.goawayFrame(error.code));
    this.flush();
    this.end(`HTTP/2 protocol error from the ${this.peerName}: ${error.message}`, true);
  }

  /** A GOAWAY with `code`, naming the last stream this side processed. */
  protected goawayFrame(code: number): Uint8Array {
    const payload = new Uint8Array(8);
    payload.set(uint31(this.lastProcessed()), 0);
    payload.set(uint32(code), 4);
    return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
  }

  /** "server" or "client": who is at the other end, for messages. */
  protected abstract readonly peerName: string;

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
        // A client never sends one, and IJR's client disables push in its first SETTINGS.
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE, and push is off");
      case FrameType.PRIORITY:
        if (frame.streamId === 0 || frame.payload.length !== 5) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "malformed PRIORITY");
        }
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 section 4.1)
    }
  }

  #onData(frame: Frame): void {
    const stream = this.streamOf(frame);
    // Padding counts against the windows too, so the whole payload is accounted for first.
    this.#connectionUncredited += frame.payload.length;
    if (this.#connectionUncredited >= this.connectionWindow / 2) {
      this.queue(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint31(this.#connectionUncredited)));
      this.#connectionUncredited = 0;
    }
    const content = unpad(frame);
    // A stream leaves the map as soon as it ends: what still comes for it is ignored, which
    // RFC 9113 5.1 allows for a closed stream.
    if (stream === undefined) return;
    if (stream.remoteEnded) {
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, `DATA after END_STREAM on ${stream.id}`);
    }
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
    if (!endStream && padding > 0) this.creditOf(stream, padding);
    this.streamData(stream, content, endStream);
  }

  #onHeaders(frame: Frame): void {
    if (frame.streamId === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    }
    let block = unpad(frame);
    if (frame.flags & Flag.PRIORITY) {
      if (block.length < 5) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "short HEADERS");
      block = block.subarray(5);
    }
    const endStream = (frame.flags & Flag.END_STREAM) !== 0;
    this.headersFrame(frame, block, endStream);
    if (frame.flags & Flag.END_HEADERS) {
      this.headerBlock(frame.streamId, block, endStream);
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
    if (size > MAX_HEADER_BLOCK || ++continuing.frames > MAX_CONTINUATIONS) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `header block larger than ${MAX_HEADER_BLOCK / 1024} KiB or ${MAX_CONTINUATIONS} frames`,
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
      this.headerBlock(continuing.streamId, block, continuing.endStream);
    }
  }

  /** Decodes a whole header block; every block must be, to keep the table in step. */
  protected decodeHeaders(block: Uint8Array) {
    return this.#decoder.decode(block);
  }

  #onReset(frame: Frame): void {
    if (frame.streamId === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    }
    if (frame.payload.length !== 4) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size");
    }
    const stream = this.streamOf(frame);
    if (stream === undefined) return;
    this.retire(stream);
    this.streamReset(stream, readUint32(frame.payload, 0));
    this.afterStreamClosed();
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
    this.#controlFrame();
    // The streams' windows change once per frame, by the last initial window it sets: a frame
    // of thousands of such entries must not cost a pass over every stream for each.
    let initialWindow: number | undefined;
    for (let at = 0; at < frame.payload.length; at += 6) {
      const id = (frame.payload[at] << 8) | frame.payload[at + 1];
      const value = readUint32(frame.payload, at + 2);
      switch (id) {
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW_SIZE) {
            throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "initial window too large");
          }
          initialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 2 ** 24 - 1) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `max frame size ${value}`);
          }
          this.peerMaxFrameSize = value;
          break;
        default:
          this.otherSetting(id, value);
          break;
      }
    }
    if (initialWindow !== undefined && initialWindow !== this.peerInitialWindow) {
      const delta = initialWindow - this.peerInitialWindow;
      this.peerInitialWindow = initialWindow;
      for (const stream of this.allStreams()) {
        stream.sendWindow += delta;
        if (stream.sendWindow > MAX_WINDOW_SIZE) {
          throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
        }
        if (delta > 0) stream.wakeAll();
      }
    }
    this.#queueAck(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    this.settingsApplied();
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
      this.startKeepalive();
      return;
    }
    this.#controlFrame();
    this.#queueAck(encodeFrame(FrameType.PING, Flag.ACK, 0, frame.payload.slice()));
  }

  #onGoaway(frame: Frame): void {
    if (frame.streamId !== 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
    }
    if (frame.payload.length < 8) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "short GOAWAY");
    }
    this.goaway(readUint32(frame.payload, 0) & 0x7fffffff, readUint32(frame.payload, 4));
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
      // Only as many waiting sends as the window can serve a frame each: a peer crediting a
      // byte at a time must not wake every stream for each.
      let wakes = Math.ceil(this.#connectionSendWindow / this.peerMaxFrameSize);
      for (const wake of [...this.#connectionWake]) {
        if (wakes-- <= 0) break;
        wake();
      }
      return;
    }
    const stream = this.streamOf(frame);
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

  // --- keepalive and the end

  protected startKeepalive(): void {
    const keepalive = this.#keepalive;
    if (
      keepalive === undefined || this.#keepaliveTimer !== undefined ||
      this.#pingDeadline !== undefined || !this.wantsKeepalive() || this.ended !== undefined
    ) return;
    this.#keepaliveTimer = setTimeout(() => {
      this.#keepaliveTimer = undefined;
      if (!this.wantsKeepalive() || this.ended !== undefined) return;
      this.queue(encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)));
      this.#pingDeadline = setTimeout(() => {
        this.#pingDeadline = undefined;
        this.socket.destroy();
        this.end("Connection dropped");
      }, keepalive.timeoutMs);
    }, keepalive.timeMs);
  }

  protected stopKeepalive(): void {
    clearTimeout(this.#keepaliveTimer);
    this.#keepaliveTimer = undefined;
    // An outstanding ping still gets its answer or its timeout: the socket may be dead.
  }

  /** Ends the connection once: every stream ends as lost with `message`. */
  protected end(message: string, closeSocket = false): void {
    if (this.ended !== undefined) return;
    this.ended = message;
    clearTimeout(this.#keepaliveTimer);
    clearTimeout(this.#pingDeadline);
    this.#keepaliveTimer = this.#pingDeadline = undefined;
    if (closeSocket) {
      this.socket.end();
      // A peer that does not read would keep the socket, and what it holds, for good: the
      // end (TLS close_notify, FIN) gets a moment to go out, then the socket is destroyed.
      const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
      Deno.unrefTimer(timer);
      this.socket.on("close", () => clearTimeout(timer));
    }
    for (const stream of this.allStreams()) {
      if (stream.closed) continue;
      this.retire(stream);
      this.streamLost(stream, message);
    }
    wakeAll(this.#connectionWake);
    this.#drainDone?.();
    for (const listener of this.#closeListeners.splice(0)) listener();
    if (!closeSocket) this.socket.destroy();
  }
}

/** Wakes every waiter in `waiters` (each removes itself from all its sets). */
function wakeAll(waiters: Set<() => void>): void {
  for (const wake of [...waiters]) wake();
}

/**
 * Waits until any of the sets is woken, or `also` settles; the waiter leaves every set then,
 * however it was woken.
 */
function waitIn(sets: Set<() => void>[], also?: Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = () => {
      for (const set of sets) set.delete(wake);
      resolve();
    };
    for (const set of sets) set.add(wake);
    also?.then(wake);
  });
}

export function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

export function uint32(value: number): Uint8Array {
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
