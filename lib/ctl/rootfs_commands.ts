/**
 * `ijrctl rootfs upload|list|delete`.
 * @module
 */

import { type Rootfs, RootfsSchema } from "../gen/ijr/v1/rootfs_pb.ts";
import { type MessageInitShape, toJson } from "@bufbuild/protobuf";
import type { UploadRootfsRequestSchema } from "../gen/ijr/v1/rootfs_pb.ts";
import type { ConfigOverrides } from "../config/mod.ts";
import { formatByteSize } from "../units/mod.ts";
import { type Connection, withConnection } from "./connect.ts";
import { type ContextOutcome, forEveryContext, printEveryContext } from "./fan_out.ts";
import { printJson, rootfsTable } from "./format.ts";
import { writeStdout } from "./stdout.ts";
import type { Action } from "./program.ts";

/** Upload chunk size: large enough to amortize per-message costs, small enough to stream. */
const CHUNK_BYTES = 256 * 1024;

type UploadMessage = MessageInitShape<typeof UploadRootfsRequestSchema>;

/** A Rootfs in the API's JSON mapping, as `rootfs list --json` prints it. */
const rootfsJson = (rootfs: Rootfs) => toJson(RootfsSchema, rootfs, { alwaysEmitImplicit: true });

async function* uploadMessages(
  file: Deno.FsFile,
  metadata: { name: string; size: bigint; replace: boolean },
): AsyncGenerator<UploadMessage> {
  yield { part: { case: "metadata", value: metadata } };
  // A fresh buffer per chunk: the message may still be queued when the next read starts.
  while (true) {
    const buffer = new Uint8Array(CHUNK_BYTES);
    const read = await file.read(buffer);
    if (read === null) return;
    yield { part: { case: "chunk", value: buffer.subarray(0, read) } };
  }
}

/**
 * Uploads --file as --name through one connection and returns the line that says what ijrd
 * made of it.
 */
async function uploadTo(
  rootfs: Connection["rootfs"],
  options: Record<string, unknown>,
): Promise<string> {
  const path = String(options.file);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    throw new Error(`cannot read --file ${path}: ${(error as Error).message}`);
  }
  try {
    const size = (await file.stat()).size;
    const response = await rootfs.uploadRootfs(
      uploadMessages(file, {
        name: String(options.name),
        size: BigInt(size),
        replace: Boolean(options.replace),
      }),
    );
    const created = response.rootfs!;
    const skipped = response.skippedSpecialFiles
      ? `, skipped ${response.skippedSpecialFiles} device/FIFO entries`
      : "";
    return `uploaded rootfs ${created.name}: ${created.entries} entries, ` +
      `${formatByteSize(Number(created.sizeBytes))}${skipped}`;
  } finally {
    file.close();
  }
}

/**
 * --all-contexts runs against every worker of the config file: --context and --server, which
 * pick one, make no sense with it. Returns the usage error, if any.
 */
function allContextsConflict(options: Record<string, unknown>): string | undefined {
  if (!options.allContexts) return undefined;
  if (options.context !== undefined) return "--all-contexts and --context exclude each other";
  if (options.server !== undefined) {
    return "--all-contexts takes each worker's server from its context, not from --server";
  }
  return undefined;
}

/** `ijrctl rootfs upload --file F --name N [--replace] [--all-contexts]` */
export const rootfsUpload: Action = async (options) => {
  const conflict = allContextsConflict(options);
  if (conflict) {
    console.error(`ijrctl rootfs upload: ${conflict}`);
    return 2;
  }
  if (!options.allContexts) {
    return await withConnection("rootfs upload", options as ConfigOverrides, async ({ rootfs }) => {
      console.log(await uploadTo(rootfs, options));
      return 0;
    });
  }
  try {
    // One unreadable file is one failure, not one per worker.
    await Deno.stat(String(options.file));
    return await printEveryContext(
      "rootfs upload",
      forEveryContext(options as ConfigOverrides, ({ rootfs }) => uploadTo(rootfs, options)),
    );
  } catch (error) {
    const message = error instanceof Deno.errors.NotFound
      ? `cannot read --file ${options.file}: ${error.message}`
      : (error as Error).message;
    console.error(`ijrctl rootfs upload: ${message}`);
    return 1;
  }
};

/** One worker's root file systems on one line: their names, or that there are none. */
function rootfsNames(list: readonly Rootfs[]): string {
  return list.length === 0 ? "no root file systems" : list.map((r) => r.name).join(", ");
}

/** `ijrctl rootfs list [--json] [--all-contexts]` */
export const rootfsList: Action = async (options) => {
  const conflict = allContextsConflict(options);
  if (conflict) {
    console.error(`ijrctl rootfs list: ${conflict}`);
    return 2;
  }
  const listOf = async (rootfs: Connection["rootfs"]) =>
    (await rootfs.listRootfs({}, { timeoutMs: 30_000 })).rootfs;
  if (!options.allContexts) {
    return await withConnection("rootfs list", options as ConfigOverrides, async ({ rootfs }) => {
      const list = await listOf(rootfs);
      if (options.json) printJson(RootfsSchema, list);
      else writeStdout(rootfsTable(list));
      return 0;
    });
  }
  try {
    const outcomes = forEveryContext(options as ConfigOverrides, ({ rootfs }) => listOf(rootfs));
    if (!options.json) {
      return await printEveryContext("rootfs list", mapOutcomes(outcomes, rootfsNames));
    }
    // JSON for scripts: every worker's list or error, in the file's order.
    const workers: unknown[] = [];
    let failed = false;
    for await (const outcome of outcomes) {
      if (outcome.ok) {
        workers.push({ context: outcome.context, rootfs: outcome.value.map(rootfsJson) });
      } else {
        failed = true;
        workers.push({ context: outcome.context, error: outcome.error });
        console.error(`ijrctl rootfs list: ${outcome.context}: ${outcome.error}`);
      }
    }
    console.log(JSON.stringify(workers, null, 2));
    return failed ? 1 : 0;
  } catch (error) {
    console.error(`ijrctl rootfs list: ${(error as Error).message}`);
    return 1;
  }
};

/** The outcomes with each success's value turned into its line. */
async function* mapOutcomes<T>(
  outcomes: AsyncIterable<ContextOutcome<T>>,
  line: (value: T) => string,
): AsyncGenerator<ContextOutcome<string>> {
  for await (const outcome of outcomes) {
    yield outcome.ok ? { ...outcome, value: line(outcome.value) } : outcome;
  }
}

/** `ijrctl rootfs delete --name N` */
export const rootfsDelete: Action = (options) =>
  withConnection("rootfs delete", options as ConfigOverrides, async ({ rootfs }) => {
    await rootfs.deleteRootfs({ name: String(options.name) }, { timeoutMs: 120_000 });
    console.log(`deleted rootfs ${options.name}`);
    return 0;
  });
