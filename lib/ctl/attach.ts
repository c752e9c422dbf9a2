/**
 * An attached ijrctl (`job start --output`, `job output`) stands in for its job the way
 * `docker run` stands in for its container, so that whatever runs ijrctl (a terminal, a Slurm
 * step, a CI runner) sees the job's output, its exit status and its end:
 *
 * - SIGINT, SIGTERM or SIGHUP stops the job (SIGTERM, then kill after the grace period) and
 *   ijrctl keeps streaming until the job has ended, then exits with the job's status; a second
 *   signal kills the job at once. Without stop-on-signal, a signal leaves the job running and
 *   ends ijrctl with 128 + the signal's number (`docker run --sig-proxy=false`).
 * - A broken connection is ridden out (lib/ctl/reconnect.ts), the output resumed at the next
 *   byte (lib/ctl/output_stream.ts), and a stop asked for meanwhile is sent once ijrd answers.
 * - With remove-when-done (`--rm`) the job's record and output are deleted once it has ended
 *   and its output has been delivered.
 * @module
 */

import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Job, JobState } from "../gen/ijr/v1/job_pb.ts";
import { formatDuration } from "../units/mod.ts";
import { type Connection, describeFailure } from "./connect.ts";
import { exitCodeOf } from "./format.ts";
import { copyJobOutput, writeAllToStdout } from "./output_stream.ts";
import { ReconnectGaveUp, Reconnector } from "./reconnect.ts";
import { notice } from "./notice.ts";
import { listenForStopSignals, signalExitCode, type StopSignal } from "./stop_signals.ts";

/** How an attached client behaves. */
export interface AttachOptions {
  readonly connection: Connection;
  /**
   * What SIGINT, SIGTERM and SIGHUP do: stop the job ("stop"), or leave it running and end
   * ijrctl with 128 + the signal's number ("detach").
   */
  readonly onSignal: "stop" | "detach";
  /** The grace period of a stop a signal asks for; undefined: ijrd's default. */
  readonly graceMs?: number;
  /** How long to keep trying to reach ijrd again after the connection broke. */
  readonly reconnectForMs: number;
  /** Delete the job once it has ended and its output has been delivered (`--rm`). */
  readonly removeWhenDone: boolean;
}

/** No stop asked for, a stop (SIGTERM, then kill after the grace period), a kill at once. */
type StopLevel = "none" | "stop" | "kill";

/**
 * One attached job. Create it before the job is started, so that a signal that arrives while
 * StartJob is on its way is not lost; then {@link attach} the job and {@link follow} it.
 */
export class AttachedJob {
  readonly #options: AttachOptions;
  readonly #reconnector: Reconnector;
  readonly #stopListening: () => void;
  #jobId: string | undefined;
  #stopLevel: StopLevel = "none";
  /** Aborted by close(): calls still retrying (a stop under way) give up. */
  readonly #closing = new AbortController();
  #detach: (exitCode: number) => void = () => {};
  /** Resolves with ijrctl's exit code when a signal detached it from a job left running. */
  readonly #detached = new Promise<number>((resolve) => this.#detach = resolve);

  constructor(options: AttachOptions) {
    this.#options = options;
    this.#reconnector = new Reconnector({
      server: options.connection.server,
      reconnectForMs: options.reconnectForMs,
      report: notice,
      signal: this.#closing.signal,
    });
    this.#stopListening = listenForStopSignals((signal, count) => this.#onSignal(signal, count));
  }

  /** The job this client stands in for; a stop asked for before it was known is sent now. */
  attach(jobId: string): void {
    this.#jobId = jobId;
    if (this.#stopLevel !== "none") this.#sendStop();
  }

  /**
   * Copies the job's output to stdout until the job has ended, then returns the exit code:
   * the job's status (its exit code, or 128 + the signal that ended it), or 128 + the signal
   * that detached ijrctl from a job left running.
   */
  async follow(): Promise<number> {
    const jobId = this.#jobId!;
    const { jobs } = this.#options.connection;
    const copying = copyJobOutput({
      jobs,
      jobId,
      reconnector: this.#reconnector,
      write: writeAllToStdout,
      report: notice,
    });
    try {
      const detachedWith = await Promise.race([copying.then(() => undefined), this.#detached]);
      if (detachedWith !== undefined) {
        copying.catch(() => {}); // ended by the connection's close
        return detachedWith;
      }
      const { job } = await this.#reconnector.call(() =>
        jobs.getJob({ jobId }, { timeoutMs: 30_000 })
      );
      if (job!.state === JobState.LOST || job!.state === JobState.FAILED) {
        notice(`job ${jobId} ${job!.state === JobState.LOST ? "lost" : "failed"}: ${job!.message}`);
      }
      if (this.#options.removeWhenDone) await this.#remove(jobId);
      return exitCodeOf(job as Job);
    } catch (error) {
      if (!(error instanceof ReconnectGaveUp)) throw error;
      throw new Error(
        `${error.message}; job ${jobId} may still be running (ijrctl job status ${jobId})`,
      );
    }
  }

  /** Stops listening for signals; pending calls end with the connection. */
  close(): void {
    this.#closing.abort();
    this.#stopListening();
  }

  #onSignal(signal: StopSignal, count: number): void {
    const job = this.#jobId === undefined ? "the job" : `job ${this.#jobId}`;
    if (this.#options.onSignal === "detach") {
      notice(`${signal}: leaving ${job} running (--no-stop-on-signal)`);
      this.#detach(signalExitCode(signal));
      return;
    }
    if (count === 1) {
      this.#stopLevel = "stop";
      const grace = this.#options.graceMs === undefined
        ? "ijrd's grace period"
        : formatDuration(this.#options.graceMs);
      notice(
        `${signal}: stopping ${job} (SIGTERM, then kill after ${grace}); ` +
          "another signal kills it at once",
      );
    } else if (this.#stopLevel === "stop") {
      this.#stopLevel = "kill";
      notice(`${signal}: killing ${job} now`);
    } else {
      return; // already killing it
    }
    if (this.#jobId !== undefined) this.#sendStop();
  }

  /** Sends the stop asked for, across outages; the job's end reaches us through the stream. */
  #sendStop(): void {
    const jobId = this.#jobId!;
    const graceMs = this.#stopLevel === "kill" ? 0 : this.#options.graceMs;
    const gracePeriod = graceMs === undefined ? undefined : durationFromMs(graceMs);
    this.#reconnector.call(() => this.#options.connection.jobs.stopJob({ jobId, gracePeriod }))
      .catch((error) => {
        if (!this.#closing.signal.aborted) {
          notice(`could not stop job ${jobId}: ${describeFailure(error)}`);
        }
      });
  }

  async #remove(jobId: string): Promise<void> {
    try {
      await this.#reconnector.call(() => this.#options.connection.jobs.deleteJob({ jobId }));
    } catch (error) {
      notice(`could not remove job ${jobId} (--rm): ${describeFailure(error)}`);
    }
  }
}
