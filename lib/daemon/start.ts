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
import { JobManager } from "../job/mod.ts";
import { markInheritedDescriptorsCloseOnExec } from "../native/mod.ts";
import { RootfsStore } from "../rootfs/mod.ts";
import { type DaemonSettings, preflight, PreflightError } from "./preflight.ts";
import type { DaemonFlags } from "./program.ts";
import { logEvent, serve } from "./serve.ts";
import { resolveWorkerCaps } from "./worker_caps.ts";

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
    cgroups = await createCgroupController(
      settings.cgroupParent ? { parent: settings.cgroupParent } : {},
    );
    // Lifted first, so that "auto" reads what the host allows, not a previous run's cap.
    await cgroups.capAllJobs({});
    const caps = resolveWorkerCaps(flags, {
      tasks: await readHostTaskLimits(),
      memoryBytes: (await cgroups.memoryAvailable()).bytes,
    });
    await cgroups.capAllJobs(caps);
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
    });
    logEvent("ready", {
      cgroup: `v${cgroups.version}`,
      rootfs: settings.rootfsDir,
      state: settings.stateDir,
      // What all jobs together may use, as the kernel reads it back.
      caps: await cgroups.readAllJobsCaps(),
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
