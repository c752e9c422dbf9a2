/**
 * ijr.v1.RootfsService: authorization and translation between the API and the rootfs
 * store. Upload and delete need the admin role, checked before a single chunk is read.
 * @module
 */

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RootfsSchema, RootfsService, UploadRootfsRequest } from "../gen/ijr/v1/rootfs_pb.ts";
import { invalidArgument } from "../errors/mod.ts";
import type { ServiceHandlers } from "./adapter.ts";
import { requireAdmin } from "./authz.ts";
import { callerOf } from "./caller.ts";

/** A stored root file system, in the store's terms. */
export interface RootfsSnapshot {
  readonly name: string;
  readonly sizeBytes: number;
  readonly entries: number;
  readonly createdAt: Date;
  readonly runningJobs: readonly string[];
}

/** What RootfsService needs from the store. */
export interface RootfsBackend {
  upload(
    chunks: AsyncIterable<Uint8Array>,
    metadata: { name: string; size?: number; sha256?: string; replace?: boolean },
  ): Promise<{ rootfs: RootfsSnapshot; compressedBytes: number; skippedSpecialFiles: number }>;
  list(): RootfsSnapshot[] | Promise<RootfsSnapshot[]>;
  delete(name: string): Promise<void>;
}

/** The API's view of a rootfs. */
export function rootfsToProto(rootfs: RootfsSnapshot): MessageInitShape<typeof RootfsSchema> {
  return {
    name: rootfs.name,
    sizeBytes: BigInt(rootfs.sizeBytes),
    entries: BigInt(rootfs.entries),
    createdAt: timestampFromDate(rootfs.createdAt),
    runningJobs: [...rootfs.runningJobs],
  };
}

/** Chunks after the metadata message; any other message out of place is an error. */
async function* chunksOf(
  requests: AsyncIterator<UploadRootfsRequest>,
): AsyncGenerator<Uint8Array> {
  while (true) {
    const next = await requests.next();
    if (next.done) return;
    const part = next.value.part;
    if (part.case !== "chunk") {
      throw invalidArgument("an upload carries metadata only in its first message");
    }
    yield part.value;
  }
}

/** The RootfsService handlers over a rootfs store. */
export function rootfsServiceHandlers(
  store: RootfsBackend,
): ServiceHandlers<typeof RootfsService.method> {
  return {
    async uploadRootfs(requests, context) {
      requireAdmin(callerOf(context), "rootfs upload");
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.part.case !== "metadata") {
        throw invalidArgument("an upload must start with a metadata message naming the rootfs");
      }
      const metadata = first.value.part.value;
      const result = await store.upload(chunksOf(iterator), {
        name: metadata.name,
        size: metadata.size ? Number(metadata.size) : undefined,
        sha256: metadata.sha256 || undefined,
        replace: metadata.replace,
      });
      return {
        rootfs: rootfsToProto(result.rootfs),
        compressedBytes: BigInt(result.compressedBytes),
        skippedSpecialFiles: BigInt(result.skippedSpecialFiles),
      };
    },
    async listRootfs(_request, context) {
      callerOf(context); // any authenticated user may list
      return { rootfs: (await store.list()).map(rootfsToProto) };
    },
    async deleteRootfs(request, context) {
      requireAdmin(callerOf(context), "rootfs delete");
      await store.delete(request.name);
      return {};
    },
  };
}
