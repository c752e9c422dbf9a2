/**
 * Rootfs upload throughput: RootfsStore.upload (chunks -> DecompressionStream -> tar parser
 * -> confined writer in libijr) against `tar -xzf` of the same file, in the same run, on
 * the same file system, alternating so both see the same machine load.
 *
 *   deno run -A bench/rootfs_upload_bench.ts [tarball.tar.gz] [--rounds N] [--scratch DIR]
 *
 * --scratch picks where both extract (default build/bench, the repository's disk); a tmpfs
 * such as /dev/shm takes the disk out and compares the CPU cost alone.
 *
 * Without a tarball it uses build/bench/debian-rootfs.tar.gz, made once from
 * build/bench/debian-rootfs (run `debootstrap bookworm build/bench/debian-rootfs` first), or
 * else a synthetic one archived from a few large /usr folders.
 * @module
 */

import { join } from "node:path";
import { RootfsStore } from "../lib/rootfs/mod.ts";

const REPO = new URL("..", import.meta.url).pathname;
const WORK = join(REPO, "build", "bench");

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** The tarball to measure, built once when not given. */
async function tarball(given: string | undefined): Promise<{ path: string; what: string }> {
  if (given) return { path: given, what: given };
  await Deno.mkdir(WORK, { recursive: true });
  const debian = join(WORK, "debian-rootfs");
  const debianTarball = join(WORK, "debian-rootfs.tar.gz");
  if (await exists(join(debian, "etc", "debian_version"))) {
    if (!(await exists(debianTarball))) {
      await run("tar", ["--numeric-owner", "-C", debian, "-czf", `${debianTarball}.tmp`, "."]);
      await Deno.rename(`${debianTarball}.tmp`, debianTarball);
    }
    return { path: debianTarball, what: "Debian bookworm rootfs (debootstrap)" };
  }
  const synthetic = join(WORK, "synthetic-rootfs.tar.gz");
  const folders = ["usr/lib/python3.11", "usr/include", "usr/share/doc"];
  if (!(await exists(synthetic))) {
    await run("tar", ["--numeric-owner", "-C", "/", "-czf", `${synthetic}.tmp`, ...folders]);
    await Deno.rename(`${synthetic}.tmp`, synthetic);
  }
  return { path: synthetic, what: `synthetic rootfs (/${folders.join(", /")})` };
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  for await (const chunk of file.readable) yield chunk;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  // Write back the previous round's dirty pages first, so no round pays for another.
  await run("sync", []);
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const args = [...Deno.args];
  const roundsAt = args.indexOf("--rounds");
  const rounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 5;
  const scratchAt = args.indexOf("--scratch");
  const scratchParent = scratchAt >= 0 ? args.splice(scratchAt, 2)[1] : WORK;
  const { path, what } = await tarball(args[0]);
  const compressed = (await Deno.stat(path)).size;
  const scratch = await Deno.makeTempDir({ dir: scratchParent, prefix: "ijr-bench-run-" });
  const times: Record<string, number[]> = { tar: [], ijr: [], ijrDurable: [] };
  let extracted = 0;
  let entries = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const target = join(scratch, `tar-${round}`);
      await Deno.mkdir(target);
      times.tar.push(
        await timed(() => run("tar", ["--numeric-owner", "-C", target, "-xzf", path])),
      );
      await Deno.remove(target, { recursive: true });

      for (const durable of [false, true]) {
        const store = await RootfsStore.open({
          dir: join(scratch, `store-${round}-${durable}`),
          durable,
        });
        times[durable ? "ijrDurable" : "ijr"].push(
          await timed(async () => {
            const result = await store.upload(fileChunks(path), { name: "bench" });
            extracted = result.rootfs.sizeBytes;
            entries = result.rootfs.entries;
          }),
        );
        await Deno.remove(store.dir, { recursive: true });
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const tar = median(times.tar);
  const ijr = median(times.ijr);
  const durable = median(times.ijrDurable);
  const rate = (ms: number) => `${mib(extracted / (ms / 1000))} MiB/s`;
  console.log(`tarball: ${what}; extracting into ${scratchParent}`);
  console.log(
    `  ${mib(compressed)} MiB compressed, ${mib(extracted)} MiB of files, ${entries} entries; ` +
      `median of ${rounds} rounds`,
  );
  console.log("");
  console.log("| extractor | median | file bytes/s | vs tar -xzf |");
  console.log("|---|---|---|---|");
  console.log(`| GNU tar -xzf | ${tar.toFixed(0)} ms | ${rate(tar)} | 1.00x |`);
  console.log(
    `| ijr upload (durable: false) | ${ijr.toFixed(0)} ms | ${rate(ijr)} | ${
      (ijr / tar).toFixed(2)
    }x |`,
  );
  console.log(
    `| ijr upload (durable: true, syncfs before publish) | ${durable.toFixed(0)} ms | ` +
      `${rate(durable)} | ${(durable / tar).toFixed(2)}x |`,
  );
  console.log("");
  console.log(
    `raw ms: tar ${times.tar.map((t) => t.toFixed(0)).join(" ")}; ` +
      `ijr ${times.ijr.map((t) => t.toFixed(0)).join(" ")}; ` +
      `ijr durable ${times.ijrDurable.map((t) => t.toFixed(0)).join(" ")}`,
  );
}

if (import.meta.main) await main();
