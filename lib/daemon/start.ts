/**
 * Assembles ijrd from its parts: the rootfs store, resource control, the job engine, then
 * the gRPC server. Each part cleans up after a crash of the previous run as it opens (stale
 * uploads, lost jobs, leftover cgroups).
 * @module
 */

import {
  type CgroupController,
  createCgroupController,
  readHostTaskLimits,
} from "../cgroup/mod.ts";
import { JobManager, probeUserNamespaces, UsernsPool } from "../job/mod.ts";
import { markInheritedDescriptorsCloseOnExec } from "../native/mod.ts";
import { RootfsStore } from "../rootfs/mod.ts";
import { type DaemonSettings, preflight, PreflightError } from "./preflight.ts";
import type { DaemonFlags } from "./program.ts";
import { logEvent, serve } from "./serve.ts";
import { resolveUserCaps, resolveWorkerCaps } from "./worker_caps.ts";
import { checkPoolAgainstHost, parsePool, readHostIds } from "./userns_check.ts";

/**
 * How long a user's cgroup group stays after their last job (cgroup v1), holding a job cgroup
 * made ahead for their next one: a user who starts jobs one after another finds both in place
 * and the start skips twelve mkdirs (docs/operations.md, "cgroups").
 */
export const GROUP_LINGER_MS = 30_000;

/** Runs ijrd until SIGTERM/SIGINT; returns the exit code (2 for start-up problems). */
export async function runDaemon(flags: DaemonFlags): Promise<number> {
  let settings: DaemonSettings;
  let cgroups: CgroupController | undefined;
  try {
    markInheritedDescriptorsCloseOnExec();
    settings = preflight(flags);
    await Deno.mkdir(settings.stateDir, { recursive: true, mode: 0o700 });
    const rootfs = await RootfsStore.open({
      dir: settings.rootfsDir,
      limits: {
        maxCompressedBytes: settings.maxUploadBytes,
        maxExtractedBytes: settings.maxExtractedBytes,
        maxEntries: settings.maxEntries,
      },
    });
    cgroups = await createCgroupController({
      ...(settings.cgroupParent ? { parent: settings.cgroupParent } : {}),
      groupLingerMs: GROUP_LINGER_MS,
    });
    // Lifted first, so that "auto" reads what the host allows, not a previous run's cap.
    await cgroups.capAllJobs({});
    const caps = resolveWorkerCaps(flags, {
      tasks: await readHostTaskLimits(),
      memoryBytes: (await cgroups.memoryAvailable()).bytes,
    });
    await cgroups.capAllJobs(caps);
    const userCaps = resolveUserCaps(flags, caps, settings);
    await cgroups.capEveryGroup(userCaps);
    const userns = openUserNamespaces(flags, settings);
    const jobs = await JobManager.open({
      stateDir: settings.stateDir,
      rootfs,
      cgroups,
      defaultGraceMs: settings.graceMs,
      defaultPids: settings.defaultPids,
      scratch: settings.scratch,
      maxOutputBytes: settings.maxOutputBytes,
      retain: settings.retain,
      maxJobs: settings.maxJobs,
      maxJobsPerUser: settings.maxJobsPerUser,
      defaultMemoryBytes: settings.defaultMemoryBytes,
      userns,
      seccomp: flags.seccomp !== "off",
      liveRestore: settings.liveRestore,
    });
    logEvent("ready", {
      cgroup: `v${cgroups.version}`,
      rootfs: settings.rootfsDir,
      state: settings.stateDir,
      // What all jobs together may use, as the kernel reads it back.
      caps: await cgroups.readAllJobsCaps(),
      // What each user's jobs together may use (written on each user's group as it is made).
      userCaps,
      userns: userns ? `${userns.start}:${userns.count}` : "off",
      seccomp: flags.seccomp,
      liveRestore: settings.liveRestore ? "on" : "off",
      // Jobs of the previous ijrd that still run, adopted (live restore).
      running: jobs.running,
    });
    const code = await serve({
      settings,
      rootfs,
      jobs,
    });
    return code;
  } catch (error) {
    if (error instanceof PreflightError) {
      console.error(`ijrd: ${error.message}`);
      return 2;
    }
    console.error(`ijrd: cannot start: ${(error as Error).message}`);
    return 2;
  } finally {
    // The parent cgroups ijrd made for its jobs go with it, whichever way it ends.
    await cgroups?.removeEmptyParents().catch(() => {});
  }
}

/**
 * The user namespace pool, checked against the host's ids and tried on the kernel (an
 * idmapped rootfs under an overlay, as every job's start does); undefined with --userns=off.
 */
function openUserNamespaces(flags: DaemonFlags, settings: DaemonSettings): UsernsPool | undefined {
  if (flags.userns === "off") return undefined;
  const range = parsePool(flags.usernsPool);
  checkPoolAgainstHost(range, readHostIds());
  const pool = new UsernsPool(range.start, range.count);
  // The jobs' mount point (JobManager.open checks it is empty: the probe mounts only in a
  // namespace of its own, gone when it ends).
  Deno.mkdirSync(`${settings.stateDir}/mnt`, { recursive: true, mode: 0o700 });
  try {
    probeUserNamespaces(pool, {
      mountPoint: `${settings.stateDir}/mnt`,
      lowerDir: settings.rootfsDir,
    });
  } catch (error) {
    throw new PreflightError(
      "jobs' user namespaces need idmapped mounts of --rootfs under an overlay (Linux 5.19 " +
        `or later): this host cannot (${(error as Error).message}); start ijrd with ` +
        "--userns=off to run jobs as the host's root in their namespaces instead",
    );
  }
  return pool;
}
