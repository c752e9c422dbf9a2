/**
 * The output limit: a job's output stops at exactly its limit (the kernel's RLIMIT_FSIZE),
 * the job is stopped the way a timeout stops it (SIGTERM, the grace period, then killed),
 * its status says why, and every stream of its output ends normally with those bytes.
 */
import assert from "node:assert/strict";
import { outputText, startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

const MIB = 1024 * 1024;

async function byteCount(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let total = 0;
  for await (const chunk of chunks) total += chunk.length;
  return total;
}

rootTest("output limit: a flood stops at exactly the limit and the job says why", async () => {
  await withManager(async (manager, { stateDir }) => {
    const job = await startBusybox(manager, ["/bin/probe", "flood", String(10 * MIB), "65536"], {
      maxOutputBytes: MIB,
    });
    // A follower from the start: its stream ends normally, with the bytes kept.
    const followed = byteCount(manager.output(job.id));
    const end = await manager.wait(job.id);
    assert.equal(end.state, "stopped");
    // The write past the limit failed and the kernel sent SIGXFSZ, whose default kills.
    assert.equal(end.signal, 25);
    assert.equal(end.exitCode, undefined);
    assert.equal(end.outputLimitExceeded, true);
    assert.equal(end.message, `output limit exceeded (${MIB} bytes)`);
    assert.equal(end.maxOutputBytes, MIB);
    assert.equal(Deno.statSync(`${stateDir}/jobs/${job.id}/output`).size, MIB);
    assert.equal(await followed, MIB);
    assert.equal(await byteCount(manager.output(job.id)), MIB);
    const bytes = Deno.readFileSync(`${stateDir}/jobs/${job.id}/output`);
    assert.ok(bytes.every((byte) => byte === 0x79), "the output is the probe's bytes, unchanged");
  });
});

rootTest(
  "output limit: a job that ignores SIGXFSZ and SIGTERM is killed after the grace period",
  async () => {
    await withManager(async (manager, { stateDir }) => {
      const started = performance.now();
      const job = await startBusybox(manager, [
        "sh",
        "-c",
        // Writes fail with EFBIG once at the limit; the shell keeps trying.
        "trap '' TERM XFSZ; while true; do echo 0123456789abcdef; done",
      ], { maxOutputBytes: 4096 });
      const end = await manager.wait(job.id);
      const elapsed = performance.now() - started;
      assert.equal(end.state, "stopped");
      assert.equal(end.signal, 9);
      assert.equal(end.outputLimitExceeded, true);
      assert.equal(end.message, "output limit exceeded (4096 bytes)");
      assert.equal(Deno.statSync(`${stateDir}/jobs/${job.id}/output`).size, 4096);
      assert.equal(
        await outputText(manager, job.id),
        "0123456789abcdef\n".repeat(240) + "0123456789abcdef",
      );
      // Not before the grace period (1 s here) was over.
      assert.ok(elapsed >= 1000, `ended after ${elapsed} ms`);
    }, { defaultGraceMs: 1000 });
  },
);

rootTest(
  "output limit: a job that writes less ends as usual, and the limit also bounds any one file it writes",
  async () => {
    await withManager(async (manager) => {
      const job = await startBusybox(manager, [
        "sh",
        "-c",
        "echo small; dd if=/dev/zero of=/tmp/big bs=1024 count=8 2>/dev/null; echo dd=$?; " +
        "wc -c < /tmp/big",
      ], { maxOutputBytes: 4096 });
      const end = await manager.wait(job.id);
      assert.equal(end.state, "exited");
      assert.equal(end.exitCode, 0);
      assert.equal(end.outputLimitExceeded, undefined);
      // RLIMIT_FSIZE holds every file the job writes to the limit: dd died of SIGXFSZ (128+25).
      assert.equal(await outputText(manager, job.id), "small\ndd=153\n4096\n");
    });
  },
);

rootTest(
  "output limit: a request above the worker's limit is refused before anything runs",
  async () => {
    await withManager(async (manager, { stateDir }) => {
      await assert.rejects(
        startBusybox(manager, ["true"], { maxOutputBytes: 2 * MIB }),
        {
          code: "INVALID_ARGUMENT",
          message:
            `limits.max_output_bytes ${2 * MIB} is above this worker's limit of ${MIB} bytes ` +
            "(ijrd --max-output)",
        },
      );
      // The worker's limit is the default, and nothing was left by the refused start.
      const job = await startBusybox(manager, ["true"]);
      assert.equal((await manager.wait(job.id)).maxOutputBytes, MIB);
      assert.equal(manager.list({ includeFinished: true }).length, 1);
      await manager.settled();
      const folders = [...Deno.readDirSync(`${stateDir}/jobs`)].map((e) => e.name);
      assert.equal(folders.filter((name) => name !== job.id).length, 1); // the one made ahead
    }, { maxOutputBytes: MIB });
  },
);
