/**
 * The ijrctl command tree: every command, option and help text, and nothing else. Each
 * action loads its implementation on demand, so `ijrctl --help` never loads gRPC or TLS.
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { VERSION } from "../version.ts";

/** Options every command that talks to ijrd accepts; they override the config file. */
export interface ConnectionOptions {
  /** Path of the config file (default: $IJR_CONFIG, then the XDG location). */
  config?: string;
  /** The config file's context (worker) to use instead of its current one. */
  context?: string;
  /** Server address host:port. */
  server?: string;
  /** CA bundle the server's certificate must chain to. */
  ca?: string;
  /** Client certificate. */
  cert?: string;
  /** Client key. */
  key?: string;
}

/** A command implementation: receives the parsed options and positional arguments. */
export type Action = (options: Record<string, unknown>, args: string[]) => Promise<number>;

/** Loads the implementation of a command by name (lazy, so help stays fast). */
export type ActionLoader = (name: string) => Promise<Action>;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function positiveInteger(name: string) {
  return (value: string): string => {
    if (!/^[1-9][0-9]*$/.test(value)) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    }
    return value;
  };
}

function addConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--config <file>",
        "config file (default: $IJR_CONFIG or ~/.config/ijr/config.json)",
      ),
    )
    .addOption(
      new Option("--context <name>", "the worker of the config file to use (default: its current)"),
    )
    .addOption(new Option("--server <host:port>", "ijrd address (overrides the config file)"))
    .addOption(new Option("--ca <file>", "CA bundle the server certificate must chain to"))
    .addOption(new Option("--cert <file>", "your client certificate"))
    .addOption(new Option("--key <file>", "your client private key"));
}

