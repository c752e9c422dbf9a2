/**
 * Where ijrd spends a call: runs a real ijrd under `--inspect`, drives one RPC many times from
 * a connected client in this process, and takes a V8 CPU profile of ijrd over the inspector
 * protocol while it does. Prints the functions with the most time (self, and inclusive: a
 * sample counts once for every distinct function on its stack) and the time by area (grpc-js,
 * protobuf-es, Deno's Node layer, IJR's own files), and writes the .cpuprofile for Chrome's
 * DevTools.
 *
 * Run as root:
 *   .tools/bin/deno run -A bench/rpc_profile.ts
 *     [getJob|listJobs|stopJob|listRootfs|startWait|runJob]
 *     [--calls N] [--clients N] [--side daemon|client] [--out FILE]
 *
 * With --clients N, N connected clients make the calls at once (N at a time in all). With
 * --side client, the profile is of this process (the clients: IJR's own typed client,
 * as ijrctl runs it) instead of ijrd, taken through node:inspector's in-process session.
 *
 * Sampling at 50 µs costs ijrd some speed; the shares, not the absolute times, are the point.
 * @module
 */

import { Session } from "node:inspector";
import { JobState } from "../lib/gen/ijr/v1/job_pb.ts";
import { connect } from "../lib/ctl/connect.ts";
import { cleanupDaemon, startDaemon, uploadBusybox } from "../tests/helpers/daemon.ts";

const method = Deno.args.find((arg) => !arg.startsWith("--")) ?? "getJob";
const flag = (name: string) => {
  const at = Deno.args.indexOf(name);
  return at < 0 ? undefined : Deno.args[at + 1];
};
const calls = Number(flag("--calls") ?? 2000);
const clientCount = Number(flag("--clients") ?? 1);
const side = flag("--side") ?? "daemon";
if (side !== "daemon" && side !== "client") throw new Error("--side is daemon or client");
const out = flag("--out") ?? `build/rpc_profile_${method}_${side}.cpuprofile`;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, (result: unknown) => void>();
  #next = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      this.#pending.get(message.id)?.(message.result ?? message.error);
      this.#pending.delete(message.id);
    };
  }

  static async open(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new Inspector(socket);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve as (result: unknown) => void);
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#socket.close();
  }
}

/** The same protocol, to this process's own V8 (the clients' side). */
class OwnInspector {
  readonly #session = new Session();

  constructor() {
    this.#session.connect();
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#session.post(method, params, (error: unknown, result: unknown) => {
        if (error) reject(error);
        else resolve(result as T);
      });
    });
  }

  close(): void {
    this.#session.disconnect();
  }
}

/** "grpc-js", "protobuf-es", "IJR lib/rpc/adapter.ts", ...: where a frame's code lives. */
function areaOf(url: string): string {
  if (url === "") return "(V8: native, GC, idle)";
  const npm = url.match(/registry\.npmjs\.org\/(@[^/]+\/[^/]+|[^/]+)\//);
  if (npm) return `npm ${npm[1]}`;
  if (url.startsWith("ext:deno_node") || url.startsWith("node:")) return "Deno's Node layer";
  if (url.startsWith("ext:")) return "Deno runtime";
  const own = url.match(/\/(lib\/.*|daemon\.ts|bench\/.*)$/);
  if (own) return `IJR ${own[1]}`;
  return url;
}

function summarize(profile: Profile): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const label = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || "(anonymous)"} ${areaOf(url)}:${lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, index) => {
    const ms = (profile.timeDeltas[index + 1] ?? 0) / 1000;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === "(idle)") {
      idle += ms;
      return;
    }
    total += ms;
    self.set(label(node), (self.get(label(node)) ?? 0) + ms);
    const area = areaOf(node.callFrame.url);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = label(byId.get(at)!);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
    }
  });
  const top = (table: Map<string, number>, count: number) =>
    [...table].sort((a, b) => b[1] - a[1]).slice(0, count);
  const per = (ms: number) => `${(ms * 1000 / calls).toFixed(1).padStart(7)} µs/call`;
  console.log(`busy ${total.toFixed(0)} ms, idle ${idle.toFixed(0)} ms, ${calls} calls`);
  console.log("\nself time by area:");
  for (const [name, ms] of top(areas, 20)) console.log(`  ${per(ms)}  ${name}`);
  console.log("\nself time by function:");
  for (const [name, ms] of top(self, 30)) console.log(`  ${per(ms)}  ${name}`);
  console.log("\ninclusive time by function:");
  for (const [name, ms] of top(inclusive, 45)) console.log(`  ${per(ms)}  ${name}`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const inspectPort = freePort();
// ijrd's defaults, live restore among them: its jobs are spawned on the blocking pool, not on
// the thread profiled here.
const daemon = await startDaemon([], undefined, {
  denoFlags: [`--inspect=127.0.0.1:${inspectPort}`],
  liveRestore: true,
});
try {
  await uploadBusybox(daemon);
  const targets = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const url = targets[0].webSocketDebuggerUrl as string;
  const user = connect({ config: daemon.configs.alice });
  const admin = connect({ config: daemon.configs.admin });
  const more = Array.from(
    { length: clientCount - 1 },
    () => connect({ config: daemon.configs.alice }),
  );
  // 100 finished jobs, as in the ListJobs figure.
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    const { job } = await user.jobs.startJob({ rootfs: "bb", argv: ["/bin/true"] });
    await user.jobs.waitJob({ jobId: job!.id });
    ids.push(job!.id);
  }
  const actionsOf = (client: typeof user): Record<string, () => Promise<unknown>> => ({
    getJob: () => client.jobs.getJob({ jobId: ids[0] }),
    listJobs: () => client.jobs.listJobs({ includeFinished: true }),
    stopJob: () => client.jobs.stopJob({ jobId: ids[0] }),
    listRootfs: () => admin.rootfs.listRootfs({}),
    startWait: async () => {
      const { job } = await client.jobs.startJob({ rootfs: "bb", argv: ["/bin/true"] });
      const { job: final } = await client.jobs.waitJob({ jobId: job!.id });
      if (final!.state !== JobState.EXITED) throw new Error(`job ended ${final!.state}`);
    },
    runJob: async () => {
      let final: JobState | undefined;
      for await (const { ended } of client.jobs.runJob({ rootfs: "bb", argv: ["/bin/true"] })) {
        final = ended?.state ?? final;
      }
      if (final !== JobState.EXITED) throw new Error(`job ended ${final}`);
    },
  });
  const actions = [user, ...more].map((client) => actionsOf(client)[method]);
  if (!actions[0]) {
    throw new Error(`no such method: ${method} (${Object.keys(actionsOf(user)).join(", ")})`);
  }
  /** `count` calls, spread over the clients, as many at once as there are clients. */
  const drive = async (count: number) => {
    let left = count;
    await Promise.all(actions.map(async (action) => {
      while (left-- > 0) await action();
    }));
  };
  await drive(200); // warm up V8's compilers
  const inspector = side === "daemon" ? await Inspector.open(url) : new OwnInspector();
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 50 });
  await inspector.send("Profiler.start");
  const started = performance.now();
  await drive(calls);
  const elapsed = performance.now() - started;
  const { profile } = await inspector.send<{ profile: Profile }>("Profiler.stop");
  inspector.close();
  for (const client of [user, admin, ...more]) client.close();
  await Deno.writeTextFile(out, JSON.stringify(profile));
  console.log(`${method}: ${(elapsed / calls).toFixed(3)} ms per call while sampled; ${out}`);
  summarize(profile);
} finally {
  await cleanupDaemon(daemon);
}
