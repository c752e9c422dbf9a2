/** ijrd's start-up checks: each operator mistake is one clear line. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { preflight, PreflightError } from "../../lib/daemon/preflight.ts";
import type { DaemonFlags } from "../../lib/daemon/program.ts";
import { issueServerCertificate } from "../../lib/pki/mod.ts";
import { testPki } from "../helpers/pki.ts";

async function withFiles(fn: (dir: string, flags: DaemonFlags) => Promise<void> | void) {
  const pki = await testPki();
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(join(dir, "ca.crt"), pki.ca.certPem);
    Deno.writeTextFileSync(join(dir, "server.crt"), pki.server.certPem);
    Deno.writeTextFileSync(join(dir, "server.key"), pki.server.keyPem);
    Deno.writeTextFileSync(join(dir, "alice.key"), pki.alice.keyPem);
    const flags: DaemonFlags = {
      server: "localhost",
      port: "50051",
      cert: join(dir, "server.crt"),
      key: join(dir, "server.key"),
      ca: join(dir, "ca.crt"),
      rootfs: join(dir, "rootfs"),
      state: join(dir, "state"),
      listen: "127.0.0.1",
      grace: "10s",
      pids: "1024",
      scratch: "memory",
      scratchSize: "1g",
      maxUploadBytes: "2g",
      maxExtractedBytes: "8g",
      maxEntries: "500000",
      maxOutput: "100m",
      retain: "1000",
      retainFor: "7d",
      maxJobs: "1024",
      maxJobsPerUser: "256",
      maxWatchesPerUser: "1024",
      defaultMemory: "2g",
      maxPids: "auto",
      maxMemory: "auto",
      maxPidsPerUser: "auto",
      maxMemoryPerUser: "auto",
      userns: "on",
      usernsPool: "1879048192:268304384",
      seccomp: "default",
    };
    await fn(dir, flags);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function rejects(fn: () => unknown, message: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PreflightError);
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("preflight: valid flags give settings with parsed values", async () => {
  await withFiles((dir, flags) => {
    const settings = preflight(flags, 0);
    assert.equal(settings.port, 50051);
    assert.equal(settings.graceMs, 10_000);
    assert.equal(settings.defaultPids, 1024);
    assert.equal(settings.maxUploadBytes, 2 * 1024 ** 3);
    assert.equal(settings.rootfsDir, join(dir, "rootfs"));
    assert.equal(settings.maxOutputBytes, 100 * 1024 ** 2);
    assert.deepEqual(settings.retain, { count: 1000, forMs: 7 * 86_400_000 });
    assert.equal(settings.maxJobs, 1024);
    assert.equal(settings.maxJobsPerUser, 256);
    assert.equal(settings.maxWatchesPerUser, 1024);
    assert.equal(settings.defaultMemoryBytes, 2 * 1024 ** 3);
    assert.equal(preflight({ ...flags, defaultMemory: "none" }, 0).defaultMemoryBytes, undefined);
    assert.match(settings.tls.caPem, /BEGIN CERTIFICATE/);
    // An IP SAN serves as --server too.
    assert.equal(preflight({ ...flags, server: "127.0.0.1" }, 0).serverName, "127.0.0.1");
  });
});

Deno.test("preflight: not root", async () => {
  await withFiles((_, flags) =>
    rejects(
      () => preflight(flags, 1000),
      "ijrd must run as root: it creates namespaces, mounts and cgroups for jobs",
    )
  );
});

Deno.test("preflight: missing files are named", async () => {
  await withFiles((dir, flags) => {
    rejects(
      () => preflight({ ...flags, cert: join(dir, "nope.crt") }, 0),
      `cannot read --cert ${join(dir, "nope.crt")}: no such file`,
    );
    rejects(
      () => preflight({ ...flags, ca: join(dir, "nope") }, 0),
      `cannot read --ca ${join(dir, "nope")}: no such file`,
    );
    rejects(
      () => preflight({ ...flags, cert: join(dir, "server.key") }, 0),
      `--cert ${join(dir, "server.key")} is not a PEM certificate`,
    );
  });
});

Deno.test("preflight: a key that does not match the certificate", async () => {
  await withFiles((dir, flags) =>
    rejects(
      () => preflight({ ...flags, key: join(dir, "alice.key") }, 0),
      `--key ${join(dir, "alice.key")} does not match the certificate --cert ${flags.cert}`,
    )
  );
});

Deno.test("preflight: --server must be named by the certificate", async () => {
  await withFiles((_, flags) =>
    rejects(
      () => preflight({ ...flags, server: "worker7.example" }, 0),
      `--server worker7.example is not a name in the certificate ${flags.cert} ` +
        "(it names: DNS:localhost, IP Address:127.0.0.1)",
    )
  );
});

Deno.test("preflight: an expired server certificate", async () => {
  const pki = await testPki();
  const expired = await issueServerCertificate(pki.ca, {
    names: ["localhost"],
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    days: 2,
  });
  await withFiles((dir, flags) => {
    Deno.writeTextFileSync(join(dir, "old.crt"), expired.certPem);
    Deno.writeTextFileSync(join(dir, "old.key"), expired.keyPem);
    assert.throws(
      () => preflight({ ...flags, cert: join(dir, "old.crt"), key: join(dir, "old.key") }, 0),
      /^PreflightError: the certificate .*old\.crt expired on /,
    );
  });
});

Deno.test("preflight: bad numbers and durations", async () => {
  await withFiles((_, flags) => {
    rejects(
      () => preflight({ ...flags, pids: "0" }, 0),
      `--pids must be a positive integer, got "0"`,
    );
    rejects(
      () => preflight({ ...flags, grace: "soon" }, 0),
      `--grace: invalid duration "soon": use e.g. 500ms, 10s, 5m, 1h30m, 7d`,
    );
    rejects(
      () => preflight({ ...flags, grace: "2h" }, 0),
      `--grace: duration "2h" is too long (at most 1h)`,
    );
    rejects(
      () => preflight({ ...flags, maxOutput: "0" }, 0),
      `--max-output: size must be greater than zero, got "0"`,
    );
    rejects(
      () => preflight({ ...flags, retain: "-1" }, 0),
      `--retain must be a positive integer, got "-1"`,
    );
    rejects(
      () => preflight({ ...flags, retainFor: "forever" }, 0),
      `--retain-for: invalid duration "forever": use e.g. 500ms, 10s, 5m, 1h30m, 7d`,
    );
    rejects(
      () => preflight({ ...flags, maxJobs: "10", maxJobsPerUser: "11" }, 0),
      "--max-jobs-per-user 11 is above --max-jobs 10",
    );
    rejects(
      () => preflight({ ...flags, maxWatchesPerUser: "0" }, 0),
      `--max-watches-per-user must be a positive integer, got "0"`,
    );
    rejects(
      () => preflight({ ...flags, defaultMemory: "1m" }, 0),
      "--default-memory: must be at least 4m, got 1m",
    );
    rejects(
      () => preflight({ ...flags, maxUploadBytes: "2x" }, 0),
      `--max-upload-bytes: unknown unit "x" in "2x": use b, k, m or g`,
    );
    rejects(
      () => preflight({ ...flags, scratchSize: "512k" }, 0),
      "--scratch-size: must be at least 1m, got 512k",
    );
  });
});

Deno.test("preflight: --state and --rootfs must be usable in overlay mount options", async () => {
  await withFiles((dir, flags) => {
    rejects(
      () => preflight({ ...flags, state: join(dir, "a:b") }, 0),
      `--state ${dir}/a:b cannot be used: overlay mounts cannot take a path with , : \\ or a newline`,
    );
    rejects(
      () => preflight({ ...flags, rootfs: join(dir, "x,y") }, 0),
      `--rootfs ${dir}/x,y cannot be used: overlay mounts cannot take a path with , : \\ or a newline`,
    );
    rejects(
      () => preflight({ ...flags, state: join(dir, "s".repeat(1000)) }, 0),
      "--state is too long for overlay mounts (at most 1000 characters)",
    );
  });
});

Deno.test("preflight: a job's writable layer in memory of --scratch-size, or on disk", async () => {
  await withFiles((_, flags) => {
    assert.deepEqual(preflight(flags, 0).scratch, { on: "memory", sizeBytes: 1024 ** 3 });
    assert.deepEqual(preflight({ ...flags, scratchSize: "64m" }, 0).scratch, {
      on: "memory",
      sizeBytes: 64 * 1024 ** 2,
    });
    assert.deepEqual(preflight({ ...flags, scratch: "disk", scratchSize: "0" }, 0).scratch, {
      on: "disk",
    });
  });
});
