/**
 * The ijrd command line: flags and help, nothing else. `ijrd help` works like `--help` (the
 * design proposal's usage, which the README repeats, starts with it).
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { VERSION } from "../version.ts";
import { DEFAULT_USERNS_POOL } from "./userns_check.ts";

/** Parsed ijrd flags. */
export interface DaemonFlags {
  server: string;
  port: string;
  cert: string;
  key: string;
  rootfs: string;
  ca: string;
  state: string;
  listen: string;
  grace: string;
  pids: string;
  scratch: string;
  scratchSize: string;
  cgroupParent?: string;
  maxUploadBytes: string;
  maxExtractedBytes: string;
  maxEntries: string;
  maxOutput: string;
  retain: string;
  retainFor: string;
  maxJobs: string;
  maxJobsPerUser: string;
  maxWatchesPerUser: string;
  defaultMemory: string;
  maxPids: string;
  maxMemory: string;
  maxPidsPerUser: string;
  maxMemoryPerUser: string;
  userns: string;
  usernsPool: string;
  seccomp: string;
  /** false with --no-live-restore. */
  liveRestore?: boolean;
}

function port(value: string): string {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 65535) {
    throw new InvalidArgumentError(`--port must be 1..65535, got "${value}"`);
  }
  return value;
}

/** Builds the ijrd program; `run` starts the daemon with the parsed flags. */
export function buildDaemonProgram(run: (flags: DaemonFlags) => Promise<number>): Command {
  const program = new Command("ijrd")
    .exitOverride()
    .usage("--server NAME --cert FILE --key FILE --ca FILE --rootfs DIR [options]")
    .description(
      "The Isolated Job Runner daemon: runs jobs isolated in namespaces and cgroups,\n" +
        "inside uploaded root file systems, behind a gRPC API with mutual TLS. Runs as root.",
    )
    .version(VERSION, "--version", "print the version")
    .requiredOption("--server <name>", "the server name (must match a name in the certificate)")
    .option("--port <port>", "the port to listen on", port, "50051")
    .requiredOption("--cert <file>", "path to the X509 server certificate (PEM)")
    .requiredOption("--key <file>", "path to the X509 key file (PEM)")
    .requiredOption("--rootfs <dir>", "folder in which to extract root file systems to")
    .requiredOption("--ca <file>", "CA bundle that client certificates must chain to (PEM)")
    .option("--state <dir>", "folder for job records and output", "/var/lib/ijr")
    .option("--listen <address>", "address to listen on (0.0.0.0: all interfaces)", "0.0.0.0")
    .option(
      "--grace <duration>",
      "default time between SIGTERM and kill when stopping a job",
      "10s",
    )
    .option("--pids <number>", "default maximum number of processes per job", "1024")
    .addOption(
      new Option(
        "--scratch <where>",
        "where a job's writes to its root go: memory (a tmpfs per job, counted in its memory " +
          "limit) or disk (under --state)",
      ).choices(["memory", "disk"]).default("memory"),
    )
    .option("--scratch-size <size>", "most a job may write to its root with --scratch=memory", "1g")
    .addOption(
      new Option(
        "--cgroup-parent <path>",
        "create job cgroups under this cgroup path instead of ijrd's own",
      ),
    )
    .option("--max-upload-bytes <size>", "largest compressed rootfs upload", "2g")
    .option("--max-extracted-bytes <size>", "largest extracted rootfs", "8g")
    .option("--max-entries <number>", "most entries in a rootfs tarball", "500000")
    .option(
      "--max-output <size>",
      "most output a job may write (stdout and stderr): it is stopped when it reaches it; " +
        "jobs may ask for less",
      "100m",
    )
    .option(
      "--retain <count>",
      "most finished jobs kept, with their output (oldest go first)",
      "1000",
    )
    .option("--retain-for <duration>", "how long finished jobs are kept (e.g. 12h, 7d)", "7d")
    .option("--max-jobs <number>", "most jobs running at once on this worker", "1024")
    .option("--max-jobs-per-user <number>", "most jobs one user may run at once", "256")
    .option(
      "--max-watches-per-user <number>",
      "most calls one user may have open that wait for or follow a running job " +
        "(WaitJob, RunJob, StreamOutput)",
      "1024",
    )
    .addOption(
      new Option(
        "--userns <mode>",
        "on: every job in a user namespace of its own, its root an unprivileged host user " +
          "(Linux 5.19+); off: jobs run as the host's root in their namespaces",
      ).choices(["on", "off"]).default("on"),
    )
    .option(
      "--userns-pool <start:count>",
      "host ids jobs' user namespaces map to, 65536 per running job",
      DEFAULT_USERNS_POOL,
    )
    .addOption(
      new Option(
        "--seccomp <profile>",
        "system call filter of every job: default (an allowlist like Docker's) or off",
      ).choices(["default", "off"]).default("default"),
    )
    .option(
      "--max-pids <number>",
      'most processes and threads of all jobs together ("auto": half of what the kernel allows)',
      "auto",
    )
    .option(
      "--max-memory <size>",
      'most memory of all jobs together ("auto": what ijrd may use, less max(1g, 10%))',
      "auto",
    )
    .option(
      "--max-pids-per-user <number>",
      "most processes and threads of one user's jobs together " +
        '("auto": --max-pids × --max-jobs-per-user / --max-jobs)',
      "auto",
    )
    .option(
      "--max-memory-per-user <size>",
      "most memory of one user's jobs together " +
        '("auto": --max-memory × --max-jobs-per-user / --max-jobs)',
      "auto",
    )
    .option(
      "--default-memory <size>",
      'memory limit of a job started without --memory ("none": no limit)',
      "2g",
    )
    .option(
      "--live-restore",
      "running jobs outlive ijrd (SIGTERM, a crash, an upgrade), and the next ijrd with the " +
        "same --state adopts them (default)",
    )
    .option(
      "--no-live-restore",
      "stop every running job when ijrd stops; a job's init dies with ijrd",
    )
    .addHelpText("after", "\nAll flags but --port and those with defaults are required.")
    .action(async (flags: DaemonFlags) => {
      program.setOptionValue("exitCode", await run(flags));
    });
  return program;
}
