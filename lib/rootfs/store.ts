/**
 * The root file system store: the daemon's `--rootfs` folder. Layout:
 *
 *   <dir>/<name>/rootfs/     the extracted tree, exactly the tarball's members: the lower
 *                            directory of job overlays
 *   <dir>/<name>/info.json   created time, size, entry count (outside the tree jobs see)
 *   <dir>/.tmp-<random>/     an upload in progress (same layout), or a replaced tree
 *   <dir>/.del-<random>/     a deleted rootfs being removed
 *
 * An upload extracts into a .tmp- folder and publishes it with one rename, so `list` never
 * shows half a rootfs and a crash leaves only .tmp-/.del- folders, which `open` removes.
 * Replacing swaps the new folder with the old in one renameat2(RENAME_EXCHANGE).
 *
 * Every state change that must not race (reserving a name, publishing, leasing, deleting)
 * happens synchronously on the JavaScript thread, so there is no window in which a job
 * could lease a rootfs that is being deleted or replaced.
 *
 * The folder is made mode 0700: uploaded trees hold setuid files owned by root, which must
 * not be reachable by users of the worker (jobs see them through a nosuid overlay).
 * @module
 */

import { join } from "node:path";
import {
  diskError,
  failedPrecondition,
  IjrError,
  invalidArgument,
  isNoSpace,
  notFound,
} from "../errors/mod.ts";
import {
  ConfinedFsError,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  renamePath,
  syncFileSystem,
} from "../native/mod.ts";
import { extractTar } from "./extractor.ts";
import { GzipInput } from "./gzip_input.ts";
import { resolveRootfsLimits, type RootfsLimits } from "./limits.ts";
import { isValidRootfsName, validateRootfsName } from "./names.ts";
import type { RootfsLease, RootfsProvider } from "./types.ts";

/** A stored root file system, as `list` reports it. */
export interface RootfsInfo {
  /** The rootfs name. */
  name: string;
  /** Bytes of regular file data in the tree. */
  sizeBytes: number;
  /** Members extracted: files, directories, symlinks, hard links. */
  entries: number;
  /** When the upload completed. */
  createdAt: Date;
  /** IDs of the jobs holding a lease on it, sorted. */
  runningJobs: string[];
}

/** What the client announced with an upload. */
export interface UploadOptions {
  /** The rootfs name ([a-z0-9][a-z0-9._-]{0,62}). */
  name: string;
  /** Size of the compressed tarball, when known (0 = unknown); a different size fails. */
  size?: number;
  /** SHA-256 of the compressed tarball, lower-case hex, when known. */
  sha256?: string;
  /** Replace an existing rootfs of that name (refused while jobs use it). */
  replace?: boolean;
}

/** A completed upload. */
export interface UploadResult {
  /** The new rootfs. */
  rootfs: RootfsInfo;
  /** Compressed bytes received. */
  compressedBytes: number;
  /** Device nodes and FIFOs in the tarball that were not created. */
  skippedSpecialFiles: number;
}

/** How to open a store. */
export interface RootfsStoreOptions {
  /** The store folder (created if missing). */
  dir: string;
  /** Upload limits; defaults in DEFAULT_ROOTFS_LIMITS. */
  limits?: Partial<RootfsLimits>;
  /** syncfs() a new tree before publishing it and fsync() the store folder after, so an
   * upload reported complete survives a power cut. Default true. */
  durable?: boolean;
}

/** The info.json of a stored rootfs. */
interface StoredInfo {
  version: 1;
  name: string;
  sizeBytes: number;
  entries: number;
  createdAt: string;
  compressedBytes: number;
  skippedSpecialFiles: number;
}

/** Everything the store knows about one name. */
interface Slot {
  /** Present while a published tree exists under the name. */
  stored?: StoredInfo;
  /** An upload to this name is running. */
  uploading: boolean;
  /** Lease token -> job ID. */
  leases: Map<number, string>;
}

const TREE = "rootfs";
const INFO = "info.json";
const TMP_PREFIX = ".tmp-";
const DEL_PREFIX = ".del-";
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function parseInfo(text: string, name: string): StoredInfo | undefined {
  try {
    const info = JSON.parse(text);
    const counts = [info.sizeBytes, info.entries, info.compressedBytes, info.skippedSpecialFiles];
    if (
      info.version !== 1 || info.name !== name || !counts.every(Number.isSafeInteger) ||
      typeof info.createdAt !== "string" || Number.isNaN(Date.parse(info.createdAt))
    ) return undefined;
    return info as StoredInfo;
  } catch {
    return undefined;
  }
}

/** fsync() a directory, so a rename in it survives a crash. */
async function syncDirectory(path: string): Promise<void> {
  using dir = await Deno.open(path, { read: true });
  await dir.sync();
}

