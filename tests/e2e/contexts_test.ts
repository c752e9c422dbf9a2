/**
 * Many workers from one client config: named contexts (kubectl-style), `--context`,
 * `ijrctl context list|use`, and `rootfs upload|list --all-contexts` fanning out to three real
 * ijrd on loopback, one of them down: its error is reported on its own line, the others
 * succeed, and the exit code says that one failed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { busyboxTarball } from "../helpers/busybox.ts";
import { runEntry } from "../helpers/cli.ts";
import { cleanupDaemon, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";

rootTest(
  "e2e: contexts pick a worker; --all-contexts fans out, reporting the worker that is down",
  async () => {
    const daemons: TestDaemon[] = [];
    try {
      for (let i = 0; i < 3; i++) daemons.push(await startDaemon());
      const [one, two, three] = daemons;
      // One CA and one admin certificate for every worker, as on a real cluster.
      const worker = (name: string, daemon: TestDaemon) => ({
        name,
        server: `localhost:${daemon.port}`,
        ca: join(one.dir, "ca.crt"),
        cert: join(one.dir, "admin.crt"),
        key: join(one.dir, "admin.key"),
      });
      const config = join(one.dir, "cluster.json");
      Deno.writeTextFileSync(
        config,
        JSON.stringify({
          "current-context": "w1",
          contexts: [worker("w1", one), worker("w2", two), worker("w3", three)],
        }),
      );
      const ctl = (args: string[]) => runEntry("ctl.ts", args, { env: { IJR_CONFIG: config } });

      const list = await ctl(["context", "list"]);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(
        list.stdout,
        "CURRENT  NAME  SERVER\n" +
          `*        w1    localhost:${one.port}\n` +
          `         w2    localhost:${two.port}\n` +
          `         w3    localhost:${three.port}\n`,
      );

      // w3 goes down; the fan-out reaches the other two and names the one it could not.
      assert.equal(await three.stop(), 0);
      const tarball = await busyboxTarball();
      const upload = await ctl([
        "rootfs",
        "upload",
        "--all-contexts",
        `--file=${tarball}`,
        "--name=bb",
      ]);
      assert.equal(upload.code, 1, upload.stderr);
      const uploaded = upload.stdout.split("\n");
      assert.equal(uploaded.length, 3);
      assert.match(uploaded[0], /^w1: uploaded rootfs bb: \d+ entries, [\d.]+ [KM]iB$/);
      assert.equal(uploaded[1], uploaded[0].replace(/^w1:/, "w2:"));
      assert.equal(uploaded[2], "");
      assert.match(
        upload.stderr,
        new RegExp(
          `^ijrctl rootfs upload: w3: cannot reach ijrd at localhost:${three.port}: .*` +
            `ECONNREFUSED 127\\.0\\.0\\.1:${three.port}.*\n$`,
        ),
      );

      const listed = await ctl(["rootfs", "list", "--all-contexts"]);
      assert.equal(listed.code, 1);
      assert.equal(listed.stdout, "w1: bb\nw2: bb\n");
      assert.match(listed.stderr, /^ijrctl rootfs list: w3: cannot reach ijrd at /);
      assert.equal(listed.stderr.split("\n").length, 2);
      const json = await ctl(["rootfs", "list", "--all-contexts", "--json"]);
      assert.equal(json.code, 1);
      const workers = JSON.parse(json.stdout);
      assert.deepEqual(workers.map((w: { context: string }) => w.context), ["w1", "w2", "w3"]);
      assert.deepEqual(workers[0].rootfs.map((r: { name: string }) => r.name), ["bb"]);
      assert.deepEqual(workers[1].rootfs.map((r: { name: string }) => r.name), ["bb"]);
      assert.match(workers[2].error, /^cannot reach ijrd at /);

      // --context picks a worker for one command; context use changes the default.
      const onTwo = await ctl([
        "job",
        "start",
        "--context=w2",
        "--rootfs=bb",
        "--output",
        "--",
        "echo",
        "on two",
      ]);
      assert.equal(onTwo.code, 0, onTwo.stderr);
      const twoJob = onTwo.stdout.split("\n")[0];
      assert.equal(onTwo.stdout, `${twoJob}\non two\n`);
      assert.ok(two.stderr().includes(`"method":"/ijr.v1.JobService/StartJob","job":"${twoJob}"`));
      assert.ok(!one.stderr().includes("StartJob"));
      const used = await ctl(["context", "use", "w2"]);
      assert.deepEqual([used.code, used.stdout], [0, 'switched to context "w2"\n']);
      const jobs = await ctl(["job", "list", "--all", "--json"]);
      assert.deepEqual(JSON.parse(jobs.stdout).map((j: { id: string }) => j.id), [twoJob]);
      const again = await ctl(["context", "use", "w2"]);
      assert.deepEqual(
        [again.code, again.stdout],
        [0, 'context "w2" is the current one already\n'],
      );
      const current = JSON.parse((await ctl(["context", "list", "--json"])).stdout);
      assert.deepEqual(current.map((c: { current: boolean }) => c.current), [false, true, false]);

      const unknown = await ctl(["job", "list", "--context=w9"]);
      assert.deepEqual(
        [unknown.code, unknown.stderr],
        [1, `ijrctl job list: no context "w9" in config file ${config} (it has: w1, w2, w3)\n`],
      );
      const conflict = await ctl(["rootfs", "list", "--all-contexts", "--context=w1"]);
      assert.deepEqual(
        [conflict.code, conflict.stderr],
        [2, "ijrctl rootfs list: --all-contexts and --context exclude each other\n"],
      );

      // A config file of one worker, as before contexts, is the context "default".
      const single = await runEntry("ctl.ts", ["context", "list"], {
        env: { IJR_CONFIG: one.configs.alice },
      });
      assert.equal(
        single.stdout,
        `CURRENT  NAME     SERVER\n*        default  localhost:${one.port}\n`,
      );
      const fanOne = await runEntry("ctl.ts", ["rootfs", "list", "--all-contexts"], {
        env: { IJR_CONFIG: one.configs.alice },
      });
      assert.deepEqual([fanOne.code, fanOne.stdout], [0, "default: bb\n"]);
    } finally {
      for (const daemon of daemons) await cleanupDaemon(daemon);
    }
  },
);
