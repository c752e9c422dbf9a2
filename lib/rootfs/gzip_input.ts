/**
 * The compressed side of an upload: counts and checks the bytes a client sends (gzip magic,
 * size limit, declared size, SHA-256) and decompresses them with DecompressionStream as they
 * arrive.
 *
 * DecompressionStream returns everything one input chunk inflates to at once, and gzip
 * inflates up to ~1000:1, so input is fed in slices of 8 KiB: one slice never becomes more
 * than ~8 MiB, whatever the client's chunk size.
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { IjrError, invalidArgument } from "../errors/mod.ts";

/** Checks applied to the compressed bytes. */
export interface GzipInputOptions {
  /** Most compressed bytes accepted (RESOURCE_EXHAUSTED beyond). */
  maxCompressedBytes: number;
  /** The size the client announced; 0 or undefined when unknown. */
  expectedSize?: number;
  /** The SHA-256 the client announced (lower-case hex); empty or undefined when unknown. */
  expectedSha256?: string;
}

const SLICE_BYTES = 8 * 1024;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(" 0x");
}

/** Compressed upload bytes in, decompressed tar bytes out. */
export class GzipInput {
  readonly #source: AsyncIterable<Uint8Array>;
  readonly #options: GzipInputOptions;
  readonly #hash: Hash | undefined;
  readonly #magic = new Uint8Array(2);
  #received = 0;
  /** What the source itself threw (a client disconnect): passed through untouched. */
  #sourceFailed = false;
  #sourceError: unknown;

  constructor(source: AsyncIterable<Uint8Array>, options: GzipInputOptions) {
    this.#source = source;
    this.#options = options;
    this.#hash = options.expectedSha256 ? createHash("sha256") : undefined;
  }

  /** Compressed bytes received so far. */
  get receivedBytes(): number {
    return this.#received;
  }

  /**
   * The decompressed stream. Errors: the source's own error as thrown; IjrError for
   * everything about the bytes (not gzip, corrupt, empty, too big, size or hash mismatch).
   * Ending the iteration early cancels the source without waiting for it.
   */
  async *tar(): AsyncGenerator<Uint8Array> {
    // Chunks come from a client as plain ArrayBuffer-backed bytes.
    const compressed = this.#compressed() as AsyncGenerator<BufferSource>;
    const readable = ReadableStream.from(compressed).pipeThrough(new DecompressionStream("gzip"));
    const reader = readable.getReader();
    try {
      while (true) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          throw this.#translate(error);
        }
        if (result.done) return;
        yield result.value;
      }
    } finally {
      // Not awaited: a client that stopped sending must not hold up the error reply.
      reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }

  #translate(error: unknown): unknown {
    if (this.#sourceFailed && error === this.#sourceError) return error;
    if (error instanceof IjrError) return error;
    let reason = error instanceof Error ? error.message : String(error);
    // Deno's inflater stops at the end of the first gzip member and reports what follows
    // with this message; say what it means.
    if (reason === "failed to write whole buffer") {
      reason = "there is data after the end of the gzip stream (concatenated gzip members " +
        "are not supported: compress the tarball as one stream, e.g. tar -czf)";
    }
    return invalidArgument(`corrupt gzip data after ${this.#received} bytes: ${reason}`);
  }

  async *#compressed(): AsyncGenerator<Uint8Array> {
    const { maxCompressedBytes, expectedSize, expectedSha256 } = this.#options;
    const iterator = this.#source[Symbol.asyncIterator]();
    try {
      while (true) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await iterator.next();
        } catch (error) {
          this.#sourceFailed = true;
          this.#sourceError = error;
          throw error;
        }
        if (next.done) break;
        const chunk = next.value;
        if (chunk.length === 0) continue;
        this.#checkMagic(chunk);
        this.#received += chunk.length;
        if (this.#received > maxCompressedBytes) {
          throw new IjrError(
            "RESOURCE_EXHAUSTED",
            `the compressed tarball exceeds the limit of ${maxCompressedBytes} bytes`,
          );
        }
        if (expectedSize && this.#received > expectedSize) {
          throw invalidArgument(
            `size mismatch: more than the announced ${expectedSize} bytes were received`,
          );
        }
        this.#hash?.update(chunk);
        for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
          yield chunk.subarray(at, at + SLICE_BYTES);
        }
      }
    } finally {
      // Tell the source we stopped reading (an early end); its answer does not matter.
      if (!this.#sourceFailed) Promise.resolve(iterator.return?.()).catch(() => {});
    }
    this.#verifyEnd(expectedSize, expectedSha256);
  }

  #checkMagic(chunk: Uint8Array): void {
    if (this.#received >= 2) return;
    // The magic may arrive split over two chunks.
    let filled = this.#received;
    for (let i = 0; filled < 2 && i < chunk.length; i++) this.#magic[filled++] = chunk[i];
    if (filled < 2) return;
    if (this.#magic[0] !== 0x1f || this.#magic[1] !== 0x8b) {
      throw invalidArgument(
        `not a gzip file (it starts with 0x${hex(this.#magic)}, not 0x1f 0x8b): ` +
          "upload a gzip-compressed tarball (tar -czf)",
      );
    }
  }

  #verifyEnd(expectedSize: number | undefined, expectedSha256: string | undefined): void {
    if (this.#received === 0) throw invalidArgument("empty upload: no bytes were received");
    if (this.#received === 1) throw invalidArgument("not a gzip file: only 1 byte was received");
    if (expectedSize && this.#received !== expectedSize) {
      throw invalidArgument(
        `size mismatch: ${this.#received} bytes were received, ${expectedSize} were announced`,
      );
    }
    if (this.#hash && expectedSha256) {
      const actual = this.#hash.digest("hex");
      if (actual !== expectedSha256) {
        throw invalidArgument(
          `sha256 mismatch: the received bytes hash to ${actual}, ${expectedSha256} was announced`,
        );
      }
    }
  }
}
