/**
 * A one-node Slurm cluster of its own, for the Slurm lane (`make test-slurm`): munged,
 * slurmctld and slurmd from Debian's packages, each in the foreground, with a config, a
 * munge key, ports, state and logs of their own in a temporary folder. Nothing of the host's
 * Slurm or munge (/etc/slurm, /etc/munge, /run/munge) is read or changed, so it runs beside
 * any other cluster, and everything it starts it stops.
 *
 * The node tracks job processes by their parentage (proctrack/linuxproc) and binds no task
 * (task/none): no cgroups, so Slurm leaves ijrd's cgroups alone. It claims 8 CPUs whatever the
 * machine has (SlurmdParameters=config_overrides), so jobs of the lane run side by side.
 * @module
 */

import { join } from "node:path";
import type { CliResult } from "../helpers/cli.ts";
import { freePort } from "../helpers/daemon.ts";
import { sleep } from "../helpers/wait.ts";

/** A running cluster. */
export interface SlurmCluster {
  /** Its folder: config, munge key and socket, state, logs. */
  readonly dir: string;
  /** The environment Slurm's commands need to find the cluster (SLURM_CONF). */
  readonly env: Record<string, string>;
  /** Runs a Slurm command (srun, sbatch, squeue, scancel, scontrol) against the cluster. */
  run(command: string, args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** Cancels what is left, stops the daemons and removes the folder. */
  stop(): Promise<void>;
}

/** The node's name in the cluster; slurmd is told it is that node. */
export const NODE = "ijrnode";

/** How the lane's cluster is set up. */
export interface SlurmClusterOptions {
  /** Seconds between Slurm's SIGTERM and its SIGKILL to a job's processes (KillWait). */
  readonly killWaitSeconds: number;
  /** Added to the environment of every command (PATH, IJR_CONFIG). */
  readonly env?: Record<string, string>;
}

const decoder = new TextDecoder();

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Starts munged, slurmctld and slurmd, and resolves once the node is idle. */
export async function startSlurmCluster(options: SlurmClusterOptions): Promise<SlurmCluster> {
  const dir = Deno.makeTempDirSync({ prefix: "ijr-slurm-" });
  const daemons: { name: string; child: Deno.ChildProcess }[] = [];
  const env = { SLURM_CONF: join(dir, "slurm.conf"), ...options.env };
  const spawn = (name: string, args: string[]) => {
    const child = new Deno.Command(name, {
      args,
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    daemons.push({ name, child });
  };
  const run = async (command: string, args: string[], extra: Record<string, string> = {}) => {
    const out = await new Deno.Command(command, {
      args,
      env: { ...env, ...extra },
      cwd: dir,
      stdin: "null",
    }).output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
  const stopDaemons = async () => {
    // slurmd first (its steps are done by then), then the controller, then munge.
    for (const { child } of daemons.reverse()) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    }
  };
  const logs = () =>
    ["munged.log", "slurmctld.log", "slurmd.log"].map((name) => {
      const path = join(dir, name);
      return exists(path) ? `--- ${name}\n${Deno.readTextFileSync(path).slice(-4000)}` : "";
    }).join("\n");

  try {
    // munge: a key of the cluster's own (root may run munged only with --force).
    const key = crypto.getRandomValues(new Uint8Array(128));
    Deno.writeFileSync(join(dir, "munge.key"), key, { mode: 0o600 });
    const socket = join(dir, "munge.socket");
    spawn("munged", [
      "--foreground",
      "--force",
      `--socket=${socket}`,
      `--key-file=${join(dir, "munge.key")}`,
      `--pid-file=${join(dir, "munged.pid")}`,
      `--log-file=${join(dir, "munged.log")}`,
      `--seed-file=${join(dir, "munged.seed")}`,
    ]);
    await waitFor("munged's socket", () => Promise.resolve(exists(socket)), 10_000);

    const host = Deno.hostname().split(".")[0];
    Deno.mkdirSync(join(dir, "ctld"));
    Deno.mkdirSync(join(dir, "slurmd"));
    const config = [
      `ClusterName=ijr${Deno.pid}`,
      // slurmctld runs only on the host its config names: this one, reached on loopback.
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${freePort()}`,
      `SlurmdPort=${freePort()}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${join(dir, "ctld")}`,
      `SlurmdSpoolDir=${join(dir, "slurmd")}`,
      `SlurmctldPidFile=${join(dir, "slurmctld.pid")}`,
      `SlurmdPidFile=${join(dir, "slurmd.pid")}`,
      `SlurmctldLogFile=${join(dir, "slurmctld.log")}`,
      `SlurmdLogFile=${join(dir, "slurmd.log")}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      "MpiDefault=none",
      "MailProg=/bin/true",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "ReturnToService=2",
      `KillWait=${options.killWaitSeconds}`,
      "SlurmdParameters=config_overrides",
      `NodeName=${NODE} NodeHostname=${host} NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN`,
      `PartitionName=ijr Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP`,
    ].join("\n") + "\n";
    Deno.writeTextFileSync(env.SLURM_CONF, config);
    spawn("slurmctld", ["-D", "-f", env.SLURM_CONF]);
    spawn("slurmd", ["-D", "-f", env.SLURM_CONF, "-N", NODE]);
    await waitFor("the node to be idle", async () => {
      const state = await run("sinfo", ["--noheader", "--format=%T"]);
      return state.code === 0 && state.stdout.trim() === "idle";
    }, 30_000);
  } catch (error) {
    await stopDaemons();
    const detail = logs();
    Deno.removeSync(dir, { recursive: true });
    throw new Error(`${(error as Error).message}\n${detail}`);
  }

  return {
    dir,
    env,
    run,
    async stop() {
      try {
        // Whatever is left is cancelled, and waited for: no step outlives the cluster.
        await run("scancel", ["--full", `--partition=ijr`]);
        await waitFor("every Slurm job to end", async () => {
          // squeue's default states: pending, running, completing (not finished jobs).
          const left = await run("squeue", ["--noheader"]);
          return left.code === 0 && left.stdout.trim() === "";
        }, 60_000);
      } finally {
        await stopDaemons();
        Deno.removeSync(dir, { recursive: true });
      }
    },
  };
}
