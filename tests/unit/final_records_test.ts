/**
 * Jobs' final records (lib/job/final_records.ts): written over the room the first record
 * reserved, padded rather than cut, loadable as written; on the JavaScript thread while the
 * disk is quick, on the blocking pool for a while after a slow write.
 */
import assert from "node:assert/strict";
import { FinalRecords } from "../../lib/job/final_records.ts";
import { jobPaths, loadJob, saveJobAsync } from "../../lib/job/job_store.ts";
import type { JobStatus } from "../../lib/job/mod.ts";

function running(n: number): JobStatus {
  return {
    id: n.toString(16).padStart(16, "0"),
    owner: "alice",
    rootfs: "busybox",
    argv: ["sh", "-c", "exit 7"],
    env: ["PATH=/bin"],
    workdir: "/",
    limits: { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 },
    state: "running",
    pid: 4242,
    oomKilled: false,
    startedAt: new Date(1_700_000_000_000 + n),
  };
}

function ended({ pid: _pid, ...job }: JobStatus): JobStatus {
  return {
    ...job,
    state: "exited",
    exitCode: 7,
    endedAt: new Date(job.startedAt.getTime() + 1000),
    message: "a line",
  };
}

/** A job's first record, with the final record's room reserved, as JobManager writes it. */
async function firstRecorded(stateDir: string, job: JobStatus) {
  const paths = jobPaths(stateDir, job.id);
  Deno.mkdirSync(paths.dir, { recursive: true });
  await saveJobAsync(stateDir, job, paths.firstRecordTemp, paths.finalRecordTemp);
  return paths;
}

Deno.test("final records: written over the reserved room, padded not cut, and loaded as written", async () => {
  const stateDir = Deno.makeTempDirSync({ prefix: "ijr-final-" });
  try {
    const records = new FinalRecords(stateDir);
    const job = running(1);
    const paths = await firstRecorded(stateDir, job);
    const reserved = Deno.statSync(paths.finalRecordTemp).size;
    const firstInode = Deno.statSync(paths.record).ino;
    const final = ended(job);
    const replaced = await records.write(final, paths.finalRecordTemp);
    assert.equal(records.onPool, false, "a quick disk keeps the writes on the thread");
    // The reserved file became the record, whole: the JSON, then the room's spaces.
    const text = Deno.readTextFileSync(paths.record);
    assert.equal(text.length, reserved);
    assert.match(text, /^\{\n[^]*\n\}\n +$/);
    assert.deepEqual(await loadJob(stateDir, job.id), { job: { ...final, cpuNanos: undefined } });
    // The first record is unlinked, held until released.
    assert.notEqual(Deno.statSync(paths.record).ino, firstInode);
    assert.ok(replaced);
    await replaced.release();
    assert.deepEqual([...Deno.readDirSync(paths.dir)].map((entry) => entry.name), ["job.json"]);
  } finally {
    Deno.removeSync(stateDir, { recursive: true });
  }
});

Deno.test("final records: after a slow write the next go to the pool, for a while", async () => {
  const stateDir = Deno.makeTempDirSync({ prefix: "ijr-final-" });
  try {
    // Every write counts as slow: the first is on the thread, the next on the pool.
    const records = new FinalRecords(stateDir, { slowMs: -1, poolForMs: 300 });
    const jobs = [running(1), running(2), running(3)];
    const paths = await Promise.all(jobs.map((job) => firstRecorded(stateDir, job)));
    assert.equal(records.onPool, false);
    (await records.write(ended(jobs[0]), paths[0].finalRecordTemp))?.release();
    assert.equal(records.onPool, true);
    (await records.write(ended(jobs[1]), paths[1].finalRecordTemp))?.release();
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal(records.onPool, false, "back on the thread once the time is up");
    (await records.write(ended(jobs[2]), paths[2].finalRecordTemp))?.release();
    for (const job of jobs) {
      assert.deepEqual(await loadJob(stateDir, job.id), {
        job: { ...ended(job), cpuNanos: undefined },
      });
    }
  } finally {
    Deno.removeSync(stateDir, { recursive: true });
  }
});
