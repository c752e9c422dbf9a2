/**
 * Live restore in the job engine, on the real kernel and cgroups (v1 on this host): a
 * manager's shutdown leaves its jobs running, and the next manager over the same state
 * folder adopts those that still run and records the end of those that ended meanwhile.
 * (Two managers in one process: the inits stay this process's children, so the adopted
 * ones are reaped here too. tests/e2e/live_restore_test.ts restarts a real ijrd.)
 */
import assert from "node:assert/strict";
import { JobManager } from "../../lib/job/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import { parentDirsOf, withTestController } from "../helpers/cgroup_support.ts";
import {
  FixtureRootfs,
  outputText,
  processesInNamespaceOf,
  startBusybox,
} from "../helpers/jobs.ts";
import { reapEndedInits } from "../helpers/orphans.ts";
import { rootTest } from "../helpers/root.ts";
import { sleep, waitFor } from "../helpers/wait.ts";

rootTest(
  "live restore: a manager leaves its jobs running; the next adopts them and records the ends it missed",
  async () => {
    await withTestController(async (cgroups) => {
      const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
      const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
      const options = { stateDir, rootfs, cgroups, liveRestore: true, defaultGraceMs: 500 };
      let second: JobManager | undefined;
      try {
        const first = await JobManager.open(options);
        const sleeper = await startBusybox(first, ["sleep", "60"]);
        const quitter = await startBusybox(first, ["sh", "-c", "sleep 0.3; echo bye; exit 7"]);
        const timed = await startBusybox(first, ["sleep", "60"], { timeoutMs: 400 });
        await first.shutdown();
        // Left running, with their records saying so.
        assert.equal(processesInNamespaceOf(sleeper.pid!).length, 2);
        const record = JSON.parse(
          await Deno.readTextFile(`${stateDir}/jobs/${sleeper.id}/job.json`),
        );
        assert.deepEqual([record.state, record.initProtocol], ["running", 3]);

        // Both short jobs end while no manager watches them.
        await sleep(1000);
        second = await JobManager.open(options);
        assert.deepEqual(second.list().map((job) => [job.id, job.state]), [
          [sleeper.id, "running"],
        ]);
        assert.equal(second.get(sleeper.id)?.pid, sleeper.pid);
        const quit = second.get(quitter.id)!;
        assert.deepEqual([quit.state, quit.exitCode, quit.signal], ["exited", 7, undefined]);
        assert.ok(quit.endedAt! < new Date(Date.now() - 500), "the end the init recorded");
        assert.ok(quit.cpuNanos !== undefined && quit.memoryPeakBytes! > 0);
        assert.equal(await outputText(second, quitter.id), "bye\n");
        const timedOut = second.get(timed.id)!;
        assert.deepEqual([timedOut.state, timedOut.signal, timedOut.message], [
          "stopped",
          15,
          "timed out after 400 ms",
        ]);

        // The adopted job is served like any other: stop it through the new manager.
        const stopped = await second.stop(sleeper.id, { graceMs: 1000 });
        assert.deepEqual([stopped.state, stopped.signal, stopped.message], [
          "stopped",
          15,
          "stopped by request",
        ]);
        assert.ok(
          await waitFor(
            () => Promise.resolve(processesInNamespaceOf(sleeper.pid!).length === 0),
            2000,
          ),
        );
        // The two that ended with no manager watching are zombies of this process, as they
        // would be of systemd's; reaped here. Nothing of the three jobs is left in the cgroups.
        assert.equal(reapEndedInits(), 0);
        await second.settled(); // the cgroups go after the ends are reported
        for (const dir of parentDirsOf(cgroups)) {
          assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.isDirectory), []);
        }
      } finally {
        await second?.shutdown();
        await Deno.remove(stateDir, { recursive: true });
      }
    });
  },
);

rootTest(
  "live restore: a running job whose init speaks another protocol is left running and said so; an ijrd of a newer state folder refuses to open",
  async () => {
    await withTestController(async (cgroups) => {
      const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
      const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
      const options = { stateDir, rootfs, cgroups, liveRestore: true };
      try {
        const first = await JobManager.open(options);
        const sleeper = await startBusybox(first, ["sleep", "60"]);
        await first.shutdown();
        // As if the previous ijrd's init spoke protocol 2.
        const recordPath = `${stateDir}/jobs/${sleeper.id}/job.json`;
        const record = JSON.parse(await Deno.readTextFile(recordPath));
        await Deno.writeTextFile(recordPath, JSON.stringify({ ...record, initProtocol: 2 }));
        const errors: string[] = [];
        const consoleError = console.error;
        console.error = (line: string) => errors.push(line);
        let second: JobManager;
        try {
          second = await JobManager.open(options);
        } finally {
          console.error = consoleError;
        }
        const reason = "its init speaks protocol 2, which this ijrd cannot adopt";
        assert.deepEqual(errors, [`ijrd: job ${sleeper.id} is left running: ${reason}`]);
        const lost = second.get(sleeper.id)!;
        assert.deepEqual([lost.state, lost.message], ["lost", `${reason}; left running`]);
        assert.equal(processesInNamespaceOf(sleeper.pid!).length, 2, "still running");
        await second.shutdown();

        // The next manager finds it recorded as lost: its cgroup is stale, and goes with it.
        // (Its init is this process's child, reaped here once killed.)
        const third = await JobManager.open(options);
        assert.ok(
          await waitFor(() => Promise.resolve(reapEndedInits() === 0), 2000),
          "the stale job's init was killed",
        );
        assert.throws(() => Deno.statSync(`/proc/${sleeper.pid}`), Deno.errors.NotFound);
        await third.shutdown();

        await Deno.writeTextFile(`${stateDir}/state.json`, '{"version":3}\n');
        await assert.rejects(
          JobManager.open(options),
          new RegExp(`^Error: the state folder ${stateDir} was written by a newer ijrd`),
        );
      } finally {
        await Deno.remove(stateDir, { recursive: true });
      }
    });
  },
);

rootTest(
  "live restore: a shutdown waits for a start in flight, whose job is let go with the rest and adopted by the next manager",
  async () => {
    await withTestController(async (cgroups) => {
      const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
      const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
      const options = { stateDir, rootfs, cgroups, liveRestore: true };
      const first = await JobManager.open(options);
      let second: JobManager | undefined;
      try {
        // Shut down while the start is in flight (its spawn runs on the blocking pool).
        const starting = startBusybox(first, ["sleep", "30"]);
        await first.shutdown();
        const job = await starting;
        assert.equal(first.running, 0, "the manager that let go holds nothing of the job");
        second = await JobManager.open(options);
        assert.deepEqual([second.get(job.id)?.state, second.get(job.id)?.pid], [
          "running",
          job.pid,
        ]);
        const final = await second.stop(job.id, { graceMs: 500 });
        assert.deepEqual([final.state, final.signal], ["stopped", 15]);
      } finally {
        await second?.shutdown();
        reapEndedInits();
        await Deno.remove(stateDir, { recursive: true });
      }
    });
  },
);
