/**
 * Extraction: the parsed tar stream goes into a ConfinedWriter as it arrives. This file
 * decides what each member becomes (files, directories, symlinks, hard links; devices and
 * FIFOs skipped and counted), normalises member paths, and enforces the entry limit; the
 * kernel, through libijr, confines where anything is written.
 * @module
 */

import { IjrError, invalidArgument } from "../errors/mod.ts";
import { ConfinedFsError, ConfinedWriter, type EntryMeta } from "../native/mod.ts";
import type { RootfsLimits } from "./limits.ts";
import { describePath, type TarEntry, TarParser, type TarSink } from "./tar_parser.ts";

/** What an extraction produced. */
export interface ExtractResult {
  /** Members created: files, directories, symlinks and hard links. */
  entries: number;
  /** Bytes of regular file data written (hard links not counted twice). */
  sizeBytes: number;
  /** Device nodes and FIFOs that were not created. */
  skippedSpecialFiles: number;
}

/** Queued bytes that make the extractor hand a batch to the kernel. */
const BATCH_BYTES = 1 << 20;

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * A member path as the kernel should see it: relative, components joined by one '/', no
 * "." or empty components, no trailing '/'. ".." components are kept: the kernel resolves
 * them within the root (RESOLVE_IN_ROOT), which is exactly the confinement wanted, and a
 * string rule here would only duplicate it. Returns the empty path for the root itself.
 */
export function normalizeMemberPath(path: Uint8Array): Uint8Array {
  const out = new Uint8Array(path.length);
  let length = 0;
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== SLASH) continue;
    const size = i - start;
    const isDot = size === 1 && path[start] === DOT;
    if (size > 0 && !isDot) {
      if (length > 0) out[length++] = SLASH;
      out.set(path.subarray(start, i), length);
      length += size;
    }
    start = i + 1;
  }
  return out.subarray(0, length);
}

function endsWithDotDot(path: Uint8Array): boolean {
  const n = path.length;
  return n >= 2 && path[n - 1] === DOT && path[n - 2] === DOT && (n === 2 || path[n - 3] === SLASH);
}

/** errno values that are the worker's trouble, not the archive's. */
const ERRNO_NO_SPACE = new Set([28, /* ENOSPC */ 122 /* EDQUOT */]);
const ERRNO_INTERNAL = new Set([
  5, /* EIO */
  9, /* EBADF */
  12, /* ENOMEM */
  23, /* ENFILE */
  24, /* EMFILE */
  30, /* EROFS */
]);

/** Maps a native failure to the status a client should see. */
function toIjrError(error: ConfinedFsError): IjrError {
  if (ERRNO_NO_SPACE.has(error.errno)) {
    return new IjrError("RESOURCE_EXHAUSTED", `no space left for the rootfs: ${error.message}`);
  }
  if (ERRNO_INTERNAL.has(error.errno)) {
    return new IjrError("INTERNAL", `extraction failed: ${error.message}`);
  }
  return invalidArgument(`the archive cannot be extracted: ${error.message}`);
}

/** Turns parser events into writer records. */
class ExtractSink implements TarSink {
  entries = 0;
  sizeBytes = 0;
  skipped = 0;
  /** Directory mtimes, applied after everything else. */
  readonly dirTimes: { path: Uint8Array; sec: number; nsec: number }[] = [];
  #inFile = false;

  constructor(readonly writer: ConfinedWriter, readonly limits: RootfsLimits) {}

