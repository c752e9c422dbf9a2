/**
 * A mutation fuzzer for rootfs uploads. Real archives (the busybox rootfs, the round-trip
 * tests' special tree in POSIX and GNU format, a hostile archive that climbs out of its root,
 * and one full of PAX and GNU long-name headers) are mutated (bit flips, interesting bytes,
 * numeric header fields set to hostile values with the checksum fixed, type flags, paths,
 * truncation, duplicated and removed blocks, inserted PAX and long-name headers, damaged
 * gzip streams) and every mutant is uploaded through RootfsStore.upload with small limits.
 *
 * The oracle, for every mutant:
 * - the upload succeeds, or fails with one IjrError whose code is INVALID_ARGUMENT or
 *   RESOURCE_EXHAUSTED: never INTERNAL, never a TypeError or RangeError, no unhandled
 *   rejection;
 * - it finishes within MUTANT_DEADLINE_MS: the upload runs in a worker, so even a
 *   synchronous loop in the parser is seen as a hang and ended (a timer on the parser's own
 *   thread would never fire), and the worker's last phase is reported;
 * - the process's RSS grows by less than RSS_GROWTH_LIMIT while it runs (over the RSS
 *   just before it);
 * - the parser alone keeps its structural promises (members in order, one header block
 *   each, exactly the declared data), and agrees with the upload on members and bytes;
 * - on success, entries and bytes are within the limits, on disk too;
 * - nothing outside the new root changes: sentinel files and a symlink farm beside the store
 *   are listed (with sizes, mtimes and ctimes, so a new hard link shows) before and after,
 *   and the store holds exactly the new rootfs after a success and nothing (no .tmp- folder)
 *   after a failure;
 * - on success the tree is what GNU tar extracts from the same bytes, when GNU tar accepts
 *   them (exit 0): same paths, types, modes, owners, sizes, contents, symlink targets, hard
 *   links, and mtimes of everything but directories.
 *
 * Deliberate differences, where the comparison is skipped or narrowed:
 * - device nodes and FIFOs are not created by IJR (GNU tar's are left out of its listing),
 *   nor the directories above them that the archive does not list, and they do not replace
 *   an earlier member of the same path (not compared when GNU tar's device took its place);
 * - a symlink whose target is absolute or holds ".." and whose path a later member names
 *   again: GNU tar 1.34 makes such symlinks last, from placeholders, and keeps the first of
 *   the two; IJR keeps the last, as GNU tar does for every other member (not compared);
 * - directory mtimes are not compared: a directory the archive does not list is made at
 *   extraction time by either extractor; nor the metadata of a directory listed twice under
 *   different spellings ("./d/", "d/"): GNU tar 1.34 then keeps the first listing's when the
 *   directory holds a symlink it delays, IJR the last, as GNU tar does otherwise;
 * - IJR is stricter than GNU tar (it requires the end-of-archive block, refuses unknown type
 *   flags, sparse and multi-volume members, and hard links it cannot make), and GNU tar
 *   refuses what IJR confines (members with ".." inside, writes through symlinks that point
 *   outside): only mutants both accept are compared; the others are counted.
 *
 * IJR_FUZZ_SECONDS sets the time budget (default 15), IJR_FUZZ_SEED the seed (printed at the
 * start; default random), IJR_FUZZ_MUTANT replays a single mutant of that seed (and keeps
 * it, passing or not). A failing mutant is written to build/fuzz-failures/ with its seed,
 * index and description.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { resolveRootfsLimits, type RootfsLimits, TarParser } from "../../lib/rootfs/mod.ts";
import { busyboxTarball, FIXTURES_DIR } from "../helpers/busybox.ts";
import { rootTest } from "../helpers/root.ts";
import { treeListing } from "../helpers/rootfs_tree.ts";
import { makeSpecialTree } from "../helpers/special_tree.ts";
import type { FuzzJob, FuzzProgress, FuzzReport } from "../helpers/tar_fuzz_worker.ts";
import { mutateGzip, mutateTar, Random } from "../helpers/tar_mutator.ts";
import { buildTar, paxMember, type TarMember } from "../helpers/tar_writer.ts";

const BUDGET_SECONDS = parseNumber("IJR_FUZZ_SECONDS", Deno.env.get("IJR_FUZZ_SECONDS") ?? "15");
const SEED_TEXT = Deno.env.get("IJR_FUZZ_SEED");
const ONLY_TEXT = Deno.env.get("IJR_FUZZ_MUTANT");
/** Far above what one mutant takes (well under a second): on a machine shared with
 * suites that flood the disk, one took over 10 s once and passed in 0.3 s replayed. */
