/**
 * A Debian bookworm rootfs runs unchanged in a job with its own user namespace and the
 * default seccomp filter: dpkg, perl and sh print exactly what they print when the same
 * rootfs is entered with chroot on the host, as the host's root with no filter.
 */
import assert from "node:assert/strict";
import { UsernsPool } from "../../lib/job/mod.ts";
import { debianRootfsDir } from "../helpers/debian.ts";
import { FixtureRootfs, outputText, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

const SCRIPTS: string[][] = [
  ["dpkg", "-l"],
  ["perl", "-e", 'print join(",", map { $_ * 2 } 1..5), "\\n"; print scalar(getpwuid($<)), "\\n"'],
  ["sh", "-c", "for i in 1 2 3; do echo line $i; done; id -u; ls -ld /usr/bin; umask"],
  [
    "sh",
    "-c",
    "echo data > /tmp/f && cat /tmp/f && mkdir /var/tmp/d && stat -c '%U %G %a %n' /var/tmp/d",
  ],
];

async function onHost(root: string, argv: string[]): Promise<string> {
  const out = await new Deno.Command("chroot", {
    args: [root, ...argv],
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

rootTest(
  "debian: dpkg -l, perl -e and sh -c scripts run unchanged under userns and seccomp",
  async () => {
    const root = await debianRootfsDir();
    await withManager(async (manager) => {
      for (const argv of SCRIPTS) {
        const job = await manager.start({ owner: "t", rootfs: "debian", argv });
        const end = await manager.wait(job.id);
        const output = await outputText(manager, job.id);
        assert.equal(end.exitCode, 0, `${argv.join(" ")}: ${output}`);
        // The chroot's writes go to the host's tree: run the writing script on the host only
        // after the job, and undo what it made.
        const expected = await onHost(root, argv);
        await Deno.remove(`${root}/tmp/f`).catch(() => {});
        await Deno.remove(`${root}/var/tmp/d`, { recursive: true }).catch(() => {});
        // ls -ld shows dates and times: the same tree, but normalized all the same.
        const normalize = (text: string) => text.replace(/\w{3} +\d+ \d\d:\d\d/g, "DATE");
        assert.equal(normalize(output), normalize(expected), argv.join(" "));
      }
      const job = manager.list({ includeFinished: true })[0];
      assert.equal(job.isolation?.seccomp, true);
      assert.ok(job.isolation?.userNamespace);
    }, {
      rootfs: new FixtureRootfs({ debian: root }),
      userns: new UsernsPool(1_960_000_000 - (1_960_000_000 % 65536), 2 * 65536),
    });
  },
);
