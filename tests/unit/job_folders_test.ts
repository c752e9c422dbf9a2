/** Job folders: one made ahead for the next start, scratch removed in the background. */
import assert from "node:assert/strict";
import { JobFolders } from "../../lib/job/job_folders.ts";

async function withStateDir(fn: (stateDir: string) => Promise<void>): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "ijr-folders-" });
  try {
    await Deno.mkdir(`${stateDir}/jobs`);
    await fn(stateDir);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
}

const entries = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("job folders: the next job's folder is made ahead and used by the next start", async () => {
  await withStateDir(async (stateDir) => {
    const folders = new JobFolders(stateDir, { scratchFolders: false });
    const first = folders.make();
    assert.deepEqual(entries(first.paths.dir), ["end", "output"]);
    assert.equal(Deno.statSync(first.paths.output).size, 0);
    await folders.settled();
    const [ahead] = entries(`${stateDir}/jobs`).filter((id) => id !== first.id);
    assert.match(ahead, /^[0-9a-f]{16}$/);
    const second = folders.make();
    assert.equal(second.id, ahead);
    await folders.settled();
    assert.equal(entries(`${stateDir}/jobs`).length, 3);
    // Closing removes the folder made ahead, and nothing else.
    await folders.close();
    assert.deepEqual(entries(`${stateDir}/jobs`), [first.id, second.id].sort());
    // The next start makes one ahead again.
    const third = folders.make();
    await folders.settled();
    assert.equal(entries(`${stateDir}/jobs`).length, 4);
    await folders.close();
    assert.deepEqual(entries(`${stateDir}/jobs`), [first.id, second.id, third.id].sort());
  });
});

Deno.test("job folders: a close right after a make leaves no folder made ahead, then or later", async () => {
  await withStateDir(async (stateDir) => {
    const folders = new JobFolders(stateDir, { scratchFolders: false });
    // make() leaves the refill for later (BACKGROUND_DELAY_MS); close() comes first.
    const job = folders.make();
    await folders.close();
    assert.deepEqual(entries(`${stateDir}/jobs`), [job.id]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await folders.settled();
    assert.deepEqual(entries(`${stateDir}/jobs`), [job.id], "a refill ran after close()");
  });
});

Deno.test("job folders: a disk scratch gets upper and work, removed in the background", async () => {
  await withStateDir(async (stateDir) => {
    const folders = new JobFolders(stateDir, { scratchFolders: true, reserve: 0 });
    const job = folders.make();
    assert.deepEqual(entries(job.paths.dir), ["end", "output", "scratch"]);
    assert.deepEqual(entries(job.paths.scratch), ["upper", "work"]);
    assert.equal(Deno.statSync(job.paths.upper).mode! & 0o777, 0o700);
    Deno.writeTextFileSync(`${job.paths.upper}/written`, "x");
    folders.removeScratch(job.paths);
    await folders.settled();
    assert.deepEqual(entries(job.paths.dir), ["end", "output"]);
    await folders.close();
    assert.deepEqual(entries(`${stateDir}/jobs`), [job.id]);
  });
});

Deno.test("job folders: a failed make leaves nothing behind", async () => {
  await withStateDir(async (stateDir) => {
    await Deno.remove(`${stateDir}/jobs`);
    const folders = new JobFolders(stateDir, { scratchFolders: true });
    assert.throws(() => folders.make(), Deno.errors.NotFound);
    await folders.close();
    assert.deepEqual(entries(stateDir), []);
  });
});
