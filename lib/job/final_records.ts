/**
 * Where jobs' final records are written. Someone usually waits for one (a WaitJob, a RunJob,
 * `ijrctl job wait`), and the job's end is reported only once it is on disk. On this project's
 * VM a round trip through Deno's blocking pool cost 0.55 ms and the write itself (open, write,
 * rename) 26 µs (bench/README.md), so it is written on the JavaScript thread while the state
 * disk answers quickly. A write that takes longer than `slowMs` (a busy disk, its journal
 * committing) sends the next ones to the pool: a slow disk holds every other call up for at
 * most one write, then only the ends waiting for it. They come back to the thread only once
 * `poolForMs` has passed since the last slow write and no write is still on the pool (a disk
 * that hangs keeps them there).
 * @module
 */

import type { ReplacedFile } from "../native/mod.ts";
import type { JobStatus } from "./types.ts";
import { saveFinalJob } from "./job_store.ts";

/** A write slower than this sends the next ones to the pool. */
const SLOW_MS = 2;
/** What a round trip through the pool may add to a write there before it counts as slow. */
const POOL_ROUND_TRIP_MS = 2;
/** For how long, after a slow write. */
const POOL_FOR_MS = 60_000;

/** Writes final records on the thread or the pool, by how the disk answered. */
export class FinalRecords {
  readonly #stateDir: string;
  readonly #slowMs: number;
  readonly #poolForMs: number;
  #poolUntil = -Infinity;
  /** Writes on the pool that have not returned. */
  #onPoolNow = 0;

  constructor(stateDir: string, options: { slowMs?: number; poolForMs?: number } = {}) {
    this.#stateDir = stateDir;
    this.#slowMs = options.slowMs ?? SLOW_MS;
    this.#poolForMs = options.poolForMs ?? POOL_FOR_MS;
  }

  /** Whether the next record goes to the pool. */
  get onPool(): boolean {
    return this.#onPoolNow > 0 || performance.now() < this.#poolUntil;
  }

  /** Writes `job`'s final record through `temp`; see saveFinalJob. */
  async write(job: JobStatus, temp: string): Promise<ReplacedFile | undefined> {
    const onPool = this.onPool;
    if (onPool) this.#onPoolNow++;
    const started = performance.now();
    try {
      return await saveFinalJob(this.#stateDir, job, temp, onPool);
    } finally {
      if (onPool) this.#onPoolNow--;
      // On the pool the round trip is counted too: a write is slow past it.
      const slowMs = onPool ? this.#slowMs + POOL_ROUND_TRIP_MS : this.#slowMs;
      if (performance.now() - started > slowMs) {
        this.#poolUntil = performance.now() + this.#poolForMs;
      }
    }
  }
}
