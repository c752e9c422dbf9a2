/**
 * Where the time of a job started through ijrd goes, on the kernel's clock: an ftrace timeline
 * (tracefs) of StartJob + WaitJob of `/bin/true` (or RunJob, with `--run`), one job at a time,
 * 50 ms apart, against a real ijrd with its defaults. The client writes a marker into the trace
 * at each step of its own; the kernel records, for ijrd, the job's processes and this process
 * only (`set_event_pid` with `event-fork`), the system calls of interest, the execs and the
 * exits. Prints each step's median time from the client's marker, and the median gap to the
 * step before, and keeps the whole trace for reading (it found the work that held a start's
 * answer back: bench/README.md, "The start's answer before its end").
 *
 * Tracing is global kernel state: what this changes (events, pid filter, buffer size, the
 * event-fork option, tracing_on) is put back as it was at the end.
 *
 * Run as root: .tools/bin/deno run -A bench/start_timeline.ts [--run] [--rounds N] [--out FILE]
 * @module
 */

import { connect } from "../lib/ctl/connect.ts";
import { JobState } from "../lib/gen/ijr/v1/job_pb.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../tests/helpers/daemon.ts";

const TRACING = "/sys/kernel/tracing";
const flag = (name: string, fallback: string) => {
  const at = Deno.args.indexOf(name);
  return at < 0 ? fallback : Deno.args[at + 1];
};
const runJob = Deno.args.includes("--run");
const rounds = Number(flag("--rounds", "40"));
const out = flag("--out", "build/start_timeline.txt");
const LIMITS = { memoryBytes: 64n << 20n, pids: 64n, cpuShares: 512n };
const EVENTS = [
  "sched:sched_process_exec",
  "sched:sched_process_exit",
  "syscalls:sys_enter_sendto",
  "syscalls:sys_enter_recvfrom",
  "syscalls:sys_enter_clone3",
  "syscalls:sys_enter_mkdir",
  "syscalls:sys_enter_rename",
  "syscalls:sys_enter_rmdir",
];

/** tracefs settings this changes, read before and written back after. */
class TracingState {
  readonly #saved = new Map<string, string>();

  read(file: string): string {
    return Deno.readTextFileSync(`${TRACING}/${file}`);
  }

  write(file: string, value: string): void {
    if (!this.#saved.has(file)) this.#saved.set(file, this.read(file));
    Deno.writeTextFileSync(`${TRACING}/${file}`, value);
  }

  /** Clears the trace buffer (nothing to put back: it is only ever emptied). */
  clearTrace(): void {
    Deno.writeTextFileSync(`${TRACING}/trace`, "");
  }

  /**
   * Puts every setting back, tracing_on last (so that nothing of this bench's events and
   * filter records into someone else's trace), each on its own: one that cannot be written
   * back is reported and the rest still are.
   */
  restore(): void {
    const files = [...this.#saved.keys()].sort((a, b) =>
      Number(a === "tracing_on") - Number(b === "tracing_on")
    );
    for (const file of files) {
      try {
        this.#restoreOne(file, this.#saved.get(file)!);
      } catch (error) {
        console.error(`cannot put ${TRACING}/${file} back: ${(error as Error).message}`);
      }
    }
  }

  #restoreOne(file: string, value: string): void {
    const path = `${TRACING}/${file}`;
    if (file === "set_event" || file === "set_event_pid") {
      // One event or pid a line; writing each back re-enables it.
      Deno.writeTextFileSync(path, "");
      for (const line of value.split("\n").filter((line) => line !== "")) {
        Deno.writeTextFileSync(path, `${line}\n`, { append: true });
      }
    } else if (file === "buffer_size_kb") {
      // "7 (expanded: 1408)" before any use since boot: the size is the expanded one. "X":
      // CPUs of different sizes, which one write cannot give back.
      const size = value.match(/expanded: (\d+)/)?.[1] ?? value.trim();
      if (size === "X") throw new Error("per-CPU buffer sizes differ; left as they are");
      Deno.writeTextFileSync(path, size);
    } else {
      Deno.writeTextFileSync(path, value.trim());
    }
  }
}

