/**
 * Persistence of job records: STATE/jobs/<id>/job.json, written atomically (a temp file and
 * a rename), so a crash leaves the old record or the new one, never half of one.
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../native/record_file.ts";
import type { JobStatus } from "./types.ts";

/** The on-disk form: dates as ISO strings, bigints as decimal strings. */
interface StoredJob extends Omit<JobStatus, "startedAt" | "endedAt" | "cpuNanos" | "limits"> {
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly cpuNanos?: string;
  readonly limits: JobStatus["limits"];
  readonly version: 1;
}

/** The folders of one job. */
export interface JobPaths {
  readonly dir: string;
  readonly record: string;
  /** Temp files of the first and the final record (each renamed onto `record`). */
  readonly firstRecordTemp: string;
  readonly finalRecordTemp: string;
  readonly output: string;
  /** The overlay's upper and work folders; removed when the job ends. */
  readonly scratch: string;
  readonly upper: string;
  readonly work: string;
}

/** Where everything of job `id` lives under the state folder. */
export function jobPaths(stateDir: string, id: string): JobPaths {
  const dir = join(stateDir, "jobs", id);
  const scratch = join(dir, "scratch");
  return {
    dir,
    record: join(dir, "job.json"),
    firstRecordTemp: join(dir, "job.json.first"),
    finalRecordTemp: join(dir, "job.json.final"),
    output: join(dir, "output"),
    scratch,
    upper: join(scratch, "upper"),
    work: join(scratch, "work"),
  };
}

/** The one mount point all jobs share, each in its own mount namespace (see JobManager). */
export function mountPoint(stateDir: string): string {
  return join(stateDir, "mnt");
}

/**
 * Writes a job record atomically. Synchronous on purpose: a record is a few hundred bytes,
 * and two trips through Deno's blocking pool (write, rename) would cost more than the I/O on
 * every job start and end.
 */
export function saveJob(stateDir: string, job: JobStatus, temp?: string): void {
  const { record, text } = recordOf(stateDir, job);
  temp ??= `${record}.tmp`;
  Deno.writeTextFileSync(temp, text, { mode: 0o640 });
  Deno.renameSync(temp, record);
}

/**
 * saveJob in one call on Deno's blocking pool, for a record written while the JavaScript
 * thread does something else (a job's first record, while the job is being spawned).
 */
export async function saveJobAsync(
  stateDir: string,
  job: JobStatus,
  temp?: string,
): Promise<void> {
  const { record, text } = recordOf(stateDir, job);
  await writeFileAtomic(record, temp ?? `${record}.tmp`, new TextEncoder().encode(text));
}

function recordOf(stateDir: string, job: JobStatus) {
  const paths = jobPaths(stateDir, job.id);
  const stored: StoredJob = {
    ...job,
    version: 1,
    startedAt: job.startedAt.toISOString(),
    endedAt: job.endedAt?.toISOString(),
    cpuNanos: job.cpuNanos?.toString(),
  };
  const text = JSON.stringify(stored, null, 2) + "\n";
  return { record: paths.record, text };
}

/** Reads a job record; undefined when missing or unreadable (a start that never finished). */
export async function loadJob(stateDir: string, id: string): Promise<JobStatus | undefined> {
  let stored: StoredJob;
  try {
    stored = JSON.parse(await Deno.readTextFile(jobPaths(stateDir, id).record));
  } catch {
    return undefined;
  }
  if (stored.version !== 1 || stored.id !== id) return undefined;
  const { version: _, ...rest } = stored;
  return {
    ...rest,
    startedAt: new Date(stored.startedAt),
    endedAt: stored.endedAt ? new Date(stored.endedAt) : undefined,
    cpuNanos: stored.cpuNanos === undefined ? undefined : BigInt(stored.cpuNanos),
  };
}

/** IDs of every job folder under the state folder. */
export async function listJobIds(stateDir: string): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(stateDir, "jobs"))) {
      if (entry.isDirectory) ids.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return ids;
}
