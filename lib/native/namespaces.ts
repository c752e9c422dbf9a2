/**
 * A job's network and IPC namespaces, made ahead of its start (ffi/job_namespaces.c): the
 * clone's dearest part, done in the background instead of on the start's path. A pair serves
 * exactly one job and is closed once that job's spawn returns.
 * @module
 */

import { StructView } from "./abi.ts";
import { describeErrno } from "./errno.ts";
import { keepAlive } from "./keep_alive.ts";
import { libijr } from "./loader.ts";
import { closeDescriptor } from "./process_watch.ts";

/** Descriptors (close-on-exec) of one job's fresh namespaces; the network's loopback is up. */
export interface JobNamespaces {
  readonly netFd: number;
  readonly ipcFd: number;
}

/** Makes a fresh pair, on Deno's blocking pool (the clone takes a few tenths of a millisecond). */
export async function makeJobNamespaces(): Promise<JobNamespaces> {
  const made = new StructView("ijr_made_namespaces");
  let result: number;
  try {
    result = await libijr().ijr_make_namespaces(made.bytes);
  } finally {
    keepAlive(made);
  }
  if (result < 0) {
    throw new Error(`cannot make a job's network and IPC namespaces: ${describeErrno(-result)}`);
  }
  return { netFd: Number(made.get("net_fd")), ipcFd: Number(made.get("ipc_fd")) };
}

/** Closes ijrd's descriptors of a pair (the namespaces live on while a job is in them). */
export function closeJobNamespaces(namespaces: JobNamespaces): void {
  closeDescriptor(namespaces.netFd);
  closeDescriptor(namespaces.ipcFd);
}
