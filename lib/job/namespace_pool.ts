/**
 * Jobs' network and IPC namespaces made ahead (lib/native/namespaces.ts): a few fresh pairs
 * kept ready, made on Deno's blocking pool after a start takes one, so that no start waits
 * for the kernel to set up a network namespace (bench/README.md: 0.3 ms warm, 0.5 ms after a
 * rest, on this project's VM). A pair is handed out once and never comes back: every job gets
 * namespaces no process has been in. When none is ready (a burst of starts, or a kernel that
 * refuses to make them), the job's clone makes its own, as it always did.
 * @module
 */

import { closeJobNamespaces, type JobNamespaces, makeJobNamespaces } from "../native/mod.ts";
import { MadeAhead } from "./made_ahead.ts";

/**
 * How long after a take the pool is refilled when the taker gives no moment of its own
 * (JobManager gives one: 10 ms after its start returned, background_work.ts). Making a pair
 * costs a vCPU 0.3-0.5 ms, and done at once it ran beside the start that took one, and beside
 * that job's end when the job was short: in alternating runs of 80 library starts 50 ms apart
 * (bench/README.md) the library's start-to-exit was 1.35x bwrap's with the refill 15 ms later,
 * 1.41x with it at once. The pool's reserve covers the starts in between.
 */
const REFILL_AFTER_MS = 10;

/** Pairs kept ready: enough for the starts of four clients at once. */
export const NAMESPACES_MADE_AHEAD = 4;

/** A reserve of fresh network and IPC namespaces. */
export class NamespacePool {
  readonly #pairs: MadeAhead<JobNamespaces>;

  /** `reserve`: how many pairs to keep ready (0: none; every clone makes its own). */
  constructor(options: { reserve?: number } = {}) {
    this.#pairs = new MadeAhead({
      reserve: options.reserve ?? NAMESPACES_MADE_AHEAD,
      refillAfterMs: REFILL_AFTER_MS,
      // A refusal (a namespace limit, memory) leaves the pool short: jobs' clones make their
      // own then, and report the kernel's reason.
      make: makeJobNamespaces,
      release: closeJobNamespaces,
    });
  }

  /** Pairs ready now. */
  get ready(): number {
    return this.#pairs.ready;
  }

  /**
   * A fresh pair for one job, or undefined when none is ready. The caller closes it with
   * closeJobNamespaces once the job's spawn has returned, whether or not it succeeded.
   */
  take(refillAfter?: Promise<unknown>): JobNamespaces | undefined {
    return this.#pairs.take(refillAfter);
  }

  /** Resolves once no pair is being made. */
  settled(): Promise<void> {
    return this.#pairs.settled();
  }

  /** Waits for the pairs being made and closes every ready one (a later take() refills). */
  close(): Promise<void> {
    return this.#pairs.close();
  }
}
