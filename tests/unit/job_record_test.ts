import assert from "node:assert/strict";
import { jobRecordProblem } from "../../lib/job/job_record.ts";
import type { JobStatus } from "../../lib/job/mod.ts";

const exited: JobStatus = {
  id: "0123456789abcdef",
  owner: "alice",
  rootfs: "busybox",
  argv: ["sh", "-c", "exit 7"],
  env: ["PATH=/bin"],
  workdir: "/",
  limits: {
    cpuShares: 1024,
    memoryBytes: 64 * 1024 * 1024,
    readIops: [{ device: "/dev/vda", major: 253, minor: 0, iops: 100 }],
    writeIops: [],
    pids: 1024,
  },
  timeoutMs: 5000,
  state: "exited",
  exitCode: 7,
  oomKilled: false,
  startedAt: new Date(1_700_000_000_000),
  endedAt: new Date(1_700_000_001_000),
  cpuNanos: 1234n,
  memoryPeakBytes: 4096,
};

Deno.test("job record: a complete record of each state passes", () => {
  assert.equal(jobRecordProblem(exited), undefined);
  const running: JobStatus = {
    ...exited,
    state: "running",
    exitCode: undefined,
    endedAt: undefined,
    pid: 4242,
  };
  assert.equal(jobRecordProblem(running), undefined);
  assert.equal(
    jobRecordProblem({ ...exited, state: "killed", exitCode: undefined, signal: 9 }),
    undefined,
  );
});

Deno.test("job record: each broken field is named", () => {
  const cases: [Partial<Record<keyof JobStatus, unknown>>, string][] = [
    [{ exitCode: Number.NaN }, "exitCode is not 0..255"],
    [{ exitCode: 256 }, "exitCode is not 0..255"],
    [{ exitCode: null }, "exitCode is not 0..255"],
    [{ signal: 0 }, "signal is not 1..64"],
    [{ id: "../../etc" }, "id is not a job ID"],
    [{ rootfs: "../x" }, "rootfs is not a name"],
    [{ owner: "" }, "owner is empty"],
    [{ argv: [] }, "argv has fewer than 1 entries"],
    [{ argv: ["sh", 3] }, "argv[1] is not a string"],
    [{ env: "PATH=/bin" }, "env is not a list"],
    [{ workdir: "etc" }, "workdir is not absolute"],
    [{ timeoutMs: 2 ** 63 }, "timeoutMs is out of range"],
    [{ state: "sleeping" }, 'state "sleeping" is unknown'],
    [{ startedAt: new Date("nope") }, "startedAt is not a valid time"],
    [{ endedAt: undefined }, "a job recorded as exited has no end time"],
    [{ pid: 12 }, "a job recorded as exited has a pid"],
    [{ cpuNanos: -1n }, "cpuNanos is out of range"],
    [{ oomKilled: "no" }, "oomKilled is not a boolean"],
    [{ exitCode: undefined }, "an exited job has no exit code"],
    [{ limits: { ...exited.limits, pids: 0 } }, "limits.pids is out of range"],
    [
      { limits: { ...exited.limits, readIops: [{ device: "/dev/vda", major: 1, minor: 0 }] } },
      "limits.readIops[0].iops is out of range",
    ],
  ];
  for (const [change, problem] of cases) {
    assert.equal(jobRecordProblem({ ...exited, ...change } as JobStatus), problem);
  }
});
