/**
 * Assertions on what the job API answers: a call's status, and how a job ended.
 * @module
 */
import assert from "node:assert/strict";
import { type Job, JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { RpcError } from "../../lib/rpc/transport/mod.ts";

/** Asserts `error` is an RpcError with `code` and exactly `message` (or one matching it). */
export function assertRpcStatus(error: unknown, code: string, message: string | RegExp): true {
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(error.codeName, code, error.message);
  if (typeof message === "string") assert.equal(error.message, message);
  else assert.match(error.message, message);
  return true;
}

/** Asserts `promise` rejects with `code` and `message` (see {@link assertRpcStatus}). */
export async function rejectsWithStatus(
  promise: Promise<unknown>,
  code: string,
  message: string | RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => assertRpcStatus(error, code, message));
}

/** The fields of a Job that say how it ended. */
export const ending = (job: Job) => ({
  state: JobState[job.state],
  exitCode: job.exitCode,
  signal: job.signal,
  pid: job.pid,
  oomKilled: job.oomKilled,
  message: job.message,
  ended: job.endedAt !== undefined,
});
