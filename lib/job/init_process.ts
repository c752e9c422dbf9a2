/**
 * A running job's init, as ijrd reaches it: a child it spawned in this run, or an init it
 * adopted after a restart (live restore). Either way a signal reaches that init and never
 * another process that got its pid: a child's pid stays its own until ijrd reaps it, and an
 * adopted init is signalled through a pidfd.
 *
 * An adopted init is found in the job's cgroup and identified beyond doubt: the only process
 * there that is PID 1 of a PID namespace one level below ijrd's (a job cannot make a PID
 * namespace of its own at that level: its processes are one level further down), named
 * ijr-init. Its pidfd is opened, then everything is checked again, then the pidfd is asked
 * whether its process still lives: if it does, the pid was never reused in between, so the
 * checks were about the process the pidfd names.
 * @module
 */

import type { JobCgroup } from "../cgroup/mod.ts";
import { closeDescriptor, openPidfd, signalPidfd, signalProcess } from "../native/mod.ts";

/** A job's init. */
export interface InitProcess {
  /** Its pid in ijrd's PID namespace. */
  readonly pid: number;
  /** Sends `signal` to it; false when it has ended (or, a child, was reaped). */
  signal(signal: number): boolean;
}

/** An init ijrd spawned in this run: signalled by pid, which is its own until reaped. */
export class ChildInit implements InitProcess {
  readonly pid: number;
  /** Set once reaped: its pid may belong to another process from then on. */
  reaped = false;

  constructor(pid: number) {
    this.pid = pid;
  }

  signal(signal: number): boolean {
    return !this.reaped && signalProcess(this.pid, signal);
  }
}

/** An init that has ended before this manager came to it: there is nothing to signal. */
export class EndedInit implements InitProcess {
  readonly pid = 0;

  signal(): boolean {
    return false;
  }
}

/** An init a previous ijrd spawned, held by a pidfd. */
export class AdoptedInit implements InitProcess {
  readonly pid: number;
  readonly pidfd: number;
  #closed = false;

  constructor(pid: number, pidfd: number) {
    this.pid = pid;
    this.pidfd = pidfd;
  }

  signal(signal: number): boolean {
    return !this.#closed && signalPidfd(this.pidfd, signal);
  }

  /** Lets go of the pidfd (once the init has ended, or ijrd ends). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeDescriptor(this.pidfd);
  }
}

/** What /proc says of a process: its name and its pid in each PID namespace, outermost first. */
async function identity(pid: number): Promise<{ name: string; nspid: number[] } | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/status`);
  } catch {
    return undefined; // ended
  }
  const field = (key: string) =>
    text.split("\n").find((line) => line.startsWith(`${key}:`))?.slice(key.length + 1).trim();
  const nspid = field("NSpid")?.split(/\s+/).map(Number);
  const name = field("Name");
  if (name === undefined || nspid === undefined) return undefined;
  return { name, nspid };
}

/** Whether `pid` is a job's init by what /proc and the job's cgroup say. */
async function looksLikeInit(pid: number, cgroup: JobCgroup): Promise<boolean> {
  const seen = await identity(pid);
  return seen !== undefined && seen.name === "ijr-init" && seen.nspid.length === 2 &&
    seen.nspid[0] === pid && seen.nspid[1] === 1 && (await cgroup.processes()).includes(pid);
}

/**
 * The job's init, found in its cgroup and held by a pidfd; undefined when it is not there
 * (the job ended while ijrd was down).
 */
export async function findAdoptableInit(cgroup: JobCgroup): Promise<AdoptedInit | undefined> {
  for (const pid of await cgroup.processes()) {
    if (!(await looksLikeInit(pid, cgroup))) continue;
    const pidfd = openPidfd(pid);
    if (pidfd === undefined) return undefined; // it ended meanwhile: there is no other
    const init = new AdoptedInit(pid, pidfd);
    // Checked again through the pidfd's eyes: alive now means the pid was not reused.
    if (await looksLikeInit(pid, cgroup) && init.signal(0)) return init;
    init.close();
    return undefined;
  }
  return undefined;
}
