/** The command lines of the proposal: help text, sub-commands, flags and exit codes. */
import assert from "node:assert/strict";
import { runEntry } from "../helpers/cli.ts";

Deno.test("ijrctl help lists the proposal's commands", async () => {
  const result = await runEntry("ctl.ts", ["help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^Usage: ijrctl \[job\|rootfs\|context\|certs\]$/m);
  assert.match(
    result.stdout,
    /Use 'ijrctl \[job\|rootfs\|context\|certs\] help' for more information/,
  );
  for (const command of ["rootfs", "job", "context", "certs"]) {
    assert.match(result.stdout, new RegExp(`^  ${command} `, "m"));
  }
});

Deno.test("ijrctl rootfs help shows upload, list and delete with their flags", async () => {
  const result = await runEntry("ctl.ts", ["rootfs", "help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^Usage: ijrctl rootfs \[upload\|list\|delete\]$/m);
  for (const command of ["upload", "list", "delete"]) {
    assert.match(result.stdout, new RegExp(`^  ${command} `, "m"));
  }
  const upload = await runEntry("ctl.ts", ["rootfs", "upload", "--help"]);
  assert.match(upload.stdout, /--file <path> +gzipped tarball of the root file system/);
  assert.match(upload.stdout, /--name <name> +sub-folder name/);
});

Deno.test("ijrctl job help shows start, stop, list, status, output, delete and wait with the proposal's flags", async () => {
  const result = await runEntry("ctl.ts", ["job", "help"]);
  assert.equal(result.code, 0);
  assert.match(
    result.stdout,
    /^Usage: ijrctl job \[start\|stop\|list\|status\|output\|delete\|wait\]$/m,
  );
  for (const command of ["start", "stop", "list", "status", "output", "delete", "wait"]) {
    assert.match(result.stdout, new RegExp(`^  ${command} `, "m"));
  }
  const start = await runEntry("ctl.ts", ["job", "start", "--help"]);
  for (
    const flag of [
      "--rootfs <name>",
      "--command <string>",
      "--cpu <shares>",
      "--memory <size>",
      "--disk-read-iops <device:number>",
      "--disk-write-iops <device:number>",
      "--max-output <size>",
      "--output",
    ]
  ) {
    assert.ok(start.stdout.includes(flag), `job start --help shows ${flag}`);
  }
  const stop = await runEntry("ctl.ts", ["job", "stop", "--help"]);
  assert.ok(stop.stdout.includes("--job <id>"));
  const wait = await runEntry("ctl.ts", ["job", "wait", "--help"]);
  assert.ok(wait.stdout.includes("--job <id>"));
  assert.ok(wait.stdout.includes("--json"));
});

Deno.test("ijrctl: bad usage exits 2 with a message; --version prints the version", async () => {
  const unknown = await runEntry("ctl.ts", ["job", "bogus"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'bogus'/);
  const missing = await runEntry("ctl.ts", ["rootfs", "upload", "--file", "x.tar.gz"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /required option '--name <name>' not specified/);
  const version = await runEntry("ctl.ts", ["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, "0.1.0\n");
});

Deno.test("ijrd help shows the proposal's flags; missing required flags exit 2", async () => {
  const result = await runEntry("daemon.ts", ["help"]);
  assert.equal(result.code, 0);
  for (
    const flag of [
      "--server <name>",
      "--port <port>",
      "--cert <file>",
      "--key <file>",
      "--rootfs <dir>",
      "--ca <file>",
    ]
  ) {
    assert.ok(result.stdout.includes(flag), `ijrd help shows ${flag}`);
  }
  assert.match(result.stdout, /--port <port> +the port to listen on \(default: "50051"\)/);
  const missing = await runEntry("daemon.ts", ["--server", "localhost"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /required option '--cert <file>' not specified/);
});
