/**
 * ijr.v1.RootfsService: checks, authorization and translation between the API and the rootfs
 * store. Upload and delete need the admin role, checked before a single chunk is read, and
 * every field is checked before the store is asked anything. Listing is open to every user,
 * but job IDs are not: a user sees how many jobs use a rootfs and the IDs of their own only.
 * @module
 */

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  RootfsSchema,
  RootfsService,
  UploadRootfsRequest,
} from "../../gen/ijr/v1/rootfs_pb.ts";
import { IjrError, invalidArgument, quoteValue } from "../../errors/mod.ts";
import { validateRootfsName } from "../../rootfs/mod.ts";
import type { ServiceHandlers } from "../transport/mod.ts";
import { canAccessJob, type Identity, requireAdmin } from "./authz.ts";
import { callerOf } from "./caller.ts";
import { safeNumber } from "./request_fields.ts";

/** A stored root file system, in the store's terms. */
export interface RootfsSnapshot {
  readonly name: string;
  readonly sizeBytes: number;
  readonly entries: number;
  readonly createdAt: Date;
  /** IDs of every running job that uses it, whoever started them. */
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
  /** The store's upload limit, so an announced size past it is refused before any chunk. */
  readonly limits?: { readonly maxCompressedBytes: number };
}

/** What RootfsService needs from the job engine. */
export interface RootfsServiceOptions {
  /** The owner (certificate CN) of a running job; undefined when it is unknown. */
  readonly jobOwner: (jobId: string) => string | undefined;
}

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * The API's view of a rootfs for `caller`: the count of every job using it, and the IDs of
 * those the caller may see. A job whose owner is unknown (still starting) is counted, and
 * shown to admins only.
 */
export function rootfsToProto(
  rootfs: RootfsSnapshot,
  caller: Identity,
  jobOwner: (jobId: string) => string | undefined,
): MessageInitShape<typeof RootfsSchema> {
  const visible = caller.role === "admin" ? [...rootfs.runningJobs] : rootfs.runningJobs.filter(
    (id) => {
      const owner = jobOwner(id);
      return owner !== undefined && canAccessJob(caller, owner);
    },
  );
  return {
    name: rootfs.name,
    sizeBytes: BigInt(rootfs.sizeBytes),
    entries: BigInt(rootfs.entries),
    createdAt: timestampFromDate(rootfs.createdAt),
    runningJobs: visible,
    runningJobCount: rootfs.runningJobs.length,
  };
}

/** Chunks after the metadata message; any other message out of place is an error. */
async function* chunksOf(
  requests: AsyncIterator<UploadRootfsRequest>,
): AsyncGenerator<Uint8Array> {
  for (let index = 2;; index++) {
    const next = await requests.next();
    if (next.done) return;
    const part = next.value.part;
    if (part.case === "metadata") {
      throw invalidArgument(
        `request message ${index} of the upload carries metadata; only the first one may`,
      );
    }
    if (part.case !== "chunk") {
      throw invalidArgument(
        `request message ${index} of the upload has neither metadata nor chunk`,
      );
    }
    yield part.value;
  }
}

/** The upload's metadata in the store's terms, every field checked. */
function uploadMetadata(
  metadata: { name: string; size: bigint; sha256: string; replace: boolean },
  maxCompressedBytes: number | undefined,
): { name: string; size?: number; sha256?: string; replace: boolean } {
  validateRootfsName(metadata.name);
  const size = safeNumber("metadata.size", metadata.size);
  if (maxCompressedBytes !== undefined && size > maxCompressedBytes) {
    throw new IjrError(
      "RESOURCE_EXHAUSTED",
      `metadata.size is ${size} bytes; ijrd accepts tarballs of at most ${maxCompressedBytes}`,
    );
  }
  if (metadata.sha256 !== "" && !SHA256_PATTERN.test(metadata.sha256)) {
    throw invalidArgument(
      `metadata.sha256 must be empty or 64 lower-case hex digits, got ${
        quoteValue(metadata.sha256)
      }`,
    );
  }
  return {
    name: metadata.name,
    size: size || undefined,
    sha256: metadata.sha256 || undefined,
    replace: metadata.replace,
  };
}

/** The RootfsService handlers over a rootfs store. */
export function rootfsServiceHandlers(
  store: RootfsBackend,
  options: RootfsServiceOptions,
): ServiceHandlers<typeof RootfsService.method> {
  return {
    async uploadRootfs(requests, context) {
      const caller = callerOf(context);
      requireAdmin(caller, "rootfs upload");
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.part.case !== "metadata") {
        throw invalidArgument("an upload must start with a metadata message naming the rootfs");
      }
      const metadata = uploadMetadata(first.value.part.value, store.limits?.maxCompressedBytes);
      const result = await store.upload(chunksOf(iterator), metadata);
      return {
        rootfs: rootfsToProto(result.rootfs, caller, options.jobOwner),
        compressedBytes: BigInt(result.compressedBytes),
        skippedSpecialFiles: BigInt(result.skippedSpecialFiles),
      };
    },
    async listRootfs(_request, context) {
      const caller = callerOf(context); // any authenticated user may list
      const list = await store.list();
      return { rootfs: list.map((rootfs) => rootfsToProto(rootfs, caller, options.jobOwner)) };
    },
    async deleteRootfs(request, context) {
      requireAdmin(callerOf(context), "rootfs delete");
      validateRootfsName(request.name);
      // Refused while jobs use it, naming them: admins may see every job.
      await store.delete(request.name);
      return {};
    },
  };
}
