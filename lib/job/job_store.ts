/**
 * Persistence of job records: STATE/jobs/<id>/job.json, written atomically (a temp file and
 * a rename), so a crash leaves the old record or the new one, never half of one.
 * @module
 */

import { join } from "node:path";
import { IjrError } from "../errors/mod.ts";
import {
  abiConstant,
  type ReplacedFile,
  writeFileAtomic,
  writeFileAtomicNow,
} from "../native/mod.ts";
import { jobRecordProblem } from "./job_record.ts";
import type { JobStatus } from "./types.ts";

/** The on-disk form: dates as ISO strings, bigints as decimal strings. */
interface StoredJob extends Omit<JobStatus, "startedAt" | "endedAt" | "cpuNanos" | "limits"> {
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly cpuNanos?: string;
  readonly limits: JobStatus["limits"];
  /**
   * A running job's init protocol (IJR_INIT_PROTOCOL_VERSION): whether a restarted ijrd can
   * adopt the init (live restore). Absent in records of ijrd before live restore.
   */
  readonly initProtocol?: number;
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
  /**
   * Where the job's init records how the command ended (struct ijr_init_status): read when
   * the init has ended, by the ijrd that reaped it or by the next one (live restore).
   */
  readonly end: string;
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
    end: join(dir, "end"),
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
 * Room kept for a job's final record beyond the size of its first: the end adds a handful of
 * fields (state, exit, times, usage, a message of a line).
 */
const FINAL_RECORD_MARGIN = 4096;

/**
 * Writes a job record atomically (a temp file and a rename). Synchronous on purpose: a
 * record is a few hundred bytes, and trips through Deno's blocking pool would cost more than
 * the I/O on every job end. The temp file is overwritten in place, not truncated first: when
 * it holds the room saveJobAsync reserved, the write needs no free space, so a job's end is
 * recorded even on a disk that filled up while it ran.
 */
export function saveJob(stateDir: string, job: JobStatus, temp?: string): void {
  const { record, text } = recordOf(stateDir, job);
  temp ??= `${record}.tmp`;
  const bytes = new TextEncoder().encode(text);
  const file = Deno.openSync(temp, { write: true, create: true, mode: 0o640 });
  try {
    let done = 0;
    while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
    file.truncateSync(bytes.length);
  } finally {
    file.close();
  }
  Deno.renameSync(temp, record);
}

/**
 * A job's record, in one call on Deno's blocking pool: the first written while the JavaScript
 * thread spawns the job, with the room for its final record taken in `finalTemp` at once; the
 * final one written over that room, while the thread goes on answering calls (a response
 * already sent is flushed by this thread too).
 */
export async function saveJobAsync(
  stateDir: string,
  job: JobStatus,
  temp: string,
  finalTemp?: string,
): Promise<void> {
  const { record, text } = recordOf(stateDir, job);
  const bytes = new TextEncoder().encode(text);
  await writeFileAtomic(record, temp, bytes, {
    reserve: finalTemp ? { path: finalTemp, bytes: bytes.length + FINAL_RECORD_MARGIN } : undefined,
  });
}

/**
 * A job's final record, written over its first as saveJobAsync writes, on this thread or (with
 * `onPool`) on Deno's blocking pool; the first record stays open, for the caller to release
 * once the end has been reported (freeing it would take most of the write's time).
 */
export async function saveFinalJob(
  stateDir: string,
  job: JobStatus,
  temp: string,
  onPool: boolean,
): Promise<ReplacedFile | undefined> {
  const { record, text } = recordOf(stateDir, job);
  const bytes = new TextEncoder().encode(text);
  const options = { holdReplaced: true };
  return onPool
    ? await writeFileAtomic(record, temp, bytes, options)
    : writeFileAtomicNow(record, temp, bytes, options);
}

function recordOf(stateDir: string, job: JobStatus) {
  // A record that would not pass loadJob's checks is ijrd's bug: refuse to store it.
  const problem = jobRecordProblem(job);
  if (problem) throw new IjrError("INTERNAL", `refusing to record job ${job.id}: ${problem}`);
  const paths = jobPaths(stateDir, job.id);
  const stored: StoredJob = {
    ...job,
    ...(job.state === "running" ? { initProtocol: abiConstant("IJR_INIT_PROTOCOL_VERSION") } : {}),
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
  | { readonly job: JobStatus; readonly initProtocol?: number }
  | { readonly missing: true }
  | { readonly invalid: string; readonly file: string };

/**
 * Reads a job record: the job, `missing` when there is no record (a start that never
 * finished), or `invalid` with the reason when the file is there but is not a record this
 * ijrd can trust (edited, truncated, from a bug): such a record is never handed on.
 */
export async function loadJob(stateDir: string, id: string): Promise<LoadedJob> {
  const file = jobPaths(stateDir, id).record;
  try {
    return parseRecord(id, file, await Deno.readTextFile(file));
  } catch (error) {
    return unreadable(file, error);
  }
}

/** loadJob, synchronously: a record of a finished job asked for by `status`. */
export function loadJobSync(stateDir: string, id: string): LoadedJob {
  const file = jobPaths(stateDir, id).record;
  try {
    return parseRecord(id, file, Deno.readTextFileSync(file));
  } catch (error) {
    return unreadable(file, error);
  }
}

function unreadable(file: string, error: unknown): LoadedJob {
  if (error instanceof Deno.errors.NotFound) return { missing: true };
  return { invalid: `cannot be read: ${(error as Error).message}`, file };
}

function parseRecord(id: string, file: string, text: string): LoadedJob {
  let job: JobStatus;
  let initProtocol: number | undefined;
  try {
    const stored: StoredJob = JSON.parse(text);
    if (typeof stored !== "object" || stored === null) throw new Error("not a JSON object");
    if (stored.version !== 1) throw new Error(`record version ${stored.version} is not 1`);
    if (stored.id !== id) throw new Error(`it names job ${JSON.stringify(stored.id)}`);
    const { version: _, initProtocol: protocol, ...rest } = stored;
    if (protocol !== undefined && !Number.isSafeInteger(protocol)) {
      throw new Error("initProtocol is not a number");
    }
    initProtocol = protocol;
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
  if (problem) return { invalid: problem, file };
  return initProtocol === undefined ? { job } : { job, initProtocol };
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
