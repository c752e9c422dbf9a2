/**
 * Job records on disk are trusted only after they pass the same checks as before they were
 * written: a hand-edited, truncated or forged record is skipped with one log line naming its
 * file, and never breaks the list or the status of anything else.
 */
import assert from "node:assert/strict";
import { JobManager } from "../../lib/job/mod.ts";
import { FixtureRootfs } from "../helpers/jobs.ts";

function record(id: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 1,
    id,
    owner: "alice",
    rootfs: "busybox",
    argv: ["true"],
    env: [],
    workdir: "/",
    limits: { cpuShares: 1024, readIops: [], writeIops: [], pids: 1024 },
    state: "exited",
    exitCode: 0,
    oomKilled: false,
    startedAt: "2026-12-01T10:00:00.000Z",
    endedAt: "2026-12-01T10:00:01.000Z",
    ...fields,
  });
}

Deno.test("records: a record that fails the checks is skipped with one line naming its file", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
  const records: Record<string, string> = {
    "00000000000000a1": record("00000000000000a1"),
    // What a NaN exit code became in JSON, before the checks existed.
    "00000000000000a2": record("00000000000000a2", { exitCode: null }),
    "00000000000000a3": record("00000000000000a3").slice(0, 40),
    "00000000000000a4": record("00000000000000a4", { exitCode: 300 }),
    "00000000000000a5": record("00000000000000a5", { cpuNanos: "lots" }),
    "00000000000000a6": record("00000000000000ff"),
  };
  for (const [id, text] of Object.entries(records)) {
    await Deno.mkdir(`${stateDir}/jobs/${id}`, { recursive: true });
    await Deno.writeTextFile(`${stateDir}/jobs/${id}/job.json`, text);
  }
  const logged: string[] = [];
  const original = console.error;
  console.error = (line: string) => logged.push(line);
  let manager: JobManager;
  try {
    manager = await JobManager.open({ stateDir, rootfs: new FixtureRootfs({}) });
  } finally {
    console.error = original;
  }
  try {
    assert.deepEqual(manager.list({ includeFinished: true }).map((j) => j.id), [
      "00000000000000a1",
    ]);
    const file = (id: string) => `${stateDir}/jobs/${id}/job.json`;
    assert.deepEqual(logged.sort(), [
      `ijrd: skipping job record ${file("00000000000000a2")}: exitCode is not 0..255`,
      `ijrd: skipping job record ${file("00000000000000a3")}: ` +
      "Unterminated string in JSON at position 40 (line 1 column 41)",
      `ijrd: skipping job record ${file("00000000000000a4")}: exitCode is not 0..255`,
      `ijrd: skipping job record ${file("00000000000000a5")}: Cannot convert lots to a BigInt`,
      `ijrd: skipping job record ${file("00000000000000a6")}: it names job "00000000000000ff"`,
    ]);
    assert.equal(manager.get("00000000000000a2"), undefined);
    // Skipped records stay on disk for whoever wants to look.
    assert.equal(Deno.readTextFileSync(file("00000000000000a4")), records["00000000000000a4"]);
  } finally {
    await manager.shutdown();
    await Deno.remove(stateDir, { recursive: true });
  }
});
