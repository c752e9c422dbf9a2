/**
 * Maps ijrctl command names to their implementations, loaded on first use so that help and
 * argument errors never pay for gRPC, TLS or certificate code.
 * @module
 */

import type { Action } from "./program.ts";

/** Loads the action of a command such as "job start". */
export async function loadAction(name: string): Promise<Action> {
  switch (name) {
    case "certs init":
      return (await import("./certs.ts")).certsInit;
    case "certs ca":
      return (await import("./certs.ts")).certsCa;
    case "certs server":
      return (await import("./certs.ts")).certsServer;
    case "certs client":
      return (await import("./certs.ts")).certsClient;
    case "context list":
      return (await import("./context_commands.ts")).contextList;
    case "context use":
      return (await import("./context_commands.ts")).contextUse;
    case "rootfs upload":
      return (await import("./rootfs_commands.ts")).rootfsUpload;
    case "rootfs list":
      return (await import("./rootfs_commands.ts")).rootfsList;
    case "rootfs delete":
      return (await import("./rootfs_commands.ts")).rootfsDelete;
    case "job start":
      return (await import("./job_commands.ts")).jobStart;
    case "job stop":
      return (await import("./job_commands.ts")).jobStop;
    case "job list":
      return (await import("./job_commands.ts")).jobList;
    case "job status":
      return (await import("./job_commands.ts")).jobStatus;
    case "job output":
      return (await import("./job_commands.ts")).jobOutput;
    case "job delete":
      return (await import("./job_commands.ts")).jobDelete;
    case "job wait":
      return (await import("./job_commands.ts")).jobWait;
    default:
      // Every command of program.ts has a case above; this is a bug, not a user's mistake.
      throw new Error(`ijrctl has no action for "${name}"`);
  }
}
