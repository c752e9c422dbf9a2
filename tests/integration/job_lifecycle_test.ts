/** Exit codes, signals, stop with grace, timeouts, orphans, start errors, restarts. */
import assert from "node:assert/strict";
import { JobManager, type StartJobRequest } from "../../lib/job/mod.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import {
  FixtureRootfs,
  folderMadeAhead,
  outputText,
  processesInNamespaceOf,
  startBusybox,
  withManager,
} from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

rootTest("lifecycle: exit 3 is exited(3); kill -9 $$ is killed(SIGKILL)", async () => {
  await withManager(async (manager) => {
    const three = await startBusybox(manager, ["sh", "-c", "exit 3"]);
    const killed = await startBusybox(manager, ["sh", "-c", "kill -9 $$"]);
    const a = await manager.wait(three.id);
    const b = await manager.wait(killed.id);
    assert.deepEqual([a.state, a.exitCode, a.signal], ["exited", 3, undefined]);
    assert.deepEqual([b.state, b.exitCode, b.signal], ["killed", undefined, 9]);
    assert.ok(a.endedAt && a.endedAt >= a.startedAt);
  });
});

rootTest(
  "lifecycle: a job that ends before its start returns is recorded after the start returned",
  async () => {
    // A command as short as `true` often ends before the thread that spawned it is back; its
    // end, recorded at once, held back the answer to its start (bench/README.md). Recorded in a
    // later turn, the start's caller sees the job running, and then its end.
    for (const liveRestore of [false, true]) {
      await withManager(async (manager, { stateDir }) => {
        for (let round = 0; round < 10; round++) {
          const started = await startBusybox(manager, ["true"]);
          assert.equal(started.state, "running");
          const record = JSON.parse(
            Deno.readTextFileSync(`${stateDir}/jobs/${started.id}/job.json`),
          );
          assert.equal(record.state, "running", `round ${round}`);
          const final = await manager.wait(started.id);
          assert.deepEqual([final.state, final.exitCode], ["exited", 0]);
          assert.equal(manager.get(started.id)?.state, "exited");
        }
      }, { liveRestore });
    }
  },
);

rootTest(
  "lifecycle: stop sends SIGTERM; a job that ignores it is killed after the grace period",
  async () => {
    await withManager(async (manager) => {
      const polite = await startBusybox(manager, ["sleep", "60"]);
      const stopped = await manager.stop(polite.id, { graceMs: 5000 });
      assert.deepEqual([stopped.state, stopped.signal], ["stopped", 15]);

      const stubborn = await startBusybox(manager, [
        "sh",
        "-c",
        "trap '' TERM; echo ready; while true; do sleep 1; done",
      ]);
      await new Promise((r) => setTimeout(r, 300));
      const started = performance.now();
      const final = await manager.stop(stubborn.id, { graceMs: 700 });
      const took = performance.now() - started;
      assert.deepEqual([final.state, final.signal], ["stopped", 9]);
      assert.ok(took >= 650, `killed only after the grace period (${took.toFixed(0)} ms)`);
      assert.equal(final.message, "stopped by request");
    });
  },
);

rootTest("lifecycle: a stop racing a natural exit reports the exit", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, ["sh", "-c", "exit 4"]);
    await manager.wait(job.id);
    const after = await manager.stop(job.id, { graceMs: 100 });
    assert.deepEqual([after.state, after.exitCode], ["exited", 4]);
    // A command that handles SIGTERM and exits with its own status reports that status.
    const graceful = await startBusybox(manager, [
      "sh",
      "-c",
      "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    await new Promise((r) => setTimeout(r, 300));
    const final = await manager.stop(graceful.id, { graceMs: 5000 });
    assert.deepEqual([final.state, final.exitCode], ["exited", 0]);
  });
});

rootTest("lifecycle: a double-forked background process is gone after stop", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, [
      "sh",
      "-c",
      "(sleep 1000 &) ; (setsid sleep 1001 &); sleep 1002",
    ]);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(processesInNamespaceOf(job.pid!).length, 4, "init, sh and two escaped sleeps");
    await manager.stop(job.id, { graceMs: 500 });
    for (let i = 0; i < 50 && processesInNamespaceOf(job.pid!).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(processesInNamespaceOf(job.pid!), []);
  });
});

rootTest("lifecycle: 100 orphans inside one job are reaped by its init", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, [
      "sh",
      "-c",
      "for i in $(seq 100); do (true &); done; sleep 1; ps -o stat,comm | grep -c '^Z' ; true",
    ]);
    const final = await manager.wait(job.id);
    assert.equal(final.exitCode, 0);
    assert.equal(await outputText(manager, job.id), "0\n");
  });
});

rootTest("lifecycle: timeout stops the job", async () => {
  await withManager(async (manager) => {
    const job = await startBusybox(manager, ["sleep", "60"], { timeoutMs: 300 });
    const final = await manager.wait(job.id);
    assert.equal(final.state, "stopped");
    assert.equal(final.signal, 15);
    assert.equal(final.message, "timed out after 300 ms");
  });
});

