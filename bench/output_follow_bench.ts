/**
 * Output followers (lib/job/output_reader.ts) against GNU `tail -c +1 -f` (inotify-based) in
 * the same run. Not a timed test: prints a table of medians and ratios for bench/README.md.
 *
 *   deno run -A bench/output_follow_bench.ts
 *
 * 1. Throughput: a `dd` process appends 64 MiB in 64 KiB writes; N followers (1, 10, 100)
 *    read it; time from the writer's start until every follower has received every byte.
 *    The tail side is N processes whose stdout pipes this process drains.
 * 2. Wake-up latency: ping-pong, one byte written, then wait until the follower has it.
 * 3. The same latency after 2000 watchers were opened and closed in this isolate, as a
 *    long-running daemon does: closed watchers must not slow down later ones.
 * @module
 */

import { followOutput } from "../lib/job/output_reader.ts";

const MIB = 1024 * 1024;
const TOTAL = 64 * MIB;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A writer process appending `source` to `path` in 64 KiB writes (O_APPEND, like a job). */
function startWriter(source: string, path: string): Deno.ChildProcess {
  return new Deno.Command("dd", {
    args: [`if=${source}`, `of=${path}`, "bs=64k", "oflag=append", "conv=notrunc", "status=none"],
  }).spawn();
}

/** Resolves when `stream` has delivered `total` bytes; then stops reading. */
async function drainCount(stream: AsyncIterable<Uint8Array>, total: number): Promise<void> {
  let received = 0;
  for await (const chunk of stream) {
    received += chunk.length;
    if (received >= total) return;
  }
  throw new Error(`stream ended after ${received} of ${total} bytes`);
}

async function throughputOurs(dir: string, source: string, followers: number): Promise<number> {
  const path = `${dir}/out-ours-${followers}`;
  await Deno.writeFile(path, new Uint8Array());
  const start = performance.now();
  const writer = startWriter(source, path);
  const done = Array.from(
    { length: followers },
    () => drainCount(followOutput(path, { ended: writer.status }), TOTAL),
  );
  await Promise.all(done);
  const elapsed = performance.now() - start;
  await writer.status;
  await Deno.remove(path);
  return elapsed;
}

async function throughputTail(dir: string, source: string, followers: number): Promise<number> {
  const path = `${dir}/out-tail-${followers}`;
  await Deno.writeFile(path, new Uint8Array());
  const start = performance.now();
  const writer = startWriter(source, path);
  const tails = Array.from(
    { length: followers },
    () => new Deno.Command("tail", { args: ["-c", "+1", "-f", path], stdout: "piped" }).spawn(),
  );
  await Promise.all(tails.map((tail) => drainCount(tail.stdout, TOTAL)));
  const elapsed = performance.now() - start;
  for (const tail of tails) {
    killQuietly(tail);
    await tail.status;
  }
  await writer.status;
  await Deno.remove(path);
  return elapsed;
}

/** SIGKILL, unless the process already died (tail dies of SIGPIPE once its reader stops). */
function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch { /* already exited */ }
}

/** Median microseconds from a one-byte write until the follower delivers it. */
async function pingPong(
  writer: Deno.FsFile,
  next: () => Promise<number>,
  rounds: number,
): Promise<number> {
  const samples: number[] = [];
  const byte = new Uint8Array([0x5a]);
  for (let i = 0; i < rounds; i++) {
    const pending = next();
    const start = performance.now();
    await writer.write(byte);
    await pending;
    samples.push((performance.now() - start) * 1000);
  }
  return median(samples);
}

async function latencyOurs(dir: string, name: string, rounds: number): Promise<number> {
  const path = `${dir}/${name}`;
  const writer = await Deno.open(path, { write: true, append: true, create: true });
  const ended = Promise.withResolvers<void>();
  const follower = followOutput(path, { ended: ended.promise });
  try {
    return await pingPong(writer, async () => (await follower.next()).value!.length, rounds);
  } finally {
    ended.resolve();
    await follower.return(undefined);
    writer.close();
  }
}

async function latencyTail(dir: string, rounds: number): Promise<number> {
  const path = `${dir}/latency-tail`;
  const writer = await Deno.open(path, { write: true, append: true, create: true });
  const tail = new Deno.Command("tail", { args: ["-c", "+1", "-f", path], stdout: "piped" })
    .spawn();
  const reader = tail.stdout.getReader();
  try {
    return await pingPong(writer, async () => (await reader.read()).value!.length, rounds);
  } finally {
    reader.releaseLock();
    killQuietly(tail);
    await tail.stdout.cancel();
    await tail.status;
    writer.close();
  }
}

/** Opens and closes `count` watchers on fresh directories, as a long-running daemon would. */
async function churnWatchers(dir: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const jobDir = `${dir}/churn-${i}`;
    await Deno.mkdir(jobDir);
    const watcher = Deno.watchFs(jobDir, { recursive: false });
    const pump = (async () => {
      for await (const _ of watcher) { /* nothing */ }
    })();
    watcher.close();
    await pump;
    await Deno.remove(jobDir);
  }
}

const dir = await Deno.makeTempDir({ prefix: "ijr_output_bench_" });
try {
  const source = `${dir}/source`;
  const chunk = new Uint8Array(MIB).map((_, i) => (i * 131 + 7) & 0xff);
  const file = await Deno.open(source, { write: true, create: true });
  for (let i = 0; i < TOTAL / MIB; i++) await file.write(chunk);
  file.close();

  console.log("| measurement | followOutput | tail -c +1 -f | ratio (ours / tail) |");
  console.log("|---|---|---|---|");
  for (const followers of [1, 10, 100]) {
    const ours: number[] = [];
    const tail: number[] = [];
    for (let run = 0; run < 3; run++) {
      ours.push(await throughputOurs(dir, source, followers));
      tail.push(await throughputTail(dir, source, followers));
    }
    const [o, t] = [median(ours), median(tail)];
    console.log(
      `| ${followers} follower(s), 64 MiB, time to all bytes (median of 3) | ${
        o.toFixed(0)
      } ms | ` +
        `${t.toFixed(0)} ms | ${(o / t).toFixed(2)} |`,
    );
  }

  const oursLatency = await latencyOurs(dir, "latency-ours", 500);
  const tailLatency = await latencyTail(dir, 500);
  console.log(
    `| wake-up latency, 1-byte ping-pong (median of 500) | ${oursLatency.toFixed(0)} µs | ` +
      `${tailLatency.toFixed(0)} µs | ${(oursLatency / tailLatency).toFixed(2)} |`,
  );
  const churnStart = performance.now();
  await churnWatchers(dir, 2000);
  const churnMs = performance.now() - churnStart;
  const afterChurn = await latencyOurs(dir, "latency-after-churn", 500);
  console.log(
    `| same, after 2000 watchers opened and closed in this isolate | ${
      afterChurn.toFixed(0)
    } µs | ` +
      `${tailLatency.toFixed(0)} µs | ${(afterChurn / tailLatency).toFixed(2)} |`,
  );
  console.log(
    `\n(2000 watcher open/close cycles took ${churnMs.toFixed(0)} ms; latency after/before ` +
      `churn: ${(afterChurn / oursLatency).toFixed(2)}x)`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