const MUTANT_DEADLINE_MS = 30_000;
/** The negative-size attack grew the daemon by gigabytes; an honest upload by a few MiB. */
const RSS_GROWTH_LIMIT = 512 * 1024 * 1024;
const FAILURES_DIR = join(dirname(FIXTURES_DIR), "fuzz-failures");
const ACCEPTED_CODES = ["INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"];

function parseNumber(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new Error(`${name} must be a number, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseSeed(text: string | undefined): number {
  if (text === undefined || text === "") return crypto.getRandomValues(new Uint32Array(1))[0];
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`IJR_FUZZ_SEED must be an integer in 0..4294967295, got ${text}`);
  }
  return value;
}

const decoder = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: decoder.decode(out.stderr) };
}

async function mustOutput(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await run(cmd, args);
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

// --- The base archives ------------------------------------------------------------------

interface Base {
  name: string;
  tar: Uint8Array;
  limits: RootfsLimits;
}

/** Members an archive has, by the parser (the bases are valid archives). */
function memberCount(tar: Uint8Array): number {
  let members = 0;
  const parser = new TarParser({
    entry() {
      members++;
    },
    data() {},
    entryEnd() {},
  }, { maxPathBytes: 4096, maxContentBytes: Number.MAX_SAFE_INTEGER });
  parser.push(tar);
  parser.finish();
  return members;
}

/** Small limits: a few entries and a few MiB above what the base archive needs, so a
 * mutant that multiplies members or sizes meets them. */
function baseOf(name: string, tar: Uint8Array): Base {
  const limits = resolveRootfsLimits({
    maxEntries: memberCount(tar) + 16,
    maxExtractedBytes: tar.length + 4 * 1024 * 1024,
  });
  return { name, tar, limits };
}

/** Climbs from the store's new root (<work>/store/<.tmp-x or name>/rootfs) to <work>. */
const UP = "../../../";

/** Everything an archive can do to reach the sandbox around the store: ".." paths, a
 * symlink out and a file through it, a hard link to a host file, an absolute symlink. */
function hostileMembers(): TarMember[] {
  return [
    { name: "./", type: "5" },
    { name: `${UP}outside/sentinel`, data: "pwned\n" },
    { name: "up", type: "2", link: `${UP}outside` },
    { name: "up/sentinel", data: "pwned through a symlink\n" },
    { name: "root", type: "2", link: "/" },
    { name: "root/../../outside/farm/to-sentinel", data: "pwned through /\n" },
    { name: "farm", type: "2", link: `${UP}outside/farm` },
    { name: "farm/to-root/tmp/pwned", data: "x" },
    { name: "stolen", type: "1", link: `${UP}outside/sentinel` },
    { name: `${UP}outside/newdir/`, type: "5" },
    { name: "etc/passwd", data: "root:x:0:0::/root:/bin/sh\n", uid: 0, mode: 0o644 },
    { name: "etc/shadow-link", type: "1", link: "etc/passwd" },
  ];
}

/** PAX (local and global) and GNU long-name headers, for the mutations to damage. */
function paxMembers(): TarMember[] {
  const long = `${"d".repeat(120)}/${"f".repeat(150)}`;
  return [
    paxMember({ uid: "4000000000", gid: "77", comment: "global" }, true),
    { name: "dir/", type: "5", mode: 0o755 },
    paxMember({ path: long, mtime: "1700000000.123456789", uid: "42", size: "5" }),
    { name: "short", data: "12345", size: 0 },
    paxMember({ linkpath: `/${"t".repeat(300)}`, mtime: "-1.25" }),
    { name: "link", type: "2", link: "short-target" },
    // 300 bytes, each component within NAME_MAX (255).
    {
      name: "././@LongLink",
      type: "L",
      data: `dir/${"n".repeat(200)}/${"m".repeat(95)}\u0000`,
      magic: "gnu",
    },
    { name: "truncated-name", data: "long name\n", magic: "gnu" },
    { name: "././@LongLink", type: "K", data: `${"k".repeat(200)}\u0000`, magic: "gnu" },
    { name: "sym", type: "2", link: "truncated", magic: "gnu" },
    // GNU tar calls an empty uid or gid malformed, and the base must be one it accepts.
    paxMember({ comment: "", mtime: "1600000000.5" }),
    { name: "plain", gid: 9, data: "plain\n", mtime: -86400 },
    { name: "dev/null", type: "3", devMajor: 1, devMinor: 3 },
    { name: "hard", type: "1", link: "plain" },
  ];
}

/** The special tree, archived by GNU tar in a reproducible way (sorted names, no atime or
 * ctime records, seeded file contents), so a seed means the same mutants every run. */
async function specialTar(scratch: string, format: "posix" | "gnu"): Promise<Uint8Array> {
  const src = join(scratch, `special-${format}`);
  await Deno.mkdir(src);
  const random = new Random(0x5eed);
  await makeSpecialTree(src, {
    fractional: format === "posix",
    bigFileBytes: 64 * 1024 + 77,
    fill: (bytes) => random.fill(bytes),
  });
  return await mustOutput("tar", [
    `--format=${format}`,
    "--numeric-owner",
    "--sort=name",
    ...(format === "posix" ? ["--pax-option=delete=atime,delete=ctime"] : []),
    "-C",
    src,
    "-cf",
    "-",
    ".",
  ]);
}

async function buildCorpus(scratch: string): Promise<Base[]> {
  const busybox = new Uint8Array(gunzipSync(await Deno.readFile(await busyboxTarball())));
  return [
    baseOf("busybox", busybox),
    baseOf("special-posix", await specialTar(scratch, "posix")),
    baseOf("special-gnu", await specialTar(scratch, "gnu")),
    baseOf("hostile", buildTar(hostileMembers())),
    baseOf("pax", buildTar(paxMembers())),
  ];
}

// --- The sandbox around the store ---------------------------------------------------------

/** Creates <work>/outside (sentinels, a symlink farm) and <work>/canary. */
async function plantSandbox(work: string): Promise<void> {
  const outside = join(work, "outside");
  await Deno.mkdir(join(outside, "farm"), { recursive: true });
  await Deno.mkdir(join(outside, "etc"));
  await Deno.writeTextFile(join(outside, "sentinel"), "sentinel: must never change\n");
  await Deno.writeTextFile(join(outside, "etc", "passwd"), "root:x:0:0:sentinel:/:/bin/false\n");
  await Deno.writeTextFile(join(work, "canary"), "canary: must never change\n");
  for (
    const [name, target] of [
      ["to-sentinel", "../sentinel"],
      ["to-root", "/"],
      ["to-store", "../../store"],
      ["to-work", "../.."],
      ["to-canary", `${work}/canary`],
      ["dangling", "../nothing-here"],
    ]
  ) {
    await Deno.symlink(target, join(outside, "farm", name));
  }
}

/** Everything in <work> but the store: path, type, mode, owner, size, mtime, ctime (a new
 * hard link or a chmod changes it), link count, symlink target. */
async function sandboxListing(work: string): Promise<string> {
  const out = await mustOutput("find", [
    work,
    "-mindepth",
    "1",
    "(",
    "-path",
    join(work, "store"),
    "-prune",
    ")",
    "-o",
    "-printf",
    "%P %y %#m %U:%G %s %T@ %C@ %n %l\\n",
  ]);
  return decoder.decode(out).split("\n").sort().join("\n");
}

/** The path a treeListing line starts with. */
function listedPath(line: string): string {
  return JSON.parse(/^"(?:[^"\\]|\\.)*"/.exec(line)![0]);
}

/** The device nodes, FIFOs and sockets of a tree, as treeListing spells paths. */
async function specialFiles(tree: string): Promise<Set<string>> {
  const types = ["c", "b", "p", "s"].flatMap((type, i) => [...(i ? ["-o"] : []), "-type", type]);
  const args = [tree, "-mindepth", "1", "(", ...types, ")", "-printf", "%P\\0"];
  return new Set(decoder.decode(await mustOutput("find", args)).split("\0").filter(Boolean));
}

/** The directories above some paths. */
function parentsOf(paths: Iterable<string>): Set<string> {
  const parents = new Set<string>();
  for (const path of paths) {
    const parts = path.split("/");
    for (let n = 1; n < parts.length; n++) parents.add(parts.slice(0, n).join("/"));
  }
  return parents;
}

/** Bytes of regular files in a tree, each inode once. */
async function treeFileBytes(tree: string): Promise<number> {
  const out = decoder.decode(await mustOutput("find", [tree, "-type", "f", "-printf", "%i %s\\n"]));
  const sizes = new Map<string, number>();
  for (const line of out.split("\n").filter(Boolean)) {
    const [inode, size] = line.split(" ");
    sizes.set(inode, Number(size));
  }
  return [...sizes.values()].reduce((total, size) => total + size, 0);
}

// --- Running a mutant in the worker -------------------------------------------------------

type Outcome =
  | { kind: "report"; report: FuzzReport; ms: number; rssGrowth: number }
  | { kind: "timeout"; phase: string; ms: number; rssGrowth: number }
  | { kind: "crash"; message: string; ms: number; rssGrowth: number };

/** The worker that uploads mutants; replaced after it is terminated for a hang. */
class UploadRunner {
  #worker: Worker | undefined;

  #start(): Worker {
    this.#worker ??= new Worker(new URL("../helpers/tar_fuzz_worker.ts", import.meta.url), {
      type: "module",
    });
    return this.#worker;
  }

  /** Runs one job, racing it against the deadline, sampling RSS while it runs: the growth
   * reported is the peak during this job over the RSS just before it (what one archive
   * costs, not the garbage earlier ones left for the collector). */
  async run(job: FuzzJob): Promise<Outcome> {
    const worker = this.#start();
    const started = performance.now();
    const before = Deno.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, Deno.memoryUsage().rss);
    }, 20);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let phase = "sent";
    const reply = new Promise<Outcome>((resolve) => {
      worker.onmessage = (event: MessageEvent<FuzzReport | FuzzProgress>) => {
        if ("phase" in event.data) phase = event.data.phase;
        else resolve({ kind: "report", report: event.data, ms: 0, rssGrowth: 0 });
      };
      worker.onerror = (event) => {
        event.preventDefault();
        resolve({ kind: "crash", message: event.message, ms: 0, rssGrowth: 0 });
      };
    });
    const deadline = new Promise<Outcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ kind: "timeout", phase, ms: 0, rssGrowth: 0 }),
        MUTANT_DEADLINE_MS,
      );
    });
    try {
      worker.postMessage(job);
      const outcome = await Promise.race([reply, deadline]);
      if (outcome.kind !== "report") this.close();
      peak = Math.max(peak, Deno.memoryUsage().rss);
      const ms = performance.now() - started;
      if (outcome.kind === "timeout") return { ...outcome, phase, ms, rssGrowth: peak - before };
      return { ...outcome, ms, rssGrowth: peak - before };
    } finally {
      clearTimeout(timer);
      clearInterval(sampler);
    }
  }

  /** Ends the worker, even in the middle of a synchronous loop. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}

// --- The oracle ---------------------------------------------------------------------------

interface Mutant {
  index: number;
  base: Base;
  description: string;
  tar: Uint8Array | null;
  gz: Uint8Array;
}

function makeMutant(corpus: Base[], seed: number, index: number): Mutant {
  const rng = Random.forMutant(seed, index);
  const base = rng.pick(corpus);
  if (rng.chance(0.08)) {
    // The gzip stream itself: what it decodes to is then up to the decoder.
    const { gz, description } = mutateGzip(new Uint8Array(gzipSync(base.tar, { level: 1 })), rng);
    return { index, base, description, tar: null, gz };
  }
  const { tar, description } = mutateTar(base.tar, rng);
  const gz = new Uint8Array(gzipSync(tar, { level: 1 }));
  if (rng.chance(0.03)) {
    // The tar inside is then unknown: the parser sees what the damaged stream inflates to
    // before the CRC at its end is checked.
    const damaged = mutateGzip(gz, rng);
    return {
      index,
      base,
      description: `${description}; ${damaged.description}`,
      tar: null,
      gz: damaged.gz,
    };
  }
  return { index, base, description, tar, gz };
}

/** Base archive -1 - n, unmutated (mutant indices below 0 are the bases). */
function baseMutant(corpus: Base[], index: number): Mutant {
  const base = corpus[-1 - index];
  if (!base) throw new Error(`there are ${corpus.length} base archives, -1 to -${corpus.length}`);
  const gz = new Uint8Array(gzipSync(base.tar, { level: 1 }));
  return { index, base, description: "none (the base archive)", tar: base.tar, gz };
}

/** Counts of what the mutants did, printed at the end. */
class Tally {
  readonly counts = new Map<string, number>();
  /** The first mutant of each kind, to replay it. */
  readonly examples = new Map<string, number>();

  add(key: string, index: number): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (!this.examples.has(key)) this.examples.set(key, index);
  }

  print(): void {
    const rows = [...this.counts.entries()].sort((a, b) => b[1] - a[1]);
    for (const [key, count] of rows) {
      console.log(`  ${String(count).padStart(6)}  ${key} (e.g. mutant ${this.examples.get(key)})`);
    }
  }
}

/** An error message with its numbers and quoted names generalised, for the tally. */
function category(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/-?\d+/g, "N").slice(0, 110);
}

class FuzzFailure extends Error {}

interface Context {
  seed: number;
  work: string;
  gnuRoot: string;
  gnuScratch: string;
  sandbox: string;
  /** The largest RSS growth of one mutant, for the summary. */
  rssGrowth: number;
  runner: UploadRunner;
}

/** What became of a mutant the oracle passed (the tally's keys). */
const SAME_AS_GNU_TAR = "accepted; same tree as GNU tar";
const GNU_TAR_REFUSES = "accepted; GNU tar refuses";

/** Runs one mutant and checks everything the oracle promises; throws FuzzFailure, else
 * returns what became of the mutant. */
async function checkMutant(context: Context, mutant: Mutant): Promise<string> {
  const { work, runner } = context;
  const storeDir = join(work, "store");
  const name = `m${mutant.index}`;
  const limits = mutant.base.limits;
  const outcome = await runner.run({ storeDir, name, gz: mutant.gz, tar: mutant.tar, limits });
  const fail = (reason: string): never => {
    throw new FuzzFailure(reason);
  };
  if (outcome.kind === "timeout") {
    fail(
      `no answer within ${MUTANT_DEADLINE_MS} ms: a hang (worker terminated; last phase: ` +
        `${outcome.phase})`,
    );
  }
  if (outcome.kind === "crash") fail(`the worker crashed: ${outcome.message}`);
  assert.ok(outcome.kind === "report");
  const { report } = outcome;
  const growth = outcome.rssGrowth;
  context.rssGrowth = Math.max(context.rssGrowth, growth);
  if (growth > RSS_GROWTH_LIMIT) {
    fail(`RSS grew by ${Math.round(growth / 2 ** 20)} MiB (limit ${RSS_GROWTH_LIMIT / 2 ** 20})`);
  }
  if (report.unhandled.length > 0) fail(`besides the upload's result: ${report.unhandled}`);
  const { parse, upload } = report;
  if (parse?.invariant) fail(`parser invariant broken: ${parse.invariant}`);
  if (parse?.error && parse.error.kind !== "IjrError") {
    fail(`the parser threw ${parse.error.kind}: ${parse.error.message}\n${parse.error.stack}`);
  }
  const storeNames = (await Array.fromAsync(Deno.readDir(storeDir))).map((e) => e.name).sort();
  if ((await sandboxListing(work)) !== context.sandbox) {
    fail("something outside the store changed");
  }
  if (!upload.ok) {
    const { error } = upload;
    if (error.kind !== "IjrError") {
      fail(`upload failed with ${error.kind}, not IjrError: ${error.message}\n${error.stack}`);
    }
    if (!ACCEPTED_CODES.includes(error.code!)) {
      fail(`upload failed with ${error.code}: ${error.message}\n${error.stack}`);
    }
    if (parse && !parse.error && error.message.startsWith("corrupt tar archive")) {
      fail(`the upload calls it corrupt, the parser alone accepted it: ${error.message}`);
    }
    if (storeNames.length !== 0) fail(`a failed upload left ${storeNames} in the store`);
    return `refused ${error.code}: ${category(error.message)}`;
  }
  // Success.
  if (parse?.error) fail(`the upload succeeded, the parser alone refused: ${parse.error.message}`);
  if (parse) {
    const got = [upload.entries + upload.skipped, upload.skipped, upload.sizeBytes];
    const want = [parse.members, parse.special, parse.fileBytes];
    if (got.join() !== want.join()) {
      fail(`upload reported members/skipped/bytes ${got}, the parser saw ${want}`);
    }
  }
  if (upload.entries + upload.skipped > limits.maxEntries) {
    fail(`${upload.entries + upload.skipped} members passed the limit of ${limits.maxEntries}`);
  }
  if (upload.sizeBytes > limits.maxExtractedBytes) {
    fail(`${upload.sizeBytes} bytes passed the limit of ${limits.maxExtractedBytes}`);
  }
  if (storeNames.join() !== name) fail(`the store holds ${storeNames}, not just ${name}`);
  const published = (await Array.fromAsync(Deno.readDir(join(storeDir, name))))
    .map((e) => e.name).sort();
  if (published.join() !== "info.json,rootfs") fail(`${name}/ holds ${published}`);
  const tree = join(storeDir, name, "rootfs");
  const onDisk = await treeFileBytes(tree);
  if (onDisk > limits.maxExtractedBytes) {
    fail(`${onDisk} bytes on disk, the limit is ${limits.maxExtractedBytes}`);
  }
  // Faithful: what GNU tar extracts from the same bytes, when it accepts them.
  await Deno.remove(context.gnuScratch, { recursive: true }).catch(() => {});
  await Deno.mkdir(context.gnuScratch, { recursive: true });
  const gz = join(context.gnuRoot, "mutant.tar.gz");
  await Deno.writeFile(gz, mutant.gz);
  const gnu = await run("bash", [
    "-c",
    'umask 022 && exec tar --numeric-owner -xzf "$1" -C "$2"',
    "tar",
    gz,
    context.gnuScratch,
  ]);
  if (gnu.code !== 0) {
    // Why, in GNU tar's words: its first complaint.
    const lines = gnu.stderr.split("\n");
    const why = lines.find((line) => line && !/Removing leading|Exiting with/.test(line)) ??
      lines[0];
    return `${GNU_TAR_REFUSES} (exit ${gnu.code}): ${category(why.replace(/^\S*tar: /, ""))}`;
  }
  if (parse?.repeatedDelayedSymlink !== undefined) {
    return "accepted; not compared: GNU tar keeps the first of a repeated symlink";
  }
  // The metadata of a directory listed under two spellings is not compared (see
  // ParseReport.respelledDirectories); what it holds still is.
  const respelled = new Set((parse?.respelledDirectories ?? []).map((path) => path || "."));
  const compared = (line: string) => !respelled.has(listedPath(line));
  const ours = (await treeListing(tree, { withoutDirectoryMtimes: true })).filter(compared);
  const ourPaths = new Set(ours.map(listedPath));
  const specials = await specialFiles(context.gnuScratch);
  if ([...specials].some((path) => ourPaths.has(path))) {
    return "accepted; not compared: a device or FIFO replaces a member in GNU tar's tree only";
  }
  const specialParents = parentsOf(specials);
  const theirs = (await treeListing(context.gnuScratch, {
    withoutSpecial: true,
    withoutDirectoryMtimes: true,
  })).filter(compared).filter((line) => {
    // A directory the archive does not list, made by GNU tar only to hold a device or FIFO.
    const path = listedPath(line);
    return !(specialParents.has(path) && !ourPaths.has(path));
  });
  if (ours.join("\n") !== theirs.join("\n")) {
    const onlyOurs = ours.filter((line) => !theirs.includes(line)).slice(0, 10);
    const onlyTheirs = theirs.filter((line) => !ours.includes(line)).slice(0, 10);
    fail(
      `the tree differs from GNU tar's:\n  IJR only:\n    ${onlyOurs.join("\n    ")}\n` +
        `  GNU tar only:\n    ${onlyTheirs.join("\n    ")}`,
    );
  }
  return respelled.size === 0
    ? SAME_AS_GNU_TAR
    : `${SAME_AS_GNU_TAR} (but the metadata of a directory listed under two spellings)`;
}

/** Writes the mutant and what went wrong to build/fuzz-failures/<seed>-<index>/. */
async function saveFailure(seed: number, mutant: Mutant, reason: string): Promise<string> {
  const dir = join(FAILURES_DIR, `seed-${seed}-mutant-${mutant.index}`);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, "mutant.tar.gz"), mutant.gz);
  if (mutant.tar) await Deno.writeFile(join(dir, "mutant.tar"), mutant.tar);
  await Deno.writeTextFile(
    join(dir, "report.txt"),
    `seed ${seed}\nmutant ${mutant.index}\nbase ${mutant.base.name}\n` +
      `limits ${
        JSON.stringify(mutant.base.limits)
      }\nmutations ${mutant.description}\n\n${reason}\n`,
  );
  return dir;
}