/** One line of the trace: who, when, what. */
interface TraceEvent {
  readonly comm: string;
  readonly tid: number;
  readonly at: number;
  readonly event: string;
  readonly detail: string;
}

function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of text.split("\n")) {
    // "comm-tid [cpu] flags seconds: event: detail", or "...: sys_name(arguments)".
    const match = line.match(/^\s*(.+)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+)(?:: |\()(.*)$/);
    if (!match) continue;
    const [, comm, tid, at, event, detail] = match;
    events.push({ comm: comm.trim(), tid: Number(tid), at: Number(at) * 1000, event, detail });
  }
  return events;
}

/** The bytes a sendto sends (its `len`). */
const sentBytes = (event: TraceEvent) =>
  parseInt(event.detail.match(/len: (0x[0-9a-f]+|\d+)/)?.[1] ?? "0");

/** The steps of one round, each the time of its first event, in ms from the client's marker. */
function stepsOf(round: TraceEvent[], ijrd: number, client: number): Map<string, number> {
  const start = round[0].at;
  const steps = new Map<string, number>();
  let at = 0; // steps are found in order, each after the one before
  const find = (name: string, test: (event: TraceEvent) => boolean) => {
    const index = round.findIndex((event, i) => i >= at && test(event));
    if (index < 0) return;
    steps.set(name, round[index].at - start);
    at = index;
  };
  const marker = (text: string) => (event: TraceEvent) =>
    event.event === "tracing_mark_write" && event.detail.startsWith(text);
  // Sends of a byte are signal handlers waking a thread, not answers.
  const answer = (event: TraceEvent) =>
    event.tid === ijrd && event.event === "sys_sendto" && sentBytes(event) > 1;
  const readByIjrd = (event: TraceEvent) => event.tid === ijrd && event.event === "sys_recvfrom";
  find("client sends the request", (e) => e.tid === client && e.event === "sys_sendto");
  find("ijrd reads it", readByIjrd);
  find("spawn: clone3", (e) => e.event === "sys_clone3" && e.comm !== "deno");
  find("init execs", (e) => e.event === "sched_process_exec" && e.detail.includes("/dev/fd/"));
  find("command execs", (e) => e.event === "sched_process_exec" && e.detail.includes("/bin/true"));
  find("command exits", (e) => e.event === "sched_process_exit" && e.detail.includes("comm=true"));
  const afterExit = at;
  find("init exits", (e) => e.event === "sched_process_exit" && e.detail.includes("ijr-init"));
  // The kernel tells the parent after the init's namespaces are torn down; Deno's signal
  // handler then writes a byte to wake the thread that listens.
  find("SIGCHLD reaches ijrd", (e) => e.event === "sys_sendto" && sentBytes(e) === 1);
  // The first answer may leave before the job ends: look for it from the spawn on.
  at = round.findIndex((e) => e.event === "sys_clone3" && e.comm !== "deno");
  if (runJob) {
    find("ijrd answers (started, or both)", answer);
    at = Math.max(at + 1, afterExit);
    find("ijrd answers (ended)", answer);
    at = 0;
    find("client has the end", marker("C end"));
  } else {
    find("ijrd answers StartJob", answer);
    find("client has it, sends WaitJob", marker("C started"));
    find("ijrd reads WaitJob", readByIjrd);
    find("ijrd answers WaitJob", answer);
    find("client has the end", marker("C end"));
  }
  return steps;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const tracing = new TracingState();
// Checked before ijrd starts: without tracefs there is nothing to measure.
const marker = Deno.openSync(`${TRACING}/trace_marker`, { write: true });
const encoder = new TextEncoder();
const mark = (text: string) => void marker.writeSync(encoder.encode(text));
const daemon = await startDaemon([], undefined, { liveRestore: true });
// Interrupted, the settings go back and ijrd goes too.
const onInterrupt = () => {
  tracing.restore();
  cleanupDaemon(daemon).finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onInterrupt);
try {
  await uploadBusybox(daemon);
  const alice = connect({ config: daemon.configs.alice });
  const one = async () => {
    mark("C request");
    if (runJob) {
      let final: JobState | undefined;
      for await (
        const { ended } of alice.jobs.runJob({ rootfs: "bb", argv: ["/bin/true"], limits: LIMITS })
      ) final = ended?.state ?? final;
      mark("C end");
      if (final !== JobState.EXITED) throw new Error(`the job ended ${final}`);
      return;
    }
    const { job } = await alice.jobs.startJob({
      rootfs: "bb",
      argv: ["/bin/true"],
      limits: LIMITS,
    });
    mark("C started");
    const { job: final } = await alice.jobs.waitJob({ jobId: job!.id });
    mark("C end");
    if (final!.state !== JobState.EXITED) throw new Error(`the job ended ${final!.state}`);
  };
  const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
  for (let i = 0; i < 10; i++) await one().then(pause); // warm-up, untraced

  tracing.write("tracing_on", "0");
  tracing.write("set_event", "");
  tracing.write("buffer_size_kb", "16384");
  tracing.write("options/event-fork", "1");
  // Every thread of both (a pid filter is by thread); threads and processes they make later
  // come in through event-fork.
  const threads = [daemon.process.pid, Deno.pid].flatMap((pid) =>
    [...Deno.readDirSync(`/proc/${pid}/task`)].map((task) => task.name)
  );
  tracing.write("set_event_pid", threads.join(" "));
  for (const event of EVENTS) {
    Deno.writeTextFileSync(`${TRACING}/set_event`, `${event}\n`, { append: true });
  }
  tracing.clearTrace();
  const wall: number[] = [];
  Deno.writeTextFileSync(`${TRACING}/tracing_on`, "1");
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await one();
    wall.push(performance.now() - started);
    await pause();
  }
  Deno.writeTextFileSync(`${TRACING}/tracing_on`, "0");
  const text = tracing.read("trace");
  Deno.writeTextFileSync(out, text);
  alice.close();

  const events = parseTrace(text);
  const byRound: TraceEvent[][] = [];
  for (const event of events) {
    if (event.event === "tracing_mark_write" && event.detail.startsWith("C request")) {
      byRound.push([]);
    }
    byRound.at(-1)?.push(event);
  }
  const steps = byRound.map((round) => stepsOf(round, daemon.process.pid, Deno.pid));
  // In the order the rounds have them (the one with every step first).
  const names = [
    ...new Set(steps.toSorted((a, b) => b.size - a.size).flatMap((r) => [...r.keys()])),
  ];
  console.log(
    `${runJob ? "RunJob" : "StartJob + WaitJob"} of /bin/true, ${rounds} rounds 50 ms apart; ` +
      `median ${median(wall).toFixed(3)} ms end to end (traced); trace in ${out}`,
  );
  console.log(`${"step".padEnd(36)} ${"from the request".padStart(16)} ${"gap".padStart(9)}`);
  let before: string | undefined;
  for (const name of names) {
    const seen = steps.filter((round) => round.has(name));
    const at = median(seen.map((round) => round.get(name)!));
    const gaps = before === undefined ? [] : seen.filter((round) => round.has(before!))
      .map((round) => round.get(name)! - round.get(before!)!);
    const gap = gaps.length ? `${median(gaps).toFixed(3)}` : "";
    const count = seen.length === rounds ? "" : ` (in ${seen.length} of ${rounds})`;
    console.log(`${name.padEnd(36)} ${at.toFixed(3).padStart(13)} ms ${gap.padStart(9)}${count}`);
    before = name;
  }
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt);
  marker.close();
  try {
    tracing.restore();
  } finally {
    await cleanupDaemon(daemon);
  }
}
