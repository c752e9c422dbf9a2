import assert from "node:assert/strict";
import { openStateVersion, STATE_VERSION, StateVersionError } from "../../lib/job/state_version.ts";

async function withStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ijr-state-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("state version: a folder without state.json is version 1, and gets this ijrd's", async () => {
  await withStateDir(async (dir) => {
    assert.equal(STATE_VERSION, 2);
    assert.equal(await openStateVersion(dir), 1);
    assert.equal(await Deno.readTextFile(`${dir}/state.json`), '{"version":2}\n');
    assert.equal((await Deno.stat(`${dir}/state.json`)).mode! & 0o777, 0o600);
    assert.equal(await openStateVersion(dir), 2);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["state.json"]);
  });
});

Deno.test("state version: a newer folder is refused, untouched, with a message that says why", async () => {
  await withStateDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/state.json`, '{"version":3}\n');
    await assert.rejects(openStateVersion(dir), (error: Error) => {
      assert.ok(error instanceof StateVersionError);
      assert.equal(
        error.message,
        `the state folder ${dir} was written by a newer ijrd (state version 3); this ijrd ` +
          "reads versions up to 2: run the newer ijrd, or give this one another --state",
      );
      return true;
    });
    assert.equal(await Deno.readTextFile(`${dir}/state.json`), '{"version":3}\n');
  });
});

Deno.test("state version: a state.json that is not a version is refused", async () => {
  await withStateDir(async (dir) => {
    for (
      const [text, message] of [
        ["{", `${dir}/state.json is not JSON: `],
        ['{"version":"2"}', `${dir}/state.json does not hold a state version`],
        ['{"version":0}', `${dir}/state.json does not hold a state version`],
        ["null", `${dir}/state.json does not hold a state version`],
      ]
    ) {
      await Deno.writeTextFile(`${dir}/state.json`, text);
      await assert.rejects(openStateVersion(dir), (error: Error) => {
        assert.ok(error instanceof StateVersionError);
        assert.ok(error.message.startsWith(message), error.message);
        return true;
      });
    }
  });
});
