import assert from "node:assert/strict";
import { FinishedJobs } from "../../lib/job/finished_jobs.ts";
import { jobPaths, saveJob } from "../../lib/job/job_store.ts";
import type { JobStatus } from "../../lib/job/mod.ts";

function ended(n: number, argv: string[] = ["sh", "-c", "exit 7"]): JobStatus {
  return {
    id: n.toString(16).padStart(16, "0"),
    owner: "alice",
    rootfs: "busybox",
    argv,
    env: ["PATH=/bin"],
    workdir: "/",
    limits: { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 },
    state: "exited",
    exitCode: 7,
    oomKilled: false,
    startedAt: new Date(1_700_000_000_000 + n),
    endedAt: new Date(1_700_000_001_000 + n),
  };
}

/** Records `job` as the manager does, then adds it; returns its record's path. */
function addRecorded(stateDir: string, finished: FinishedJobs, job: JobStatus): string {
  const paths = jobPaths(stateDir, job.id);
  Deno.mkdirSync(paths.dir, { recursive: true });
  saveJob(stateDir, job);
  finished.add(job);
  return paths.record;
}

Deno.test("finished jobs: the whole status of a recently ended job with a small command is kept; others come from disk", () => {
  const stateDir = Deno.makeTempDirSync({ prefix: "ijr-jobs-" });
  try {
    const finished = new FinishedJobs(stateDir);
    const small = ended(1);
    const large = ended(2, ["echo", "x".repeat(8 * 1024)]);
    const smallRecord = addRecorded(stateDir, finished, small);
    const largeRecord = addRecorded(stateDir, finished, large);
    // With the records gone, only what is in memory answers.
    Deno.removeSync(smallRecord);
    Deno.removeSync(largeRecord);
    assert.deepEqual(finished.status(small.id), small);
    // Past the size kept in memory: read from disk, and here only the summary is left.
    assert.deepEqual(finished.status(large.id)?.argv, []);
  } finally {
    Deno.removeSync(stateDir, { recursive: true });
  }
});

Deno.test("finished jobs: at most 256 whole statuses are kept, the most recent; a deleted job's goes", async () => {
  const stateDir = Deno.makeTempDirSync({ prefix: "ijr-jobs-" });
  try {
    const finished = new FinishedJobs(stateDir);
    const records = [];
    for (let n = 1; n <= 257; n++) records.push(addRecorded(stateDir, finished, ended(n)));
    for (const record of records) Deno.removeSync(record);
    assert.deepEqual(finished.status(ended(1).id)?.argv, [], "the oldest, past 256: from disk");
    assert.deepEqual(finished.status(ended(2).id), ended(2));
    assert.deepEqual(finished.status(ended(257).id), ended(257));
    assert.equal(await finished.delete(ended(257).id), true);
    assert.equal(finished.status(ended(257).id), undefined);
  } finally {
    Deno.removeSync(stateDir, { recursive: true });
  }
});
