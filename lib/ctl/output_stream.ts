/**
 * Copying a job's output to ijrctl's stdout across broken connections: each StreamOutput call
 * starts at the next byte not yet received, so after any number of reconnections stdout holds
 * the job's output exactly once, byte for byte.
 * @module
 */

import type { Connection } from "./connect.ts";
import { isConnectionLost, type Reconnector } from "./reconnect.ts";
import type { RpcError } from "../rpc/client/mod.ts";

/** How long the probe that looks for ijrd after a broken stream may wait for an answer. */
const PROBE_TIMEOUT_MS = 5_000;

/** Writes all of `data` to stdout, however many writes the pipe or terminal takes. */
export async function writeAllToStdout(data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await Deno.stdout.write(data.subarray(written));
}

/** What {@link copyJobOutput} needs. */
export interface CopyJobOutputOptions {
  readonly jobs: Connection["jobs"];
  readonly jobId: string;
  /** Retries across outages; gives up after its bound (ReconnectGaveUp). */
  readonly reconnector: Reconnector;
  /** Where the bytes go, in order; the next chunk is asked for once it has resolved. */
  readonly write: (data: Uint8Array) => Promise<void>;
  /** Writes one line for people (stderr). */
  readonly report: (line: string) => void;
}

/**
 * Streams the job's output into `write` until the job has ended and every byte has been
 * delivered, and returns the number of bytes. When the connection breaks, waits until ijrd
 * answers a GetJob for the job again (which also tells a job that is gone: NOT_FOUND), then
 * resumes at the first byte not yet written. A byte counts as received once `write` has taken
 * it, so a chunk in flight when the connection broke is asked for again, never skipped.
 */
export async function copyJobOutput(options: CopyJobOutputOptions): Promise<number> {
  const { jobs, jobId, reconnector, write, report } = options;
  let offset = 0;
  while (true) {
    try {
      for await (const { data } of jobs.streamOutput({ jobId, offset: BigInt(offset) })) {
        reconnector.succeeded();
        await write(data);
        offset += data.length;
      }
      reconnector.succeeded();
      return offset;
    } catch (error) {
      if (!isConnectionLost(error)) throw error;
      await reconnector.failed(error as RpcError);
      await reconnector.call(() => jobs.getJob({ jobId }, { timeoutMs: PROBE_TIMEOUT_MS }));
      report(`resuming the output of job ${jobId} at byte ${offset}`);
    }
  }
}
