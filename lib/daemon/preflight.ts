/**
 * Checks ijrd's flags before anything listens: every problem an operator can make at start-up
 * (unreadable files, a key that does not match the certificate, a certificate that does not
 * name --server, bad numbers, not root) becomes one clear line and exit code 2.
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { resolve } from "node:path";
import type { TlsMaterial } from "../rpc/transport/mod.ts";
import { parseByteSize, parseDuration } from "../units/mod.ts";
import type { DaemonFlags } from "./program.ts";
import type { JobScratch } from "../job/mod.ts";

/** A start-up problem, reported as one line with exit code 2. */
export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PreflightError";
  }
}

/** Everything the daemon runs with, validated. */
export interface DaemonSettings {
  readonly serverName: string;
  readonly listen: string;
  readonly port: number;
  readonly tls: TlsMaterial;
  readonly rootfsDir: string;
  readonly stateDir: string;
  readonly graceMs: number;
  readonly defaultPids: number;
  readonly scratch: JobScratch;
  readonly cgroupParent?: string;
  readonly maxUploadBytes: number;
  readonly maxExtractedBytes: number;
  readonly maxEntries: number;
  readonly maxOutputBytes: number;
  readonly retain: { readonly count: number; readonly forMs: number };
  readonly maxJobs: number;
  readonly maxJobsPerUser: number;
  /** Most open WaitJob, RunJob and StreamOutput calls per user (lib/rpc/services/watch_limit.ts). */
  readonly maxWatchesPerUser: number;
  /** Undefined: jobs without --memory have no memory limit. */
  readonly defaultMemoryBytes?: number;
  /** Running jobs outlive ijrd, and the next ijrd adopts them (--live-restore). */
  readonly liveRestore: boolean;
}

/** Longest --retain-for: ten years (retention timers re-arm past 24 days). */
const MAX_RETAIN_FOR_MS = 3650 * 86_400_000;
/** Longest --grace: the API's longest grace period. */
const MAX_GRACE_MS = 3_600_000;

function readPem(flag: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new PreflightError(`cannot read ${flag} ${path}: ${reason}`);
  }
}

function parseCertificate(flag: string, path: string, pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new PreflightError(`${flag} ${path} is not a PEM certificate`);
  }
}

function checkServerCertificate(flags: DaemonFlags, certPem: string, keyPem: string): void {
  const cert = parseCertificate("--cert", flags.cert, certPem);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new PreflightError(`--key ${flags.key} is not a PEM private key`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new PreflightError(
      `--key ${flags.key} does not match the certificate --cert ${flags.cert}`,
    );
  }
  const named = isIP(flags.server) ? cert.checkIP(flags.server) : cert.checkHost(flags.server);
  if (named === undefined) {
    throw new PreflightError(
      `--server ${flags.server} is not a name in the certificate ${flags.cert} ` +
        `(it names: ${cert.subjectAltName ?? "nothing"})`,
    );
  }
  const now = Date.now();
  if (Date.parse(cert.validTo) < now) {
    throw new PreflightError(`the certificate ${flags.cert} expired on ${cert.validTo}`);
  }
  if (Date.parse(cert.validFrom) > now) {
    throw new PreflightError(`the certificate ${flags.cert} is not valid before ${cert.validFrom}`);
  }
}

function positive(flag: string, text: string): number {
  if (!/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new PreflightError(`${flag} must be a positive integer, got "${text}"`);
  }
  return Number(text);
}

/**
 * A folder that ends up in every job's overlay mount options (--state holds the jobs' mount
 * point and scratch folders, --rootfs their lower layers): overlayfs splits its options on
 * "," and ":", and the kernel takes one page of them, so such a folder would fail every job.
 */
function layerFolder(flag: string, path: string): string {
  const absolute = resolve(path);
  if (/[,:\\\n]/.test(absolute)) {
    throw new PreflightError(
      `${flag} ${absolute} cannot be used: overlay mounts cannot take a path with , : \\ or a newline`,
    );
  }
  if (absolute.length > 1000) {
    throw new PreflightError(`${flag} is too long for overlay mounts (at most 1000 characters)`);
  }
  return absolute;
}

function wrap<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new PreflightError(`${flag}: ${(error as Error).message}`);
  }
}

/** Validates the flags; `uid` is injectable for tests. */
export function preflight(flags: DaemonFlags, uid: number | null = Deno.uid()): DaemonSettings {
  if (uid !== 0) {
    throw new PreflightError(
      "ijrd must run as root: it creates namespaces, mounts and cgroups for jobs",
    );
  }
  const certPem = readPem("--cert", flags.cert);
  const keyPem = readPem("--key", flags.key);
  const caPem = readPem("--ca", flags.ca);
  parseCertificate("--ca", flags.ca, caPem);
  checkServerCertificate(flags, certPem, keyPem);
  const graceMs = wrap("--grace", () => parseDuration(flags.grace, MAX_GRACE_MS));
  const maxJobs = positive("--max-jobs", flags.maxJobs);
  const maxJobsPerUser = positive("--max-jobs-per-user", flags.maxJobsPerUser);
  if (maxJobsPerUser > maxJobs) {
    throw new PreflightError(
      `--max-jobs-per-user ${maxJobsPerUser} is above --max-jobs ${maxJobs}`,
    );
  }
  return {
    serverName: flags.server,
    listen: flags.listen,
    port: Number(flags.port),
    tls: { caPem, certPem, keyPem },
    rootfsDir: layerFolder("--rootfs", flags.rootfs),
    stateDir: layerFolder("--state", flags.state),
    graceMs,
    defaultPids: positive("--pids", flags.pids),
    scratch: flags.scratch === "disk" ? { on: "disk" } : {
      on: "memory",
      sizeBytes: wrap("--scratch-size", () => {
        const bytes = parseByteSize(flags.scratchSize);
        if (bytes < 1024 ** 2) throw new Error(`must be at least 1m, got ${flags.scratchSize}`);
        return bytes;
      }),
    },
    cgroupParent: flags.cgroupParent,
    maxUploadBytes: wrap("--max-upload-bytes", () => parseByteSize(flags.maxUploadBytes)),
    maxExtractedBytes: wrap("--max-extracted-bytes", () => parseByteSize(flags.maxExtractedBytes)),
    maxEntries: positive("--max-entries", flags.maxEntries),
    maxOutputBytes: wrap("--max-output", () => parseByteSize(flags.maxOutput)),
    retain: {
      count: positive("--retain", flags.retain),
      forMs: wrap("--retain-for", () => parseDuration(flags.retainFor, MAX_RETAIN_FOR_MS)),
    },
    maxJobs,
    maxJobsPerUser,
    maxWatchesPerUser: positive("--max-watches-per-user", flags.maxWatchesPerUser),
    defaultMemoryBytes: flags.defaultMemory === "none"
      ? undefined
      : wrap("--default-memory", () => {
        const bytes = parseByteSize(flags.defaultMemory);
        if (bytes < 4 * 1024 ** 2) {
          throw new Error(`must be at least 4m, got ${flags.defaultMemory}`);
        }
        return bytes;
      }),
    liveRestore: flags.liveRestore !== false,
  };
}
