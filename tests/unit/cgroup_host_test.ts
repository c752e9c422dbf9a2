/** The host's task and memory limits, for the defaults of the caps on all jobs. */
import assert from "node:assert/strict";
import {
  parseMemTotal,
  parseProcSysCount,
  readHostTaskLimits,
  readMemTotal,
} from "../../lib/cgroup/host.ts";

const MEMINFO = `MemTotal:       24683584 kB
MemFree:        20123456 kB
MemAvailable:   22000000 kB
SwapTotal:             0 kB
`;

Deno.test("cgroup host: /proc/sys counts and MemTotal are parsed exactly", () => {
  assert.equal(parseProcSysCount("kernel.pid_max", "32768\n"), 32768);
  assert.equal(parseProcSysCount("kernel.threads-max", "192726\n"), 192726);
  assert.throws(
    () => parseProcSysCount("kernel.pid_max", "lots\n"),
    /^Error: kernel.pid_max is not a whole number: "lots"$/,
  );
  assert.equal(parseMemTotal(MEMINFO), 24683584 * 1024);
  assert.throws(() => parseMemTotal("MemFree: 1 kB\n"), /\/proc\/meminfo has no MemTotal line/);
});

Deno.test("cgroup host: the readers read /proc/sys/kernel and /proc/meminfo", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-proc-" });
  try {
    await Deno.writeTextFile(`${dir}/pid_max`, "4194304\n");
    await Deno.writeTextFile(`${dir}/threads-max`, "192726\n");
    await Deno.writeTextFile(`${dir}/meminfo`, MEMINFO);
    assert.deepEqual(await readHostTaskLimits(dir), { pidMax: 4194304, threadsMax: 192726 });
    assert.equal(await readMemTotal(`${dir}/meminfo`), 25_275_990_016);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // And the real files, whose values this test reads on its own.
  const real = await readHostTaskLimits();
  assert.equal(real.pidMax, Number((await Deno.readTextFile("/proc/sys/kernel/pid_max")).trim()));
  assert.equal(
    real.threadsMax,
    Number((await Deno.readTextFile("/proc/sys/kernel/threads-max")).trim()),
  );
});
