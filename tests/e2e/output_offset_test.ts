/**
 * StreamOutput from an offset through the real ijrd: the bytes from the offset, exact; ijrd
 * seeks to them and reads none of the output before them (its own read counter, from /proc);
 * an offset past the end of an ended job's output is OUT_OF_RANGE naming the output's length.
 * Before, ijrd read and dropped everything before the offset: a crafted offset cost a read of
 * the whole output per call.
 */
import assert from "node:assert/strict";
import { JobState } from "../../lib/gen/ijr/v1/job_pb.ts";
import { connect } from "../../lib/ctl/connect.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../helpers/daemon.ts";
import { rootTest } from "../helpers/root.ts";
import { rejectsWithStatus } from "../helpers/job_api.ts";

const MIB = 1024 * 1024;

/** Bytes ijrd has read with read(2) and its kin (its /proc io's rchar). */
function bytesReadBy(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/io`).match(/^rchar: (\d+)$/m)![1]);
}

rootTest(
  "e2e: StreamOutput from an offset reads nothing before it, and refuses one past the end",
  async () => {
    const daemon = await startDaemon();
    const alice = connect({ config: daemon.configs.alice });
    try {
      await uploadBusybox(daemon);
      // 32 MiB of output, its last bytes "end\n".
      const job = (await alice.jobs.startJob({
        rootfs: "bb",
        argv: ["sh", "-c", "head -c 33554428 /dev/zero; echo end"],
      })).job!;
      assert.equal((await alice.jobs.waitJob({ jobId: job.id })).job!.state, JobState.EXITED);
      const length = 32 * MIB;

      const read = async (offset: number) => {
        let text = "";
        for await (
          const { data } of alice.jobs.streamOutput({ jobId: job.id, offset: BigInt(offset) })
        ) {
          text += new TextDecoder().decode(data);
        }
        return text;
      };
      const before = bytesReadBy(daemon.process.pid);
      assert.equal(await read(length - 4), "end\n");
      assert.equal(await read(length - 2), "d\n");
      assert.equal(await read(length), "");
      const readByIjrd = bytesReadBy(daemon.process.pid) - before;
      assert.ok(readByIjrd < MIB, `ijrd read ${readByIjrd} bytes for 6 bytes of output`);

      await rejectsWithStatus(
        read(length + 1),
        "OUT_OF_RANGE",
        `offset ${length + 1} is past the end of job ${job.id}'s output (${length} bytes)`,
      );
    } finally {
      alice.close();
      await cleanupDaemon(daemon);
    }
  },
);
