/**
 * A job's output from a byte offset: what a client that lost its stream asks for to resume
 * where it stopped. A job's output file only ever grows (the job appends, nothing rewrites
 * it), so the bytes from an offset are the same bytes whenever and however often they are
 * read.
 * @module
 */

import { IjrError } from "../errors/mod.ts";

/**
 * Yields the bytes of `chunks` from byte `offset` on, unchanged and in order.
 *
 * The bytes before the offset are read and dropped rather than skipped with a seek: the job
 * engine's output stream (JobManager.output) starts at byte 0. Reading through is cheap next
 * to sending (the output is capped by ijrd --max-output and is in the page cache while it is
 * fresh); a seek belongs in followOutput once the engine takes an offset.
 *
 * While the job runs, an offset past what it has written so far waits for the output to
 * reach it. When `chunks` ends before the offset, the job has ended with less output than
 * the offset: OUT_OF_RANGE, naming the field and the output's length.
 */
export async function* outputFromOffset(
  chunks: AsyncIterable<Uint8Array>,
  offset: number,
  jobId: string,
): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of chunks) {
    const start = seen;
    seen += chunk.length;
    if (seen <= offset) continue;
    yield start >= offset ? chunk : chunk.subarray(offset - start);
  }
  if (seen < offset) {
    throw new IjrError(
      "OUT_OF_RANGE",
      `offset ${offset} is past the end of job ${jobId}'s output (${seen} bytes)`,
    );
  }
}
