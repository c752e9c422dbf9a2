/**
 * What an HTTP/2 client sends ijrd, minus its GOAWAY frames. The nghttp2 inside Deno 2.9's
 * `node:http2`, which grpc-js serves on, aborts the whole process on a failed assertion when a
 * client's GOAWAY meets some states of its streams (`find_stream_on_goaway_func`, Deno's open
 * issue denoland/deno#36788), before any JavaScript runs: any client holding a certificate could
 * stop ijrd, and with `--no-live-restore` every job with it. So ijrd ends TLS itself
 * (lib/daemon/serve.ts) and hands grpc-js this stream in place of the TLS socket: every byte
 * passes through unchanged, in the order sent, except whole GOAWAY frames, which are dropped. A
 * client's GOAWAY only says it opens no more streams; it still reads the answers of those it
 * has open, and it ends the connection itself when it is done. Frames are parsed only as far as
 * their 9-byte headers (a length and a type); nghttp2 checks everything else as before.
 * @module
 */

import type { PeerCertificate, TLSSocket } from "node:tls";
import { Duplex } from "node:stream";
import { CLIENT_PREFACE, FrameType } from "../h2/mod.ts";

/** The frame header: a 24-bit length, a type, flags and a stream ID (RFC 9113 §4.1). */
const FRAME_HEADER_BYTES = 9;

/**
 * Splits a client's byte stream into what passes and what is dropped: feed it chunks in
 * order, and it returns the parts to pass on (views of the chunks where it can).
 */
export class GoawayDropper {
  #prefaceLeft = CLIENT_PREFACE.length; // passed as it is
  /** A frame header cut by the end of a chunk. */
  #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  #payloadLeft = 0;
  #dropping = false;
  /** GOAWAY frames dropped so far. */
  dropped = 0;

  /** The parts of `chunk` to pass on, in order. */
  feed(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    let passFrom = 0;
    const passUpTo = (end: number) => {
      if (end > passFrom) out.push(chunk.subarray(passFrom, end));
    };
    while (at < chunk.length) {
      if (this.#prefaceLeft > 0) {
        const n = Math.min(this.#prefaceLeft, chunk.length - at);
        this.#prefaceLeft -= n;
        at += n;
        continue;
      }
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - at);
        this.#payloadLeft -= n;
        at += n;
        if (this.#dropping) passFrom = at;
        continue;
      }
      // A frame header starts here (or goes on from the last chunk).
      if (this.#headerFilled === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
        this.#begin(chunk, at);
        if (this.#dropping) {
          passUpTo(at);
          passFrom = at + FRAME_HEADER_BYTES;
        }
        at += FRAME_HEADER_BYTES;
        continue;
      }
      // A header cut by the chunk's end: kept until it is whole.
      if (this.#headerFilled === 0) passUpTo(at);
      const n = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, chunk.length - at);
      this.#header.set(chunk.subarray(at, at + n), this.#headerFilled);
      this.#headerFilled += n;
      at += n;
      passFrom = at;
      if (this.#headerFilled === FRAME_HEADER_BYTES) {
        this.#headerFilled = 0;
        this.#begin(this.#header, 0);
        if (!this.#dropping) out.push(this.#header.slice());
      }
    }
    passUpTo(chunk.length);
    return out;
  }

  #begin(bytes: Uint8Array, at: number): void {
    this.#payloadLeft = (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
    this.#dropping = bytes[at + 3] === FrameType.GOAWAY;
    if (this.#dropping) this.dropped++;
  }
}

/**
 * A client's TLS connection as grpc-js's HTTP/2 server reads it (its GOAWAY frames dropped)
 * and writes it (unchanged). It also answers what ijrd asks of a connection: the client's
 * certificate, and a cork for the frames of one answer (lib/rpc/transport/connection.ts).
 */
export class FilteredConnection extends Duplex {
  readonly tlsSocket: TLSSocket;
  readonly #dropper = new GoawayDropper();

  constructor(tlsSocket: TLSSocket) {
    super({ allowHalfOpen: false });
    this.tlsSocket = tlsSocket;
    tlsSocket.on("data", (chunk: Uint8Array) => {
      for (const part of this.#dropper.feed(chunk)) {
        if (!this.push(part)) tlsSocket.pause();
      }
    });
    tlsSocket.on("end", () => this.push(null));
    tlsSocket.on("drain", () => this.emit("drain"));
    tlsSocket.on("error", (error) => this.destroy(error));
    tlsSocket.on("close", () => this.destroy());
  }

  /**
   * The client's verified certificate (the server requires one); undefined unless the
   * handshake verified it, as grpc-js's own check had it.
   */
  get peerCertificate(): PeerCertificate | undefined {
    return this.tlsSocket.authorized ? this.tlsSocket.getPeerCertificate() : undefined;
  }

  get remoteAddress(): string | undefined {
    return this.tlsSocket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.tlsSocket.remotePort;
  }

  override _read(): void {
    this.tlsSocket.resume();
  }

  /**
   * Writes go straight to the TLS socket, past this stream's own write machinery (a queue, its
   * callbacks and state, one more hop per frame): the socket's buffer is the one place they
   * wait, as when grpc-js wrote to the TLS socket itself, so a destroy() of this stream drops
   * nothing of its own, and the socket's 'drain' is this stream's. `ijrctl job output` of 256
   * MiB took 1.95 s through the machinery, 1.73 s so, 1.77 s with grpc-js's own TLS.
   */
  // deno-lint-ignore no-explicit-any
  override write(chunk: any, encoding?: any, done?: any): boolean {
    if (typeof encoding === "function") return this.tlsSocket.write(chunk, encoding);
    return this.tlsSocket.write(chunk, encoding, done);
  }

  /**
   * The cork of an answer (lib/rpc/transport/connection.ts) holds the TLS socket itself: what
   * it holds is the socket's to send, also when the session ends this stream within the turn.
   */
  override cork(): void {
    this.tlsSocket.cork();
  }

  override uncork(): void {
    this.tlsSocket.uncork();
  }

  /** Unused while write() goes straight to the socket; kept whole for Duplex's contract. */
  override _write(chunk: Uint8Array, _encoding: string, done: (error?: Error | null) => void) {
    this.tlsSocket.write(chunk, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    // The client may have ended the connection first (allowHalfOpen is off): nothing to end.
    if (this.tlsSocket.writableEnded) done();
    else this.tlsSocket.end(() => done());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (error || this.tlsSocket.closed) {
      this.tlsSocket.destroy();
      done(error);
      return;
    }
    // A session that ends (ijrd's shutdown, a closed connection) destroys its stream right
    // after its last frames, which are still in the TLS socket's buffer: the socket is ended,
    // not destroyed, and this stream is done (the session closed, and ijrd's shutdown may
    // exit) once the socket has closed; a peer that reads nothing more loses it after 1 s.
    const timer = setTimeout(() => this.tlsSocket.destroy(), 1000);
    this.tlsSocket.once("close", () => {
      clearTimeout(timer);
      done(error);
    });
    this.tlsSocket.end();
  }
}
