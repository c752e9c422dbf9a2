/**
 * Runs the real ijrd (from source) as a separate process on a free loopback port, with a
 * fresh PKI, rootfs store and state folder, and writes an ijrctl config for each test user.
 * @module
 */

import { join } from "node:path";
import { IJRD_V8_FLAGS } from "../../lib/daemon/v8_flags.ts";
import { REPO } from "./cli.ts";
import { runEntry } from "./cli.ts";
import type { CliResult } from "./cli.ts";
import { testPki } from "./pki.ts";
import { busyboxTarball } from "./busybox.ts";
import { childCgroups, ownCgroupDirs } from "./own_cgroups.ts";

/** A running daemon and what clients need to reach it. */
export interface TestDaemon {
  readonly dir: string;
  readonly port: number;
  readonly rootfsDir: string;
  readonly stateDir: string;
  /** Config file paths per user: admin, alice, bob. */
  readonly configs: Record<"admin" | "alice" | "bob", string>;
  /** Everything ijrd wrote on stderr so far (request log lines). */
  stderr(): string;
  /** Runs ijrctl as `user` against this daemon. */
  ctl(user: "admin" | "alice" | "bob", args: string[]): Promise<CliResult>;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number>;
  /** The daemon process. */
  readonly process: Deno.ChildProcess;
}

/**
 * The V8 flags test daemons run with: ijrd's own (lib/daemon/v8_flags.ts, compiled into the
 * binary), or IJRD_V8_FLAGS from the environment to measure others.
 */
export const DAEMON_V8_FLAGS: string[] = [
  `--v8-flags=${Deno.env.get("IJRD_V8_FLAGS") ?? IJRD_V8_FLAGS.join(",")}`,
];

/** A TCP port on loopback that nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** How a test daemon is started, beyond its flags. */
export interface StartDaemonOptions {
  /**
   * Start ijrd the careless way a shell or service manager might: with a descriptor of the
   * host's "/" at 8 and a pipe (a FIFO opened read-write) at 9, neither close-on-exec.
   */
  readonly inheritRootAndPipe?: boolean;
  /**
   * Run with ijrd's default, live restore: jobs outlive the daemon, so the test must end
   * them itself. Otherwise the daemon runs with --no-live-restore and its jobs end with it.
   */
  readonly liveRestore?: boolean;
  /** More flags for `deno run` itself, such as `--inspect=127.0.0.1:0` for a profile. */
  readonly denoFlags?: readonly string[];
}