rootTest(
  "start errors are synchronous, precise, and leave nothing behind; spawned on this thread or, for jobs that outlive ijrd, on the pool",
  async () => {
    // A second rootfs with the odd cases: a script whose interpreter is missing, an
    // executable without a #! line, a file without the execute bit, found through PATH.
    const odd = await Deno.makeTempDir({ prefix: "ijr-jobs-odd-" });
    try {
      Deno.mkdirSync(`${odd}/bin`);
      Deno.writeTextFileSync(`${odd}/bin/orphan-script`, "#!/no/such/interpreter\n");
      Deno.writeTextFileSync(`${odd}/bin/no-shebang`, "echo hi\n");
      Deno.writeTextFileSync(`${odd}/bin/not-executable`, "#!/bin/sh\n");
      Deno.chmodSync(`${odd}/bin/orphan-script`, 0o755);
      Deno.chmodSync(`${odd}/bin/no-shebang`, 0o755);
      Deno.chmodSync(`${odd}/bin/not-executable`, 0o644);
      // Without live restore the job is spawned on this thread; with it, on the blocking pool.
      for (const liveRestore of [false, true]) {
        await withManager(async (manager, { stateDir, rootfs }) => {
          rootfs.trees.odd = odd;
          const cases: (Partial<StartJobRequest> & { code: string; message: string })[] = [
            {
              argv: ["/bin/nosuch"],
              code: "FAILED_PRECONDITION",
              message: "command not found in rootfs: /bin/nosuch: no such file or directory",
            },
            {
              argv: ["nosuch"],
              code: "FAILED_PRECONDITION",
              message:
                "command not found in rootfs: nosuch (searched PATH): no such file or directory",
            },
            {
              argv: ["/etc/passwd"],
              code: "FAILED_PRECONDITION",
              message: "command is not executable: /etc/passwd: permission denied",
            },
            {
              argv: ["/etc"],
              code: "FAILED_PRECONDITION",
              message: "command is a directory: /etc",
            },
            {
              rootfs: "odd",
              argv: ["/bin/orphan-script"],
              code: "FAILED_PRECONDITION",
              message:
                "interpreter of the command not found in rootfs: /bin/orphan-script: no such file or directory",
            },
            {
              rootfs: "odd",
              argv: ["/bin/no-shebang"],
              code: "FAILED_PRECONDITION",
              message:
                "command is not in an executable format (no #! line?): /bin/no-shebang: exec format error",
            },
            {
              rootfs: "odd",
              argv: ["not-executable"],
              env: ["PATH=/bin"],
              code: "FAILED_PRECONDITION",
              message: "command is not executable: /bin/not-executable: permission denied",
            },
            {
              argv: ["sh"],
              workdir: "/nope",
              code: "FAILED_PRECONDITION",
              message: "working directory not usable in rootfs: /nope: no such file or directory",
            },
            { rootfs: "nope", argv: ["true"], code: "NOT_FOUND", message: "rootfs nope not found" },
            {
              argv: [],
              code: "INVALID_ARGUMENT",
              message: "argv must not be empty: argv[0] is the command",
            },
            {
              argv: ["true"],
              env: ["NOEQUALS"],
              code: "INVALID_ARGUMENT",
              message: 'env[0] must be KEY=VALUE, got "NOEQUALS"',
            },
            {
              argv: ["true"],
              workdir: "etc",
              code: "INVALID_ARGUMENT",
              message: 'workdir must be an absolute path, got "etc"',
            },
            {
              argv: ["true"],
              limits: { cpuShares: 1 },
              code: "INVALID_ARGUMENT",
              message: "limits.cpu_shares must be from 2 to 262144, got 1",
            },
          ];
          for (const { code, message, ...request } of cases) {
            await assert.rejects(
              startBusybox(manager, [], { ...request }),
              (error: unknown) => {
                assert.ok(error instanceof IjrError, String(error));
                assert.deepEqual([error.code, error.message], [code, message]);
                return true;
              },
            );
          }
          // Once shut down (which removes the folder made ahead for the next job,
          // lib/job/job_folders.ts), not a folder is left.
          await manager.shutdown();
          assert.deepEqual([...Deno.readDirSync(`${stateDir}/jobs`)], []);
          assert.equal(rootfs.leases.size, 0);
          assert.deepEqual(manager.list({ includeFinished: true }), []);
        }, { liveRestore });
      }
    } finally {
      await Deno.remove(odd, { recursive: true });
    }
  },
);

