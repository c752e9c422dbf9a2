/** Job output: readers joining at different times get identical bytes of a large binary output. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

const SIZE = 50 * 1024 * 1024;

async function digest(chunks: AsyncIterable<Uint8Array>): Promise<[string, number]> {
  const hash = createHash("sha256");
  let length = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    length += chunk.length;
  }
  return [hash.digest("hex"), length];
}

rootTest(
  "output: 3 readers joining before, during and after a 50 MB binary job get identical bytes",
  async () => {
    await withManager(async (manager, { stateDir }) => {
      // 50 MB of pseudo-random bytes, written in bursts with pauses, so readers catch up.
      const job = await startBusybox(manager, [
        "sh",
        "-c",
        `for i in 1 2 3 4 5; do /bin/probe binary ${SIZE / 5} $i; sleep 0.2; done`,
      ]);
      const early = digest(manager.output(job.id));
      await new Promise((r) => setTimeout(r, 400));
      const middle = digest(manager.output(job.id));
      const final = await manager.wait(job.id);
      assert.equal(final.exitCode, 0);
      const late = digest(manager.output(job.id));
      const results = await Promise.all([early, middle, late]);
      const file = await digest((await Deno.open(`${stateDir}/jobs/${job.id}/output`)).readable);
      assert.equal(file[1], SIZE);
      for (const result of results) assert.deepEqual(result, file);
    });
  },
);

rootTest("output: a reader cancelled midway releases its file handle", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, [
      "sh",
      "-c",
      "while true; do echo tick; sleep 0.05; done",
    ]);
    const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
    // What the start left to do in the background (the next folder and namespaces made
    // ahead) opens descriptors of its own: counted once it is done.
    await manager.settled();
    const before = fds();
    const controller = new AbortController();
    let received = 0;
    await assert.rejects(async () => {
      for await (const chunk of manager.output(job.id, { signal: controller.signal })) {
        received += chunk.length;
        if (received >= 20) controller.abort(new Error("enough"));
      }
    }, /enough/);
    assert.equal(fds(), before);
    await manager.stop(job.id, { graceMs: 500 });
  });
});
