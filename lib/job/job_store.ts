/**
 * Persistence of job records: STATE/jobs/<id>/job.json, written atomically (a temp file and
 * a rename), so a crash leaves the old record or the new one, never half of one.
 * @module
 */

import { join } from "node:path";
import { IjrError } from "../errors/mod.ts";
import { writeFileAtomic } from "../native/record_file.ts";
import { jobRecordProblem } from "./job_record.ts";
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
  // A record that would not pass loadJob's checks is ijrd's bug: refuse to store it.
  const problem = jobRecordProblem(job);
  if (problem) throw new IjrError("INTERNAL", `refusing to record job ${job.id}: ${problem}`);
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

/** What reading a job record found. */
export type LoadedJob =
  | { readonly job: JobStatus }
  | { readonly missing: true }
  | { readonly invalid: string; readonly file: string };

/**
 * Reads a job record: the job, `missing` when there is no record (a start that never
 * finished), or `invalid` with the reason when the file is there but is not a record this
 * ijrd can trust (edited, truncated, from a bug): such a record is never handed on.
 */
export async function loadJob(stateDir: string, id: string): Promise<LoadedJob> {
  const file = jobPaths(stateDir, id).record;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { missing: true };
    return { invalid: `cannot be read: ${(error as Error).message}`, file };
  }
  let job: JobStatus;
  try {
    const stored: StoredJob = JSON.parse(text);
    if (typeof stored !== "object" || stored === null) throw new Error("not a JSON object");
    if (stored.version !== 1) throw new Error(`record version ${stored.version} is not 1`);
    if (stored.id !== id) throw new Error(`it names job ${JSON.stringify(stored.id)}`);
    const { version: _, ...rest } = stored;
    job = {
      ...rest,
      startedAt: new Date(stored.startedAt),
      endedAt: stored.endedAt === undefined ? undefined : new Date(stored.endedAt),
      cpuNanos: stored.cpuNanos === undefined ? undefined : BigInt(stored.cpuNanos),
    };
  } catch (error) {
    return { invalid: (error as Error).message, file };
  }
  const problem = jobRecordProblem(job);
  return problem ? { invalid: problem, file } : { job };
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
