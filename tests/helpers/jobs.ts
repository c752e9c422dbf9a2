/**
 * A job manager for tests over the busybox fixture, with a throwaway state folder, and the
 * checks that nothing of the jobs is left behind.
 * @module
 */

import {
  JobManager,
  type JobManagerOptions,
  type JobStatus,
  type StartJobRequest,
} from "../../lib/job/mod.ts";
import type { RootfsLease, RootfsProvider } from "../../lib/rootfs/types.ts";
import { notFound } from "../../lib/errors/mod.ts";
import { busyboxRootfsDir } from "./busybox.ts";

/** Leases fixture directories by name, counting leases so tests can check releases. */
export class FixtureRootfs implements RootfsProvider {
  readonly leases = new Map<string, string>();
  constructor(readonly trees: Record<string, string>) {}

  acquire(name: string, jobId: string): RootfsLease {
    const path = this.trees[name];
    if (!path) throw notFound(`rootfs ${name} not found`);
    this.leases.set(jobId, name);
    return { name, path, release: () => this.leases.delete(jobId) };
  }
}

/** Runs `fn` with a manager over a fresh state folder; shuts it down and removes the folder. */
export async function withManager(
  fn: (manager: JobManager, context: { stateDir: string; rootfs: FixtureRootfs }) => Promise<void>,
  options: Partial<JobManagerOptions> = {},
): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
  const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
  const manager = await JobManager.open({ stateDir, rootfs, ...options });
  try {
    await fn(manager, { stateDir, rootfs });
  } finally {
    await manager.shutdown({ graceMs: 1000 });
    await Deno.remove(stateDir, { recursive: true });
  }
}

/** Reads a finished job's whole output as text. */
export async function outputText(manager: JobManager, id: string): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of manager.output(id)) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Host pids of every process in the PID namespace of `initPid` (the job's init included). */
export function processesInNamespaceOf(initPid: number): number[] {
  let ns: string;
  try {
    ns = Deno.readLinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readLinkSync(`/proc/${entry.name}/ns/pid`) === ns) pids.push(Number(entry.name));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/**
 * The job folder a manager made ahead for its next start (lib/job/job_folders.ts): the one
 * without a job.json, once the manager's background work is done.
 */
export async function folderMadeAhead(manager: JobManager, stateDir: string): Promise<string> {
  await manager.settled();
  for (const entry of Deno.readDirSync(`${stateDir}/jobs`)) {
    const dir = `${stateDir}/jobs/${entry.name}`;
    if (![...Deno.readDirSync(dir)].some((e) => e.name === "job.json")) return dir;
  }
  throw new Error("no job folder was made ahead");
}

/** Starts `argv` as user "t" on the busybox fixture; `request` adds fields or overrides them. */
export function startBusybox(
  manager: JobManager,
  argv: readonly string[],
  request: Partial<StartJobRequest> = {},
): Promise<JobStatus> {
  return manager.start({ owner: "t", rootfs: "busybox", argv, ...request });
}
