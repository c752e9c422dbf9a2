/**
 * Maps ijrctl command names to their implementations, loaded on first use so that help and
 * argument errors never pay for gRPC, TLS or certificate code.
 * @module
 */

import type { Action } from "./program.ts";

const notYet = (name: string): Action => () => {
  console.error(`ijrctl ${name}: not available in this build yet`);
  return Promise.resolve(1);
};

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
    default:
      return notYet(name);
  }
}