/** Builds the ijrctl program; `load` supplies command implementations. */
export function buildCtlProgram(load: ActionLoader, setExitCode: (code: number) => void): Command {
  const run = (name: string) => async (...parameters: unknown[]) => {
    // commander passes positional arguments, then the options object, then the command.
    const command = parameters.at(-1) as Command;
    const options = command.optsWithGlobals();
    const args = command.args;
    const action = await load(name);
    setExitCode(await action(options, args));
  };

  const program = new Command("ijrctl")
    // Throw instead of exiting, inherited by every sub-command: ctl.ts maps usage errors
    // to exit code 2.
    .exitOverride()
    // One width everywhere, terminal or pipe, so the help pages rendered at build time
    // (help_render.ts) are exactly what commander prints.
    .configureHelp({ helpWidth: 80 })
    .usage("[job|rootfs|context|certs]")
    .description("Client for ijrd, the Isolated Job Runner daemon.")
    .version(VERSION, "--version", "print the version")
    .showHelpAfterError("(use 'ijrctl help' or 'ijrctl <command> help' for usage)")
    .addHelpText(
      "after",
      "\nUse 'ijrctl [job|rootfs|context|certs] help' for more information about a command.",
    );

  const rootfs = program.command("rootfs").usage("[upload|list|delete]")
    .description("upload, list and delete root file systems (upload and delete: admins only)");
  addConnectionOptions(rootfs.command("upload"))
    .description("upload a gzipped tarball and extract it as a root file system")
    .requiredOption("--file <path>", "gzipped tarball of the root file system")
    .requiredOption("--name <name>", "sub-folder name to extract it to ([a-z0-9][a-z0-9._-]{0,62})")
    .option("--replace", "replace an existing root file system of that name (no job may use it)")
    .option(
      "--all-contexts",
      "upload to every worker of the config file at once: one line per worker, exit 1 if " +
        "any failed",
    )
    .action(run("rootfs upload"));
  addConnectionOptions(rootfs.command("list"))
    .description(
      "list the uploaded root file systems, how many jobs run on each, and which of them " +
        "are yours (every job's ID for admins)",
    )
    .option("--json", "print JSON for scripts")
    .option(
      "--all-contexts",
      "list every worker's root file systems at once: one line per worker, exit 1 if any failed",
    )
    .action(run("rootfs list"));
  addConnectionOptions(rootfs.command("delete"))
    .description("remove a root file system (refused while a job runs on it)")
    .requiredOption("--name <name>", "name of the root file system to remove")
    .action(run("rootfs delete"));

  const job = program.command("job").usage("[start|stop|list|status|output|delete|wait]")
    .description("start, stop, list, inspect, stream the output of, delete and wait for jobs");
  addConnectionOptions(job.command("start"))
    .usage('--rootfs=NAME (--command="CMD ARGS" | -- CMD ARGS...) [options]')
    .description("start a job; prints its ID on the first line")
    .argument("[command...]", "command and arguments after --, instead of --command")
    .requiredOption("--rootfs <name>", 'root file system name (e.g. "alpine")')
    .option(
      "--command <string>",
      'job command and args, split like a shell splits words (e.g. "sleep 25")',
    )
    .option(
      "--cpu <shares>",
      "proportion of CPU shares, 2..262144 (default: 1024)",
      positiveInteger("--cpu"),
    )
    .option(
      "--memory <size>",
      'memory limit in (b)ytes, (k)ilobytes, (m)egs or (g)igs (e.g. "100", "1024k", "2m")',
    )
    .option(
      "--disk-read-iops <device:number>",
      "limit read IO per second on a block device (repeatable)",
      collect,
    )
    .option(
      "--disk-write-iops <device:number>",
      "limit write IO per second on a block device (repeatable)",
      collect,
    )
    .option(
      "--pids <number>",
      "maximum number of processes in the job (default: the daemon's)",
      positiveInteger("--pids"),
    )
    .option("--env <KEY=VALUE>", "environment variable for the command (repeatable)", collect)
    .option("--workdir <dir>", "working directory inside the rootfs (default: /)")
    .option("--timeout <duration>", "stop the job after this long (e.g. 30s, 5m, 1h)")
    .option(
      "--max-output <size>",
      "stop the job when its output reaches this size, keeping the output up to it; also the " +
        "largest file it may write (default and most: the daemon's --max-output)",
    )
    .option(
      "--output",
      "stream the output after printing the job ID, and exit with the job's status; " +
        "SIGINT, SIGTERM or SIGHUP stops the job and waits for its end, a second signal " +
        "kills it at once",
    )
    .option(
      "--wait",
      "after printing the job ID, wait until the job has ended, print how it ended and exit " +
        "with its status, as job wait does (one call to ijrd, not two); a signal ends " +
        "ijrctl and leaves the job running",
    )
    .option(
      "--no-stop-on-signal",
      "with --output: a signal leaves the job running and ends ijrctl (128 + the signal)",
    )
    .option(
      "--grace <duration>",
      "with --output: time between SIGTERM and kill when a signal stops the job " +
        "(default: the daemon's, 10s; at most 1h)",
    )
    .option(
      "--rm",
      "with --output: remove the job (record and output) once it has ended and its output " +
        "has been delivered",
    )
    .option(
      "--reconnect-for <duration>",
      "with --output: how long to keep reconnecting when the connection to ijrd breaks; " +
        "the output resumes at the next byte (default: 1m)",
    )
    .action(run("job start"));
  addConnectionOptions(job.command("stop"))
    .description("stop a job: SIGTERM, then kill after the grace period")
    .argument("[jobID]", "the job ID (or use --job)")
    .option("--job <id>", "the job ID returned from job start")
    .option("--grace <duration>", "time between SIGTERM and kill (default: the daemon's, 10s)")
    .action(run("job stop"));
  addConnectionOptions(job.command("list"))
    .description("list running jobs (yours; all jobs for admins)")
    .option("--all", "include jobs that have ended")
    .option("--json", "print JSON for scripts")
    .action(run("job list"));
  addConnectionOptions(job.command("status"))
    .description("show a job's state, exit status, limits and resource usage")
    .argument("[jobID]", "the job ID (or use --job)")
    .option("--job <id>", "the job ID returned from job start")
    .option("--json", "print JSON for scripts")
    .action(run("job status"));
  addConnectionOptions(job.command("output"))
    .description("stream a job's output from the start, following it until the job ends")
    .argument("[jobID]", "the job ID (or use --job)")
    .option("--job <id>", "the job ID returned from job start")
    .option(
      "--stop-on-signal",
      "attach: SIGINT, SIGTERM or SIGHUP stops the job and waits for its end (a second " +
        "signal kills it), and ijrctl exits with the job's status",
    )
    .option(
      "--grace <duration>",
      "with --stop-on-signal: time between SIGTERM and kill (default: the daemon's, 10s)",
    )
    .option(
      "--reconnect-for <duration>",
      "how long to keep reconnecting when the connection to ijrd breaks; the output " +
        "resumes at the next byte (default: 1m)",
    )
    .action(run("job output"));
  addConnectionOptions(job.command("delete"))
    .description("remove a finished job now: its record and its output (refused while it runs)")
    .argument("[jobID]", "the job ID (or use --job)")
    .option("--job <id>", "the job ID returned from job start")
    .action(run("job delete"));
  addConnectionOptions(job.command("wait"))
    .description(
      "wait until a job has ended and exit with its status (128+N for signal N, as " +
        "job start --output does); print how it ended",
    )
    .argument("[jobID]", "the job ID (or use --job)")
    .option("--job <id>", "the job ID returned from job start")
    .option("--json", "print the final status as JSON for scripts")
    .action(run("job wait"));

  const context = program.command("context").usage("[list|use]")
    .description("the workers (contexts) of the config file, and the current one");
  context.command("list")
    .description("list the config file's contexts; * marks the one commands use")
    .addOption(
      new Option(
        "--config <file>",
        "config file (default: $IJR_CONFIG or ~/.config/ijr/config.json)",
      ),
    )
    .option("--json", "print JSON for scripts")
    .action(run("context list"));
  context.command("use")
    .description("make a context the current one (writes the config file's current-context)")
    .argument("<name>", "the context's name")
    .addOption(
      new Option(
        "--config <file>",
        "config file (default: $IJR_CONFIG or ~/.config/ijr/config.json)",
      ),
    )
    .action(run("context use"));

  const certs = program.command("certs").usage("[init|ca|server|client]")
    .description("create the certificates for mutual TLS (no openssl needed)");
  certs.command("init")
    .description("create a CA, a server certificate, an admin certificate and a config file")
    .requiredOption("--dir <dir>", "folder to write the files to")
    .option(
      "--server-name <name>",
      "server DNS name or IP, repeatable (default: localhost and 127.0.0.1)",
      collect,
    )
    .option("--identity <name>", "the admin identity (certificate CN)", "admin")
    .option("--address <host:port>", "server address for the config file", "localhost:50051")
    .action(run("certs init"));
  certs.command("ca")
    .description("create a certificate authority")
    .requiredOption("--out <prefix>", "write <prefix>.crt and <prefix>.key")
    .option("--name <cn>", "the CA's common name", "IJR CA")
    .action(run("certs ca"));
  certs.command("server")
    .description("issue a server certificate for ijrd")
    .requiredOption("--ca <prefix>", "the CA's <prefix>.crt and <prefix>.key")
    .requiredOption("--out <prefix>", "write <prefix>.crt and <prefix>.key")
    .requiredOption(
      "--name <name>",
      "DNS name or IP address (repeatable; the first is the CN)",
      collect,
    )
    .option("--days <n>", "validity in days", positiveInteger("--days"), "365")
    .action(run("certs server"));
  certs.command("client")
    .description("issue a client certificate for a user")
    .requiredOption("--ca <prefix>", "the CA's <prefix>.crt and <prefix>.key")
    .requiredOption("--out <prefix>", "write <prefix>.crt and <prefix>.key")
    .requiredOption("--identity <name>", "the user's identity (certificate CN)")
    .addOption(
      new Option("--role <role>", "the user's role").choices(["user", "admin"]).default("user"),
    )
    .option("--days <n>", "validity in days", positiveInteger("--days"), "365")
    .action(run("certs client"));

  return program;
}