rootTest(
  "restart: finished jobs stay listed and streamable; running ones become lost",
  async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
    const busybox = await busyboxRootfsDir();
    try {
      // A real supervisor dies: a separate Deno process runs two jobs, prints their IDs, and
      // is SIGKILLed while the second runs (its init dies with it: parent-death signal).
      const script = `
      import { JobManager } from "${new URL("../../lib/job/mod.ts", import.meta.url)}";
      import { FixtureRootfs, startBusybox } from "${new URL(
        "../helpers/jobs.ts",
        import.meta.url,
      )}";
      const manager = await JobManager.open({
        stateDir: ${JSON.stringify(stateDir)},
        rootfs: new FixtureRootfs({ busybox: ${JSON.stringify(busybox)} }),
      });
      const done = await startBusybox(manager, ["echo", "kept"]);
      await manager.wait(done.id);
      const running = await startBusybox(manager, ["sleep", "60"]);
      console.log(JSON.stringify([done.id, running.id, running.pid]));
      await new Promise(() => {});
    `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.getReader();
      const { value } = await reader.read();
      const [doneId, runningId, initPid] = JSON.parse(new TextDecoder().decode(value));
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel();
      for (let i = 0; i < 100 && processesInNamespaceOf(initPid).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(processesInNamespaceOf(initPid), [], "the job died with its supervisor");

      const rootfs = new FixtureRootfs({ busybox });
      const manager = await JobManager.open({ stateDir, rootfs });
      const jobs = manager.list({ includeFinished: true });
      assert.deepEqual(jobs.map((j) => [j.id, j.state]), [[doneId, "exited"], [runningId, "lost"]]);
      assert.equal(await outputText(manager, doneId), "kept\n");
      assert.equal(
        manager.get(runningId)?.message,
        "ijrd stopped while the job was running, and its init ended without recording how " +
          "the job ended",
      );
      assert.throws(() => Deno.statSync(`${stateDir}/jobs/${runningId}/scratch`));
      assert.deepEqual(manager.list(), []);
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  },
);

rootTest(
  "start: a first record that cannot be written fails the start and leaves nothing",
  async () => {
    await withManager(async (manager, { stateDir, rootfs }) => {
      const first = await startBusybox(manager, ["true"]);
      await manager.wait(first.id);
      // The next start's record temp file is made ahead; a folder in its place makes the
      // record's write fail (EISDIR) while the job itself starts fine.
      const next = await folderMadeAhead(manager, stateDir);
      Deno.removeSync(`${next}/job.json.first`);
      Deno.mkdirSync(`${next}/job.json.first`);
      const id = next.split("/").at(-1)!;
      await assert.rejects(
        startBusybox(manager, ["sleep", "30"]),
        (error: unknown) => {
          assert.ok(error instanceof IjrError);
          assert.equal(error.code, "INTERNAL");
          assert.match(error.message, new RegExp(`^cannot record job ${id}: .*EISDIR`));
          return true;
        },
      );
      assert.deepEqual(manager.list({ includeFinished: true }).map((j) => j.id), [first.id]);
      assert.equal(manager.get(id), undefined);
      assert.throws(() => Deno.statSync(next), Deno.errors.NotFound);
      assert.equal(rootfs.leases.size, 0);
    });
  },
);

rootTest(
  "lifecycle: a job that ends before its first record is written leaves no timeout armed",
  async () => {
    // In a process of its own: a timeout left armed after the job ended would keep that
    // process alive (and later signal a pid that is no longer the job's) until it fires.
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    const stateDir = await Deno.makeTempDir({ prefix: "ijr-jobs-" });
    const libs = new URL("../../lib/job/mod.ts", import.meta.url).href;
    const helpers = new URL("../helpers/", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `
      import { JobManager } from "${libs}";
      import { busyboxRootfsDir } from "${helpers}busybox.ts";
      import { FixtureRootfs, folderMadeAhead, startBusybox } from "${helpers}jobs.ts";
      const rootfs = new FixtureRootfs({ busybox: await busyboxRootfsDir() });
      const manager = await JobManager.open({ stateDir: ${JSON.stringify(stateDir)}, rootfs });
      await manager.wait((await startBusybox(manager, ["true"])).id);
      // The next first record goes into a FIFO: its write waits until someone reads.
      const next = await folderMadeAhead(manager, ${JSON.stringify(stateDir)});
      Deno.removeSync(next + "/job.json.first");
      new Deno.Command("mkfifo", { args: [next + "/job.json.first"] }).outputSync();
      const starting = startBusybox(manager, ["true"], { timeoutMs: 60_000 });
      // Let the job run and end while its record waits, then let the record through.
      await new Promise((r) => setTimeout(r, 500));
      const fifo = await Deno.open(next + "/job.json.first", { read: true });
      const sink = new Uint8Array(65536);
      while ((await fifo.read(sink)) !== null) { /* drain */ }
      fifo.close();
      const job = await starting;
      const final = await manager.wait(job.id);
      await manager.shutdown();
      console.log(final.state, final.exitCode);
      `,
    );
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const out = await child.output();
      clearTimeout(killer);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.signal, null, `still alive after 20 s: a timer outlived the job\n${stderr}`);
      assert.equal(new TextDecoder().decode(out.stdout), "exited 0\n", stderr);
    } finally {
      await Deno.remove(script);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
);