/** Starts ijrd and waits until it listens (or fails with its stderr). */
export async function startDaemon(
  extraFlags: string[] = [],
  reuse?: { dir: string; port: number },
  options: StartDaemonOptions = {},
): Promise<TestDaemon> {
  const pki = await testPki();
  const dir = reuse?.dir ?? Deno.makeTempDirSync({ prefix: "ijr-e2e-" });
  const write = (name: string, text: string, mode = 0o644) =>
    Deno.writeTextFileSync(join(dir, name), text, { mode });
  write("ca.crt", pki.ca.certPem);
  write("server.crt", pki.server.certPem);
  write("server.key", pki.server.keyPem, 0o600);
  const port = reuse?.port ?? freePort();
  const configs = {} as Record<"admin" | "alice" | "bob", string>;
  for (const user of ["admin", "alice", "bob"] as const) {
    write(`${user}.crt`, pki[user].certPem);
    write(`${user}.key`, pki[user].keyPem, 0o600);
    const config = {
      server: `localhost:${port}`,
      ca: "ca.crt",
      cert: `${user}.crt`,
      key: `${user}.key`,
    };
    write(`${user}.json`, JSON.stringify(config));
    configs[user] = join(dir, `${user}.json`);
  }
  const rootfsDir = join(dir, "rootfs");
  const stateDir = join(dir, "state");
  let command = Deno.execPath();
  let wrapper: string[] = [];
  if (options.inheritRootAndPipe) {
    const fifo = join(dir, "inherited.fifo");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    if (!made.success) throw new Error(`mkfifo ${fifo} failed`);
    command = "/bin/sh";
    wrapper = ["-c", `exec 8</ 9<>"$0"; exec "$@"`, fifo, Deno.execPath()];
  }
  const child = new Deno.Command(command, {
    args: [
      ...wrapper,
      "run",
      ...DAEMON_V8_FLAGS,
      ...(options.denoFlags ?? []),
      "-A",
      "--quiet",
      join(REPO, "daemon.ts"),
      "--server=localhost",
      `--port=${port}`,
      "--listen=127.0.0.1",
      `--cert=${join(dir, "server.crt")}`,
      `--key=${join(dir, "server.key")}`,
      `--ca=${join(dir, "ca.crt")}`,
      `--rootfs=${rootfsDir}`,
      `--state=${stateDir}`,
      // Its own cgroup parent: ijrd removes stale job cgroups under its parent at start-up,
      // so daemons sharing one (on v1 hosts, everything under the root cgroup does) would
      // kill each other's jobs.
      `--cgroup-parent=ijr-e2e-${Deno.pid}-${port}`,
      ...(options.liveRestore ? [] : ["--no-live-restore"]),
      ...extraFlags,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  let onListening: (ready: boolean) => void = () => {};
  const listening = new Promise<boolean>((resolve) => onListening = resolve);
  // One reader for the daemon's whole life: it signals readiness and keeps draining, so
  // the daemon never blocks on a full pipe. The log is searched only until the daemon
  // listens: searching it for every request's line costs this process time that grows with
  // the log, and benchmarks run their clients in this process.
  let sawListening = false;
  const drained = (async () => {
    try {
      for await (const chunk of child.stderr) {
        log += decoder.decode(chunk, { stream: true });
        if (!sawListening && log.includes('"msg":"listening"')) {
          sawListening = true;
          onListening(true);
        }
      }
    } catch { /* stream closed */ }
    onListening(false);
  })();
  // A daemon that dies by itself (a crash, an abort in native code, an uncaught error) is said
  // so at once, with its last words: a test then fails later on a refused connection, far from
  // the cause. SIGTERM and SIGKILL are what tests send it; a clean exit is a stop().
  void child.status.then(async (status) => {
    if (status.signal === "SIGTERM" || status.signal === "SIGKILL" || status.code === 0) return;
    await drained;
    if (!sawListening) return; // refused to start: startDaemon throws with its stderr
    console.error(
      `ijrd on port ${port} ended by itself (code ${status.code}, signal ${status.signal}); ` +
        `its stderr ended with:\n${log.slice(-4000)}`,
    );
  });
  const timer = setTimeout(() => onListening(false), 30_000);
  const ready = await listening;
  clearTimeout(timer);
  if (!ready) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    // A daemon killed before it listened may have made its job parent already.
    if (!reuse) await endLeftoverJobs(port);
    Deno.removeSync(dir, { recursive: true });
    throw new Error(`ijrd did not start:\n${log}`);
  }
  return {
    dir,
    port,
    rootfsDir,
    stateDir,
    configs,
    process: child,
    stderr: () => log,
    ctl: (user, args) => runEntry("ctl.ts", [...args], { env: { IJR_CONFIG: configs[user] } }),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const status = await child.status;
      // Everything it wrote before it ended, its last log lines included.
      await drained;
      return status.code;
    },
  };
}

/**
 * The lines of ijrd's log that contain `text`, once there are at least `count` of them (up to
 * 5 s). A call's answer and its log line reach a test by two paths, the connection and ijrd's
 * stderr pipe, in no fixed order: a test that has its answer may not have the line yet.
 */
export async function logLinesWith(
  daemon: TestDaemon,
  text: string,
  count: number,
): Promise<string[]> {
  const matching = () => daemon.stderr().split("\n").filter((line) => line.includes(text));
  const deadline = Date.now() + 5_000;
  while (matching().length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return matching();
}

/** Uploads the busybox fixture as admin under `name`; throws with ijrctl's stderr if refused. */
export async function uploadBusybox(daemon: TestDaemon, name = "bb"): Promise<CliResult> {
  const result = await daemon.ctl("admin", [
    "rootfs",
    "upload",
    `--file=${await busyboxTarball()}`,
    `--name=${name}`,
  ]);
  if (result.code !== 0) throw new Error(`upload of ${name} failed: ${result.stderr}`);
  return result;
}

/**
 * The folders of a test daemon's job parent (its `--cgroup-parent`) in every cgroup
 * hierarchy this process is in, whether or not they exist.
 */
export function jobParentDirs(port: number): string[] {
  return ownCgroupDirs().map((dir) => `${dir}/ijr-e2e-${Deno.pid}-${port}`);
}

/**
 * The job cgroups below a test daemon's job parent in every hierarchy: each group's children
 * but its spare (the cgroup ijrd makes ahead for the owner's next job on v1, `spare-<hex>`),
 * and anything directly under the parent that is not a group. A group stays a while after its
 * last job (on v1), so this, not the groups, says whether jobs' cgroups are left.
 */
export function jobCgroupsLeft(port: number): string[] {
  const isGroup = (dir: string) => /\/user-[a-z0-9-]+$/.test(dir);
  const isSpare = (dir: string) => /\/spare-[0-9a-f]{12}$/.test(dir);
  return jobParentDirs(port).flatMap(childCgroups).flatMap((child) =>
    isGroup(child) ? childCgroups(child).filter((job) => !isSpare(job)) : [child]
  );
}

/**
 * Ends whatever jobs a stopped test daemon left running (live restore keeps them, and a test
 * that failed half-way may not have stopped them) and removes the job parent's cgroups,
 * children first. Every process still in that subtree is the test's own (the daemon's jobs, a
 * job's child that a spawn left half-made), so each is killed by its pid until the subtree is
 * empty; a cgroup that still cannot be removed after ten seconds fails the test, naming what is
 * inside, rather than leaving the leak check to find it without a culprit.
 */
async function endLeftoverJobs(port: number): Promise<void> {
  // Children first; a folder that is not there is found gone by its removal below.
  const walk = (dir: string): string[] => [...childCgroups(dir).flatMap(walk), dir];
  const pidsIn = (cgroup: string): number[] => {
    try {
      return Deno.readTextFileSync(`${cgroup}/cgroup.procs`).split("\n").filter((l) => l !== "")
        .map(Number);
    } catch {
      return []; // removed meanwhile
    }
  };
  const deadline = Date.now() + 10_000;
  for (const dir of jobParentDirs(port)) {
    for (const cgroup of walk(dir)) {
      for (;;) {
        // Everything inside, by pid; a job's init takes the rest of its PID namespace along.
        for (const pid of pidsIn(cgroup)) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* ended meanwhile */ }
        }
        try {
          Deno.removeSync(cgroup);
          break;
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) break;
          if (Date.now() > deadline) {
            const inside = pidsIn(cgroup).map((pid) => {
              try {
                const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
                return stat.slice(0, stat.indexOf(")") + 4);
              } catch {
                return `${pid} (gone)`;
              }
            });
            throw new Error(
              `cannot remove ${cgroup}: ${(error as Error).message}; inside: ${
                inside.join(", ") || "no process"
              }`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  }
}

/**
 * Stops the daemon and removes its folder, and ends any job it left running, whatever
 * happened in the test.
 */
export async function cleanupDaemon(daemon: TestDaemon): Promise<void> {
  await daemon.stop();
  await endLeftoverJobs(daemon.port);
  await Deno.remove(daemon.dir, { recursive: true }).catch(() => {});
}
