/**
 * HTTP/2 frames (RFC 9113 section 4 and 6): the numbers, a frame's encoding, and a reader that
 * cuts a connection's bytes into frames.
 * @module
 */

/** Frame types. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (each meaningful on some types only). */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** SETTINGS identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes of RST_STREAM and GOAWAY. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** What a client sends first on every connection. */
export const CLIENT_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** The frame size every peer must accept, and the default most a peer sends. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The flow-control window every stream and connection starts with. */
export const DEFAULT_WINDOW_SIZE = 65_535;
/** The largest window flow control allows. */
export const MAX_WINDOW_SIZE = 2 ** 31 - 1;

const HEADER_LENGTH = 9;

/** One frame as read: its payload is a view into the reader's buffer, valid until the next read. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
}

/** A protocol violation by the peer: the connection must end with GOAWAY and this code. */
export class ConnectionError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = "ConnectionError";
    this.code = code;
  }
}

/** Encodes one frame. */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const frame = new Uint8Array(HEADER_LENGTH + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length << 8);
  frame[3] = type;
  frame[4] = flags;
  view.setUint32(5, streamId & 0x7fffffff);
  frame.set(payload, HEADER_LENGTH);
  return frame;
}

/** Encodes a 31-bit value, as WINDOW_UPDATE and the GOAWAY's last stream carry. */
export function uint31(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value & 0x7fffffff);
  return bytes;
}

/** Encodes SETTINGS pairs. */
export function settingsPayload(pairs: readonly (readonly [number, number])[]): Uint8Array {
  const payload = new Uint8Array(6 * pairs.length);
  const view = new DataView(payload.buffer);
  pairs.forEach(([id, value], index) => {
    view.setUint16(6 * index, id);
    view.setUint32(6 * index + 2, value);
  });
  return payload;
}

/** Cuts received bytes into frames; frames larger than `maxFrameSize` are refused. */
export class FrameReader {
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  readonly #maxFrameSize: number;

  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    this.#maxFrameSize = maxFrameSize;
  }

  /**
   * Where the next read should put its bytes: free space at the end of the buffer (moved down
   * or grown so that a whole frame fits).
   */
  space(): Uint8Array {
    if (this.#start > 0 && this.#start === this.#end) {
      this.#start = this.#end = 0;
    }
    if (this.#buffer.length - this.#end < 16 * 1024) {
      const pending = this.#end - this.#start;
      const size = Math.max(
        this.#buffer.length,
        2 * (pending + HEADER_LENGTH + this.#maxFrameSize),
      );
      const grown = size > this.#buffer.length ? new Uint8Array(size) : this.#buffer;
      grown.set(this.#buffer.subarray(this.#start, this.#end), 0);
      this.#buffer = grown;
      this.#start = 0;
      this.#end = pending;
    }
    return this.#buffer.subarray(this.#end);
  }

  /** Records that `count` bytes were read into the last `space()`. */
  filled(count: number): void {
    this.#end += count;
  }

  /**
   * Cuts `chunk` into frames, handing each to `handle` (its payload a view valid during the
   * call); stops early when `handle` returns false.
   */
  feed(chunk: Uint8Array, handle: (frame: Frame) => boolean): void {
    let at = 0;
    while (at < chunk.length) {
      const space = this.space();
      const count = Math.min(space.length, chunk.length - at);
      space.set(chunk.subarray(at, at + count));
      this.filled(count);
      at += count;
      for (let frame = this.next(); frame; frame = this.next()) {
        if (!handle(frame)) return;
      }
    }
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.#end - this.#start < HEADER_LENGTH) return undefined;
    const b = this.#buffer;
    const at = this.#start;
    const length = (b[at] << 16) | (b[at + 1] << 8) | b[at + 2];
    if (length > this.#maxFrameSize) {
      throw new ConnectionError(
        ErrorCode.FRAME_SIZE_ERROR,
        `frame of ${length} bytes, above the ${this.#maxFrameSize} this side accepts`,
      );
    }
    if (this.#end - at < HEADER_LENGTH + length) return undefined;
    const streamId = ((b[at + 5] << 24) | (b[at + 6] << 16) | (b[at + 7] << 8) | b[at + 8]) &
      0x7fffffff;
    const frame = {
      type: b[at + 3],
      flags: b[at + 4],
      streamId,
      payload: b.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + length),
    };
    this.#start = at + HEADER_LENGTH + length;
    return frame;
  }
}
