/**
 * The tar fuzzer's worker: runs one mutant through the tar parser directly (checking its
 * structural invariants) and then through the real upload path (RootfsStore.upload), and
 * reports what happened. It runs in a Web Worker so that the test's thread stays free: a
 * parser stuck in a synchronous loop never lets a timer of its own thread fire, but the
 * test can still see the deadline pass and terminate the worker.
 * @module
 */

import { IjrError } from "../../lib/errors/mod.ts";
import type { RootfsLimits } from "../../lib/rootfs/limits.ts";
import { normalizeMemberPath } from "../../lib/rootfs/extractor.ts";
import { RootfsStore } from "../../lib/rootfs/store.ts";
import { TarParser } from "../../lib/rootfs/tar_parser.ts";
import { chunksOf } from "./tar_writer.ts";

/** One mutant to run. */
export interface FuzzJob {
  /** The store folder to open (created, empty). */
  storeDir: string;
  /** The rootfs name to upload as. */
  name: string;
  /** The upload: gzip bytes, sent in 64 KiB chunks as a client would. */
  gz: Uint8Array;
  /** The uncompressed archive inside gz, when known (not after a gzip mutation). */
  tar: Uint8Array | null;
  /** The store's limits. */
  limits: RootfsLimits;
}

/** An error as it crossed the worker boundary. */
export interface ErrorReport {
  /** The constructor's name: "IjrError", "TypeError"... */
  kind: string;
  /** IjrError's status code. */
  code?: string;
  message: string;
  stack?: string;
}

/** What the parser alone made of the archive. */
export interface ParseReport {
  /** Members delivered to the sink. */
  members: number;
  /** Of them, devices and FIFOs. */
  special: number;
  /** Data bytes of regular files. */
  fileBytes: number;
  /** Why the parser refused the archive, if it did. */
  error?: ErrorReport;
  /** A broken structural invariant: the parser went back, re-read a header, delivered
   * more or less data than a member declared, or more members than the archive has blocks. */
  invariant?: string;
  /** The path of a symlink with an absolute or ".." target that a later member names again.
   * GNU tar creates such symlinks last, from placeholder files, and then keeps the first of
   * two (tar 1.34); IJR, like GNU tar for every other member, keeps the last. */
  repeatedDelayedSymlink?: string;
  /** Directories listed twice under different spellings ("./d/" and "d/"), as
   * normalizeMemberPath spells them ("" for the root). GNU tar 1.34 keeps the metadata of a
   * directory holding a symlink it delays until the end, by spelling, and then applies the
   * first listing's over the second's; IJR applies the last, as GNU tar does otherwise. */
  respelledDirectories: string[];
}

/** The outcome of one upload. */
export type UploadReport =
  | { ok: true; entries: number; sizeBytes: number; skipped: number }
  | { ok: false; error: ErrorReport };

/** Sent while a job runs, so a hang can be placed: "parser checked", "uploaded". */
export interface FuzzProgress {
  phase: string;
}

/** Everything the worker observed for one job. */
export interface FuzzReport {
  parse?: ParseReport;
  upload: UploadReport;
  /** Rejections nobody handled and uncaught errors while the job ran. */
  unhandled: string[];
}

function describe(error: unknown): ErrorReport {
  if (error instanceof IjrError) {
    return { kind: "IjrError", code: error.code, message: error.message, stack: error.stack };
  }
  if (error instanceof Error) {
    return { kind: error.constructor.name, message: error.message, stack: error.stack };
  }
  return { kind: typeof error, message: String(error) };
}

/** Thrown by the checking sink: the parser broke one of its promises. */
class InvariantError extends Error {}

