/**
 * Jobs' network and IPC namespaces made ahead (lib/job/namespace_pool.ts): a job enters a
 * fresh pair from the pool, with its loopback up; no two jobs ever share one; ijrd keeps no
 * descriptor of a job's namespaces once its start returns, and none of the pool's after
 * shutdown.
 */
import assert from "node:assert/strict";
import { IjrError } from "../../lib/errors/mod.ts";
import { NamespacePool, NAMESPACES_MADE_AHEAD } from "../../lib/job/namespace_pool.ts";
import { closeJobNamespaces, spawnJob } from "../../lib/native/mod.ts";
import { busyboxRootfsDir } from "../helpers/busybox.ts";
import type { JobManager } from "../../lib/job/mod.ts";
import { startBusybox, withManager } from "../helpers/jobs.ts";
import { rootTest } from "../helpers/root.ts";

/** The namespaces this process holds descriptors of, as "net:[inode]" / "ipc:[inode]". */
function namespacesHeld(): string[] {
  const links: string[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const link = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
      if (/^(net|ipc):\[\d+\]$/.test(link)) links.push(link);
    } catch { /* closed meanwhile (the listing's own descriptor) */ }
  }
  return links.sort();
}

/** Follows a running job's output until it has `text`: what the job printed before it waits. */
async function printed(manager: JobManager, id: string, text: string): Promise<void> {
  const decoder = new TextDecoder();
  let seen = "";
  for await (const chunk of manager.output(id)) {
    seen += decoder.decode(chunk, { stream: true });
    if (seen === text) return;
  }
  assert.equal(seen, text);
}

const kinds = (links: string[], kind: "net" | "ipc") => links.filter((l) => l.startsWith(kind));

/** Runs one job to its end, then waits for the pool it started to be full. */
async function fillPool(manager: JobManager): Promise<void> {
  const first = await startBusybox(manager, ["true"]);
  await manager.wait(first.id);
  await manager.settled();
}

rootTest(
  "namespaces made ahead: a job enters a pair from the pool, loopback up; ijrd lets go of it",
  async () => {
    await withManager(async (manager) => {
      await fillPool(manager);
      const held = namespacesHeld();
      assert.equal(kinds(held, "net").length, NAMESPACES_MADE_AHEAD);
      assert.equal(kinds(held, "ipc").length, NAMESPACES_MADE_AHEAD);

      const job = await startBusybox(manager, [
        "sh",
        "-c",
        "ls /sys/class/net; cat /sys/class/net/lo/operstate; sleep 30",
      ]);
      const net = Deno.readLinkSync(`/proc/${job.pid}/ns/net`);
      const ipc = Deno.readLinkSync(`/proc/${job.pid}/ns/ipc`);
      // The job's namespaces are two the pool held, and ijrd holds them no more.
      assert.ok(held.includes(net), `${net} was not one of the pool's: ${held}`);
      assert.ok(held.includes(ipc), `${ipc} was not one of the pool's: ${held}`);
      const after = namespacesHeld();
      assert.ok(!after.includes(net) && !after.includes(ipc), `still held: ${after}`);
      assert.notEqual(net, Deno.readLinkSync("/proc/self/ns/net"));
      assert.notEqual(ipc, Deno.readLinkSync("/proc/self/ns/ipc"));

      await printed(manager, job.id, "lo\nunknown\n");
      const final = await manager.stop(job.id, { graceMs: 0 });
      assert.equal(final.state, "stopped");
    });
  },
);

rootTest(
  "namespaces made ahead: jobs started at once, beyond the pool's reserve, share none",
  async () => {
    await withManager(async (manager) => {
      await fillPool(manager);
      const count = NAMESPACES_MADE_AHEAD + 3; // some from the pool, the rest made by the clone
      const jobs = await Promise.all(
        Array.from(
          { length: count },
          () => startBusybox(manager, ["sh", "-c", "cat /sys/class/net/lo/operstate; sleep 30"]),
        ),
      );
      const nets = new Set(jobs.map((job) => Deno.readLinkSync(`/proc/${job.pid}/ns/net`)));
      const ipcs = new Set(jobs.map((job) => Deno.readLinkSync(`/proc/${job.pid}/ns/ipc`)));
      nets.add(Deno.readLinkSync("/proc/self/ns/net"));
      ipcs.add(Deno.readLinkSync("/proc/self/ns/ipc"));
      assert.equal(nets.size, count + 1);
      assert.equal(ipcs.size, count + 1);
      for (const job of jobs) {
        await printed(manager, job.id, "unknown\n");
        await manager.stop(job.id, { graceMs: 0 });
      }
    });
  },
);

rootTest("namespace pool: made after the first take, closed at close", async () => {
  const before = namespacesHeld();
  const pool = new NamespacePool({ reserve: 2 });
  assert.equal(pool.take(), undefined); // nothing made before anyone asked
  await pool.settled();
  assert.equal(pool.ready, 2);
  const made = namespacesHeld().filter((link) => !before.includes(link));
  assert.equal(made.length, 4);
  await pool.close();
  assert.equal(pool.ready, 0);
  assert.deepEqual(namespacesHeld(), before);
});

rootTest("a descriptor that is no network namespace fails the start at that step", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-ns-step-" });
  const pool = new NamespacePool({ reserve: 1 });
  pool.take();
  await pool.settled();
  const pair = pool.take()!;
  try {
    await Deno.mkdir(`${dir}/mnt`);
    const lowerDir = await busyboxRootfsDir();
    // The pair swapped: setns refuses an IPC namespace where a network one belongs (EINVAL).
    assert.throws(
      () =>
        spawnJob({
          mountPoint: `${dir}/mnt`,
          lowerDir,
          scratch: { memoryBytes: 1024 * 1024 },
          hostname: "ns-step",
          outputPath: `${dir}/output`,
          endPath: `${dir}/end`,
          workdir: "/",
          argv: ["true"],
          env: [],
          cgroupTaskFiles: [],
          namespaces: { netFd: pair.ipcFd, ipcFd: pair.netFd },
        }),
      (error: unknown) =>
        error instanceof IjrError && error.code === "INTERNAL" &&
        error.message ===
          "cannot enter the network namespace made for the job: invalid argument",
    );
  } finally {
    closeJobNamespaces(pair);
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});
