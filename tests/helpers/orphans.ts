/**
 * Orphans of a killed ijrd: the inits of jobs that outlive it (live restore) are re-parented
 * to the nearest child subreaper, or to PID 1. On a worker PID 1 is systemd, which reaps
 * them when they end; on this project's VM PID 1 reaps nothing, so every test that kills an
 * ijrd becomes the subreaper of its descendants and reaps the inits itself, leaving no
 * zombie behind.
 * @module
 */

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

const libc = Deno.dlopen("libc.so.6", {
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
});

/** Makes this process the subreaper of its descendants (or stops being it). */
export function setChildSubreaper(on: boolean): void {
  if (libc.symbols.prctl(PR_SET_CHILD_SUBREAPER, on ? 1n : 0n, 0n, 0n, 0n) !== 0) {
    throw new Error("prctl(PR_SET_CHILD_SUBREAPER) failed");
  }
}

/** This process's children that are job inits, with their state (R, S, Z, ...). */
export function childInits(): { pid: number; state: string }[] {
  const inits: { pid: number; state: string }[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const [state, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (name === "ijr-init" && Number(parent) === Deno.pid) {
        inits.push({ pid: Number(entry.name), state });
      }
    } catch { /* ended meanwhile */ }
  }
  return inits;
}

/** Reaps every child init that has ended; returns how many are still running. */
export function reapEndedInits(): number {
  let running = 0;
  for (const { pid, state } of childInits()) {
    if (state !== "Z") {
      running++;
      continue;
    }
    libc.symbols.waitpid(pid, new Uint8Array(4), WNOHANG);
  }
  return running;
}