  entry(entry: TarEntry): void {
    if (this.entries + this.skipped >= this.limits.maxEntries) {
      throw new IjrError(
        "RESOURCE_EXHAUSTED",
        `the archive has more than ${this.limits.maxEntries} members (the entry limit)`,
      );
    }
    if (
      entry.type === "character-device" || entry.type === "block-device" || entry.type === "fifo"
    ) {
      // Jobs get a minimal /dev of their own; device nodes from an upload are never created.
      this.skipped++;
      return;
    }
    const path = this.#memberPath(entry, entry.path, "path");
    const meta: EntryMeta = {
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtimeSec: entry.mtimeSec,
      mtimeNsec: entry.mtimeNsec,
    };
    if (path.length === 0 && entry.type !== "directory") {
      throw invalidArgument(
        `tar member at byte ${entry.offset} (${entry.type}) names the root directory itself`,
      );
    }
    switch (entry.type) {
      case "directory":
        this.writer.mkdir(path, meta);
        this.dirTimes.push({ path, sec: entry.mtimeSec, nsec: entry.mtimeNsec });
        break;
      case "file":
        this.writer.createFile(path, meta);
        this.sizeBytes += entry.size;
        this.#inFile = true;
        break;
      case "symlink":
        this.#checkNoNul(entry, entry.linkPath, "symlink target");
        this.writer.symlink(path, entry.linkPath, meta);
        break;
      case "hardlink": {
        const target = this.#memberPath(entry, entry.linkPath, "hard link target");
        if (target.length === 0) {
          throw invalidArgument(
            `tar member ${describePath(entry.path)} is a hard link to the root directory`,
          );
        }
        this.writer.hardlink(path, target);
        break;
      }
    }
    this.entries++;
  }

  data(bytes: Uint8Array): void {
    this.writer.write(bytes);
  }

  entryEnd(): void {
    if (this.#inFile) {
      this.writer.endFile();
      this.#inFile = false;
    }
  }

  #memberPath(entry: TarEntry, raw: Uint8Array, what: string): Uint8Array {
    this.#checkNoNul(entry, raw, what);
    const path = normalizeMemberPath(raw);
    if (endsWithDotDot(path)) {
      throw invalidArgument(
        `tar member at byte ${entry.offset} has ${what} ${describePath(raw)} ending in ".."`,
      );
    }
    return path;
  }

  #checkNoNul(entry: TarEntry, raw: Uint8Array, what: string): void {
    if (raw.length === 0 && what !== "path") {
      throw invalidArgument(`tar member ${describePath(entry.path)} has an empty ${what}`);
    }
    if (raw.includes(0)) {
      throw invalidArgument(
        `tar member at byte ${entry.offset} has a ${what} containing a NUL byte`,
      );
    }
  }
}

/**
 * Extracts an uncompressed tar stream into rootPath (an existing, empty directory), as the
 * chunks arrive. Every path is created through libijr, confined to rootPath by the kernel.
 * Back-pressure: the next chunk is read only when the writer has room. On failure the
 * directory is left half-written for the caller to remove; the error is an IjrError
 * (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, INTERNAL) or whatever `tar` itself threw.
 */
export async function extractTar(
  tar: AsyncIterable<Uint8Array>,
  options: { rootPath: string; limits: RootfsLimits },
): Promise<ExtractResult> {
  const { rootPath, limits } = options;
  const writer = ConfinedWriter.open(rootPath, { batchCapacity: 2 * BATCH_BYTES });
  const sink = new ExtractSink(writer, limits);
  const parser = new TarParser(sink, {
    maxPathBytes: limits.maxPathBytes,
    maxContentBytes: limits.maxExtractedBytes,
  });
  try {
    for await (const chunk of tar) {
      parser.push(chunk);
      if (writer.bufferedBytes >= BATCH_BYTES) await writer.flush();
    }
    parser.finish();
    if (sink.entries === 0) {
      throw invalidArgument(
        sink.skipped > 0
          ? `the archive holds only device nodes or FIFOs (${sink.skipped}), no files`
          : "the archive has no members",
      );
    }
    // Directory mtimes last: creating their children changed them.
    for (const { path, sec, nsec } of sink.dirTimes) {
      writer.setDirTime(path, sec, nsec);
      if (writer.bufferedBytes >= BATCH_BYTES) await writer.flush();
    }
    await writer.close();
  } catch (error) {
    await writer.abort().catch(() => {});
    if (error instanceof ConfinedFsError) throw toIjrError(error);
    throw error;
  }
  return { entries: sink.entries, sizeBytes: sink.sizeBytes, skippedSpecialFiles: sink.skipped };
}