rootTest(
  "tar fuzzer: every mutant is extracted faithfully or refused with one clear error",
  async () => {
    const seed = parseSeed(SEED_TEXT);
    const only = ONLY_TEXT === undefined ? undefined : parseNumber("IJR_FUZZ_MUTANT", ONLY_TEXT);
    console.log(
      `tar fuzzer: seed ${seed}, budget ${BUDGET_SECONDS} s ` +
        `(IJR_FUZZ_SEED=${seed} reproduces; IJR_FUZZ_SECONDS sets the budget)`,
    );
    const work = await Deno.makeTempDir({ prefix: "ijr-fuzz-" });
    // GNU tar's scratch tree is deep inside a folder of its own: if GNU tar itself were led
    // out of it by a few "..", it would not touch the sandbox the oracle watches.
    const gnuRoot = await Deno.makeTempDir({ prefix: "ijr-fuzz-gnu-" });
    const runner = new UploadRunner();
    try {
      await plantSandbox(work);
      await Deno.mkdir(join(work, "store"), { mode: 0o700 });
      const corpus = await buildCorpus(gnuRoot);
      const context: Context = {
        seed,
        work,
        gnuRoot,
        gnuScratch: join(gnuRoot, "a", "b", "c", "d", "e", "f", "tree"),
        sandbox: await sandboxListing(work),
        rssGrowth: 0,
        runner,
      };
      const tally = new Tally();
      const baseOutcomes: Record<string, string> = {};
      const started = performance.now();
      let count = 0;
      // The bases themselves first (unless replaying one mutant): they check the harness.
      const mutants: Iterable<Mutant> = only !== undefined
        ? [only < 0 ? baseMutant(corpus, only) : makeMutant(corpus, seed, only)]
        : (function* () {
          for (let index = -1; index >= -corpus.length; index--) {
            yield baseMutant(corpus, index);
          }
          for (let index = 0; performance.now() - started < BUDGET_SECONDS * 1000; index++) {
            yield makeMutant(corpus, seed, index);
          }
        })();
      for (const mutant of mutants) {
        try {
          const outcome = await checkMutant(context, mutant);
          tally.add(outcome, mutant.index);
          if (mutant.index < 0) baseOutcomes[mutant.base.name] = outcome.split(" (")[0];
          if (only !== undefined) {
            // A replay keeps the mutant, to look at what passed too.
            console.log(`saved in ${await saveFailure(seed, mutant, "passed when replayed")}`);
          }
        } catch (error) {
          if (!(error instanceof FuzzFailure)) {
            // The harness itself failed on this mutant: keep it to find out why.
            const saved = await saveFailure(seed, mutant, `harness error: ${error}`);
            throw new Error(`mutant ${mutant.index} of seed ${seed} (saved in ${saved})`, {
              cause: error,
            });
          }
          const saved = await saveFailure(seed, mutant, error.message);
          assert.fail(
            `mutant ${mutant.index} of seed ${seed} (base ${mutant.base.name}; ${mutant.description}):\n` +
              `${error.message}\nsaved in ${saved}\nreplay: IJR_FUZZ_SEED=${seed} ` +
              `IJR_FUZZ_MUTANT=${mutant.index} deno test -A tests/integration/rootfs_tar_fuzz_test.ts`,
          );
        } finally {
          await Deno.remove(join(work, "store"), { recursive: true }).catch(() => {});
          await Deno.mkdir(join(work, "store"), { mode: 0o700 });
        }
        count++;
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const growth = Math.round(context.rssGrowth / 2 ** 20);
      console.log(
        `tar fuzzer: ${count} archives in ${seconds} s, seed ${seed}, RSS growth of one ` +
          `archive at most ${growth} MiB:`,
      );
      tally.print();
      // Not vacuous: the bases were extracted, and compared with GNU tar's trees but for the
      // hostile one, whose ".." members GNU tar refuses.
      if (only === undefined) {
        assert.deepEqual(baseOutcomes, {
          busybox: SAME_AS_GNU_TAR,
          "special-posix": SAME_AS_GNU_TAR,
          "special-gnu": SAME_AS_GNU_TAR,
          hostile: GNU_TAR_REFUSES,
          pax: SAME_AS_GNU_TAR,
        });
      }
    } finally {
      runner.close();
      await Deno.remove(work, { recursive: true });
      await Deno.remove(gnuRoot, { recursive: true });
    }
  },
);