async function removeTree(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** The store; see the module documentation. Open it with `RootfsStore.open`. */
export class RootfsStore implements RootfsProvider {
  /** The store folder. */
  readonly dir: string;
  /** The limits every upload is held to. */
  readonly limits: Readonly<RootfsLimits>;
  readonly #durable: boolean;
  readonly #slots = new Map<string, Slot>();
  /** Folders with a valid name that ijrd did not create (no valid info.json): left alone. */
  readonly #foreign = new Set<string>();
  #nextLease = 0;

  private constructor(dir: string, limits: RootfsLimits, durable: boolean) {
    this.dir = dir;
    this.limits = Object.freeze(limits);
    this.#durable = durable;
  }

  /**
   * Opens (creating if needed) the store folder, removes the temporary folders a crash left
   * behind, and loads the stored root file systems. One process per folder.
   */
  static async open(options: RootfsStoreOptions): Promise<RootfsStore> {
    const store = new RootfsStore(
      options.dir,
      resolveRootfsLimits(options.limits),
      options.durable ?? true,
    );
    await Deno.mkdir(store.dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(store.dir, 0o700);
    for await (const entry of Deno.readDir(store.dir)) {
      const path = join(store.dir, entry.name);
      if (entry.name.startsWith(TMP_PREFIX) || entry.name.startsWith(DEL_PREFIX)) {
        await removeTree(path);
        continue;
      }
      if (!entry.isDirectory || !isValidRootfsName(entry.name)) continue;
      const info = await Deno.readTextFile(join(path, INFO)).then(
        (text) => parseInfo(text, entry.name),
        () => undefined,
      );
      const tree = await Deno.lstat(join(path, TREE)).then((stat) => stat.isDirectory, () => false);
      if (info && tree) {
        store.#slots.set(entry.name, { stored: info, uploading: false, leases: new Map() });
      } else {
        store.#foreign.add(entry.name);
      }
    }
    return store;
  }

  /** Path of a rootfs's extracted tree (whether or not it exists). */
  treePath(name: string): string {
    return join(this.dir, name, TREE);
  }

  /**
   * Uploads a gzipped tarball from a stream of chunks, extracting as they arrive. The name
   * is reserved at the call (a second upload of the same name gets ABORTED); the rootfs
   * appears only when complete. On any failure, including `chunks` throwing (the client
   * went away), nothing is left behind and the error is rethrown: IjrError for everything
   * about the request and the archive, the source's own error otherwise.
   */
  async upload(chunks: AsyncIterable<Uint8Array>, options: UploadOptions): Promise<UploadResult> {
    const { name, replace = false } = options;
    const size = options.size ?? 0;
    const sha256 = options.sha256 ?? "";
    // Everything up to the reservation runs synchronously, at the call.
    validateRootfsName(name);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw invalidArgument(`invalid size ${size}: a byte count is expected`);
    }
    if (sha256 !== "" && !SHA256_PATTERN.test(sha256)) {
      throw invalidArgument("invalid sha256: 64 lower-case hex digits are expected");
    }
    if (size > this.limits.maxCompressedBytes) {
      throw new IjrError(
        "RESOURCE_EXHAUSTED",
        `the tarball is ${size} bytes; the limit is ${this.limits.maxCompressedBytes}`,
      );
    }
    const slot = this.#reserve(name, replace);
    const temp = join(this.dir, `${TMP_PREFIX}${randomSuffix()}`);
    try {
      await Deno.mkdir(temp, { mode: 0o700 });
      await Deno.mkdir(join(temp, TREE), { mode: 0o755 });
      const input = new GzipInput(chunks, {
        maxCompressedBytes: this.limits.maxCompressedBytes,
        expectedSize: size,
        expectedSha256: sha256,
      });
      const result = await extractTar(input.tar(), {
        rootPath: join(temp, TREE),
        limits: this.limits,
      });
      const stored: StoredInfo = {
        version: 1,
        name,
        sizeBytes: result.sizeBytes,
        entries: result.entries,
        createdAt: new Date().toISOString(),
        compressedBytes: input.receivedBytes,
        skippedSpecialFiles: result.skippedSpecialFiles,
      };
      await Deno.writeTextFile(join(temp, INFO), `${JSON.stringify(stored, null, 2)}\n`);
      if (this.#durable) await syncFileSystem(temp);
      this.#publish(name, slot, temp, stored);
      // Published: from here on the upload has succeeded, so a failing fsync (an I/O error
      // the next writes will meet anyway) must not report it as failed.
      if (this.#durable) await syncDirectory(this.dir).catch(() => {});
      return {
        rootfs: this.#describe(name, slot),
        compressedBytes: stored.compressedBytes,
        skippedSpecialFiles: stored.skippedSpecialFiles,
      };
    } catch (error) {
      slot.uploading = false;
      if (!slot.stored) this.#slots.delete(name);
      // A full disk is the worker's trouble, and says which disk; the rest as it came.
      if (isNoSpace(error)) {
        throw diskError(error, "rootfs", this.dir, `cannot store rootfs "${name}"`);
      }
      throw error;
    } finally {
      // The new tree on failure, the replaced one after RENAME_EXCHANGE, nothing after a
      // first publish. A removal that fails is retried by the next `open`.
      await removeTree(temp).catch(() => {});
    }
  }

  /** The stored root file systems, by name. */
  list(): RootfsInfo[] {
    return [...this.#slots.entries()]
      .filter(([, slot]) => slot.stored)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, slot]) => this.#describe(name, slot));
  }

  /** One stored rootfs; NOT_FOUND when there is none of that name. */
  get(name: string): RootfsInfo {
    validateRootfsName(name);
    const slot = this.#slots.get(name);
    if (!slot?.stored) throw notFound(`no rootfs named "${name}"`);
    return this.#describe(name, slot);
  }

  /**
   * Deletes a rootfs: FAILED_PRECONDITION naming the jobs while any holds a lease,
   * NOT_FOUND when there is none. The name is free (and no job can lease it) from the call
   * on; the tree is then removed from disk.
   */
  async delete(name: string): Promise<void> {
    validateRootfsName(name);
    const slot = this.#slots.get(name);
    if (!slot?.stored) throw notFound(`no rootfs named "${name}"`);
    if (slot.leases.size > 0) {
      throw failedPrecondition(
        `rootfs "${name}" is in use by running jobs: ${this.#jobs(slot).join(", ")}`,
      );
    }
    const doomed = join(this.dir, `${DEL_PREFIX}${randomSuffix()}`);
    renamePath(join(this.dir, name), doomed, RENAME_NOREPLACE);
    slot.stored = undefined;
    if (!slot.uploading) this.#slots.delete(name);
    await removeTree(doomed);
  }

  /** Leases a rootfs for a job (RootfsProvider); NOT_FOUND when there is none. */
  acquire(name: string, jobId: string): RootfsLease {
    validateRootfsName(name);
    const slot = this.#slots.get(name);
    if (!slot?.stored) throw notFound(`no rootfs named "${name}"`);
    const token = ++this.#nextLease;
    slot.leases.set(token, jobId);
    return {
      name,
      path: this.treePath(name),
      release: () => {
        slot.leases.delete(token);
      },
    };
  }

  /** Claims a name for an upload, or says why not. Synchronous: this is the race guard. */
  #reserve(name: string, replace: boolean): Slot {
    if (this.#foreign.has(name)) {
      throw new IjrError(
        "ALREADY_EXISTS",
        `${join(this.dir, name)} exists but was not uploaded through ijrd; remove it to use ` +
          "the name",
      );
    }
    const slot = this.#slots.get(name);
    if (slot?.uploading) {
      throw new IjrError("ABORTED", `an upload of rootfs "${name}" is already in progress`);
    }
    if (slot?.stored && !replace) {
      throw new IjrError(
        "ALREADY_EXISTS",
        `rootfs "${name}" already exists (upload with replace to overwrite it)`,
      );
    }
    if (slot?.stored && slot.leases.size > 0) throw this.#inUse(name, slot);
    if (slot) {
      slot.uploading = true;
      return slot;
    }
    const created: Slot = { uploading: true, leases: new Map() };
    this.#slots.set(name, created);
    return created;
  }

  /** Makes the extracted temp folder the rootfs, in one rename. Synchronous, so no lease
   * can slip in between the check and the swap. A replaced tree ends up in temp. */
  #publish(name: string, slot: Slot, temp: string, stored: StoredInfo): void {
    const final = join(this.dir, name);
    const replacing = slot.stored !== undefined;
    if (replacing && slot.leases.size > 0) throw this.#inUse(name, slot);
    try {
      renamePath(temp, final, replacing ? RENAME_EXCHANGE : RENAME_NOREPLACE);
    } catch (error) {
      if (error instanceof ConfinedFsError && error.errno === 17 /* EEXIST */) {
        throw new IjrError("ALREADY_EXISTS", `${final} appeared during the upload`);
      }
      throw error;
    }
    slot.stored = stored;
    slot.uploading = false;
  }

  #inUse(name: string, slot: Slot): IjrError {
    return failedPrecondition(
      `rootfs "${name}" cannot be replaced while jobs use it: ${this.#jobs(slot).join(", ")}`,
    );
  }

  #jobs(slot: Slot): string[] {
    return [...new Set(slot.leases.values())].sort();
  }

  #describe(name: string, slot: Slot): RootfsInfo {
    const stored = slot.stored!;
    return {
      name,
      sizeBytes: stored.sizeBytes,
      entries: stored.entries,
      createdAt: new Date(stored.createdAt),
      runningJobs: this.#jobs(slot),
    };
  }
}