/** Runs the parser over the archive in 64 KiB chunks with a sink that checks its promises. */
function checkParser(tar: Uint8Array, limits: RootfsLimits): ParseReport {
  const report: ParseReport = { members: 0, special: 0, fileBytes: 0, respelledDirectories: [] };
  let lastOffset = -1;
  let expected = 0;
  let delivered = 0;
  let inFile = false;
  const decoder = new TextDecoder();
  const delayedSymlinks = new Set<string>();
  const directorySpellings = new Map<string, string>();
  const parser = new TarParser({
    entry(entry) {
      // Every member has a header block of its own, after the previous member's.
      if (entry.offset <= lastOffset || entry.offset % 512 !== 0) {
        throw new InvariantError(
          `member at byte ${entry.offset} delivered after the member at byte ${lastOffset}`,
        );
      }
      if (entry.offset + 512 > tar.length) {
        throw new InvariantError(`member at byte ${entry.offset} is past the archive's end`);
      }
      if (inFile) throw new InvariantError(`member at byte ${entry.offset} inside a file`);
      lastOffset = entry.offset;
      report.members++;
      const path = decoder.decode(normalizeMemberPath(entry.path));
      if (delayedSymlinks.has(path)) report.repeatedDelayedSymlink ??= path;
      if (entry.type === "directory") {
        const spelling = directorySpellings.get(path);
        const raw = decoder.decode(entry.path);
        if (spelling === undefined) directorySpellings.set(path, raw);
        else if (spelling !== raw && !report.respelledDirectories.includes(path)) {
          report.respelledDirectories.push(path);
        }
      }
      const target = decoder.decode(entry.linkPath);
      if (
        entry.type === "symlink" && (target.startsWith("/") || target.split("/").includes(".."))
      ) delayedSymlinks.add(path);
      if (["character-device", "block-device", "fifo"].includes(entry.type)) report.special++;
      if (entry.type === "file") {
        inFile = true;
        expected = entry.size;
        delivered = 0;
        report.fileBytes += entry.size;
      }
    },
    data(bytes) {
      if (!inFile) throw new InvariantError("data outside a file");
      delivered += bytes.length;
    },
    entryEnd() {
      if (inFile && delivered !== expected) {
        throw new InvariantError(
          `the file at byte ${lastOffset} got ${delivered} of its ${expected} bytes`,
        );
      }
      inFile = false;
    },
  }, { maxPathBytes: limits.maxPathBytes, maxContentBytes: limits.maxExtractedBytes });
  try {
    for (let at = 0; at < tar.length; at += 65536) {
      const chunk = tar.subarray(at, at + 65536);
      parser.push(chunk);
      // The position counts consumed bytes, less a header still being filled.
      const consumed = at + chunk.length;
      if (parser.position > consumed || parser.position < consumed - 511) {
        throw new InvariantError(`position ${parser.position} after ${consumed} bytes`);
      }
    }
    parser.finish();
    if (report.members > tar.length / 512) {
      throw new InvariantError(`${report.members} members in ${tar.length} bytes`);
    }
  } catch (error) {
    if (error instanceof InvariantError) report.invariant = error.message;
    else report.error = describe(error);
  }
  return report;
}

async function runJob(
  job: FuzzJob,
  unhandled: string[],
  progress: (phase: string) => void,
): Promise<FuzzReport> {
  progress("checking the parser");
  const parse = job.tar ? checkParser(job.tar, job.limits) : undefined;
  progress("uploading");
  let upload: UploadReport;
  try {
    const store = await RootfsStore.open({ dir: job.storeDir, limits: job.limits, durable: false });
    const result = await store.upload(chunksOf(job.gz, 64 * 1024), { name: job.name });
    upload = {
      ok: true,
      entries: result.rootfs.entries,
      sizeBytes: result.rootfs.sizeBytes,
      skipped: result.skippedSpecialFiles,
    };
  } catch (error) {
    upload = { ok: false, error: describe(error) };
  }
  progress("uploaded");
  // Let rejections the upload left behind surface before reporting.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { parse, upload, unhandled: unhandled.splice(0) };
}

/** The worker side of postMessage, without the DOM's window types. */
interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<FuzzJob>) => void) | null;
  addEventListener(
    type: "unhandledrejection" | "error",
    listener: (event: PromiseRejectionEvent & ErrorEvent) => void,
  ): void;
}

// Only when loaded as a worker; importing the types from the test loads nothing else.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  const unhandled: string[] = [];
  scope.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    unhandled.push(`unhandled rejection: ${describe(event.reason).message}`);
  });
  scope.addEventListener("error", (event) => {
    event.preventDefault();
    unhandled.push(`uncaught error: ${event.message}`);
  });
  scope.onmessage = async (event) => {
    const progress = (phase: string) => scope.postMessage({ phase } satisfies FuzzProgress);
    scope.postMessage(await runJob(event.data, unhandled, progress));
  };
}
