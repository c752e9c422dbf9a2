/**
 * Removing a job's cgroup on this host's real kernel: a job's cgroup goes with one rmdir per
 * hierarchy when it has no child cgroups (the common case, which lists nothing), and when the
 * job made child cgroups below it (two levels, in every hierarchy) they go first, leaf first,
 * and then the job's own. The kernel's count of a cgroup's children (its link count) is exact.
 */
import assert from "node:assert/strict";
import { resolveJobLimits, userGroupName } from "../../lib/cgroup/mod.ts";
import type { JobCgroupHandle } from "../../lib/cgroup/job_cgroup.ts";
import { hostCgroupFs } from "../../lib/cgroup/fs.ts";
import { withTestController } from "../helpers/cgroup_support.ts";
import { rootTest } from "../helpers/root.ts";

const exists = (path: string) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

rootTest("cgroup removal: a job's child cgroups go first, then the job's own", async () => {
  await withTestController(async (controller) => {
    const limits = await resolveJobLimits({});
    const group = userGroupName("alice");
    const plain = await controller.create("job-plain", limits, group) as JobCgroupHandle;
    const nested = await controller.create("job-nested", limits, group) as JobCgroupHandle;
    assert.ok(nested.directories.length > 0);
    for (const dir of nested.directories) {
      Deno.mkdirSync(`${dir}/inner`);
      Deno.mkdirSync(`${dir}/inner/deeper`);
      Deno.mkdirSync(`${dir}/beside`);
    }
    // The kernel's count of child cgroups (the link count, which UserGroups reads instead of
    // listing a group): direct children only, none of the control files.
    for (const dir of nested.directories) {
      assert.equal(await hostCgroupFs.childCount(dir), 2, dir);
      assert.equal(await hostCgroupFs.childCount(`${dir}/inner`), 1, dir);
    }
    for (const dir of plain.directories) assert.equal(await hostCgroupFs.childCount(dir), 0, dir);
    await plain.remove();
    for (const dir of plain.directories) assert.equal(exists(dir), false, `${dir} is left`);
    await nested.remove();
    for (const dir of nested.directories) {
      for (const path of [`${dir}/inner/deeper`, `${dir}/inner`, `${dir}/beside`, dir]) {
        assert.equal(exists(path), false, `${path} is left`);
      }
    }
  });
});
