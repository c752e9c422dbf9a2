/**
 * `ijrctl rootfs upload|list|delete`.
 * @module
 */

import { RootfsSchema } from "../gen/ijr/v1/rootfs_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { UploadRootfsRequestSchema } from "../gen/ijr/v1/rootfs_pb.ts";
import type { ConfigOverrides } from "../config/mod.ts";
import { formatByteSize } from "../units/size.ts";
import { withConnection } from "./connect.ts";
import { printJson, rootfsTable } from "./format.ts";
import { writeStdout } from "./stdout.ts";
import type { Action } from "./program.ts";

/** Upload chunk size: large enough to amortize per-message costs, small enough to stream. */
const CHUNK_BYTES = 256 * 1024;

type UploadMessage = MessageInitShape<typeof UploadRootfsRequestSchema>;

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

/** `ijrctl rootfs upload --file F --name N [--replace]` */
export const rootfsUpload: Action = (options) =>
  withConnection("rootfs upload", options as ConfigOverrides, async ({ rootfs }) => {
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
      console.log(
        `uploaded rootfs ${created.name}: ${created.entries} entries, ` +
          `${formatByteSize(Number(created.sizeBytes))}${skipped}`,
      );
      return 0;
    } finally {
      file.close();
    }
  });

/** `ijrctl rootfs list [--json]` */
export const rootfsList: Action = (options) =>
  withConnection("rootfs list", options as ConfigOverrides, async ({ rootfs }) => {
    const { rootfs: list } = await rootfs.listRootfs({}, { timeoutMs: 30_000 });
    if (options.json) printJson(RootfsSchema, list);
    else writeStdout(rootfsTable(list));
    return 0;
  });

/** `ijrctl rootfs delete --name N` */
export const rootfsDelete: Action = (options) =>
  withConnection("rootfs delete", options as ConfigOverrides, async ({ rootfs }) => {
    await rootfs.deleteRootfs({ name: String(options.name) }, { timeoutMs: 120_000 });
    console.log(`deleted rootfs ${options.name}`);
    return 0;
  });
