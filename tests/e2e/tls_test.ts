/**
 * ijrd's TLS: only TLS 1.3 with the proposal's three suites, and only clients with a valid
 * client certificate from the configured CA.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCertificateAuthority, issueClientCertificate } from "../../lib/pki/mod.ts";
import { cleanupDaemon, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { testPki } from "../helpers/pki.ts";
import { rootTest } from "../helpers/root.ts";
import { RootfsService } from "../../lib/gen/ijr/v1/rootfs_pb.ts";
import { JobService } from "../../lib/gen/ijr/v1/job_pb.ts";
import { createClient, RpcError } from "../../lib/rpc/client/mod.ts";
import { FrameType } from "../../lib/rpc/h2/frames.ts";
import { sendGoawayAfterPreface } from "../helpers/h2_raw.ts";

async function sClient(daemon: TestDaemon, args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${daemon.port}`,
      "-servername",
      "localhost",
      "-CAfile",
      join(daemon.dir, "ca.crt"),
      "-cert",
      join(daemon.dir, "admin.crt"),
      "-key",
      join(daemon.dir, "admin.key"),
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return decoder.decode(out.stdout) + decoder.decode(out.stderr);
}

/** Runs `ijrctl rootfs list` with a given certificate and key instead of the user's. */
async function listWith(daemon: TestDaemon, certPem: string, keyPem: string) {
  const cert = join(daemon.dir, `other-${crypto.randomUUID()}.crt`);
  const key = cert.replace(/\.crt$/, ".key");
  Deno.writeTextFileSync(cert, certPem);
  Deno.writeTextFileSync(key, keyPem, { mode: 0o600 });
  return await daemon.ctl("admin", ["rootfs", "list", `--cert=${cert}`, `--key=${key}`]);
}

rootTest("tls: only TLS 1.3 with the three suites is accepted", async () => {
  const daemon = await startDaemon();
  try {
    const tls12 = await sClient(daemon, ["-tls1_2"]);
    assert.match(tls12, /alert protocol version/);
    assert.doesNotMatch(tls12, /Cipher is TLS/);
    const ccm = await sClient(daemon, ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"]);
    assert.match(ccm, /alert handshake failure/);
    for (
      const suite of [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
      ]
    ) {
      const ok = await sClient(daemon, ["-tls1_3", "-ciphersuites", suite]);
      assert.match(ok, new RegExp(`New, TLSv1\\.3, Cipher is ${suite}`), suite);
    }
  } finally {
    await cleanupDaemon(daemon);
  }
});

rootTest("tls: clients without a valid client certificate from the CA are refused", async () => {
  const daemon = await startDaemon();
  const pki = await testPki();
  try {
    const ok = await daemon.ctl("admin", ["rootfs", "list"]);
    assert.equal(ok.code, 0, ok.stderr);

    const otherCa = await createCertificateAuthority({ commonName: "Another CA" });
    const stranger = await issueClientCertificate(otherCa, { identity: "admin", role: "admin" });
    const expired = await issueClientCertificate(pki.ca, {
      identity: "admin",
      role: "admin",
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      days: 1,
    });
    const cases = {
      "another CA": stranger,
      "expired": expired,
      "a server certificate": pki.server,
    };
    for (const [what, bundle] of Object.entries(cases)) {
      const result = await listWith(daemon, bundle.certPem, bundle.keyPem);
      assert.equal(result.code, 1, `${what}: ${result.stdout}`);
      assert.match(
        result.stderr,
        /^ijrctl rootfs list: cannot reach ijrd at localhost:\d+: /,
        what,
      );
    }

    // No client certificate at all: a client that trusts the server but presents nothing.
    const anonymous = createClient(
      RootfsService,
      `localhost:${daemon.port}`,
      { caPem: pki.ca.certPem },
    );
    try {
      await assert.rejects(
        anonymous.listRootfs({}, { timeoutMs: 10_000 }),
        (error: unknown) => error instanceof RpcError && error.codeName === "UNAVAILABLE",
      );
    } finally {
      anonymous.close();
    }
  } finally {
    await cleanupDaemon(daemon);
  }
});

rootTest(
  "ijrd: a client's GOAWAY never reaches its HTTP/2 (Deno's nghttp2 aborts on some)",
  async () => {
    const daemon = await startDaemon();
    try {
      // What took ijrd down before its listener dropped GOAWAY frames: a connection that says
      // GOAWAY right after its preface and SETTINGS, while another one, served, stays open.
      const pki = await testPki();
      const material = {
        caPem: pki.ca.certPem,
        certPem: pki.alice.certPem,
        keyPem: pki.alice.keyPem,
      };
      const open = createClient(JobService, `localhost:${daemon.port}`, material);
      await open.listJobs({});
      // ijrd's HTTP/2 never sees it: it neither aborts nor answers with a GOAWAY of its own (as
      // grpc-js's session does to a GOAWAY it sees).
      const types = await sendGoawayAfterPreface({
        host: "127.0.0.1",
        port: daemon.port,
        servername: "localhost",
        ca: Deno.readTextFileSync(join(daemon.dir, "ca.crt")),
        cert: Deno.readTextFileSync(join(daemon.dir, "alice.crt")),
        key: Deno.readTextFileSync(join(daemon.dir, "alice.key")),
      });
      assert.ok(
        types.includes(FrameType.SETTINGS) && !types.includes(FrameType.GOAWAY),
        `${types}`,
      );
      await open.listJobs({});
      open.close();
      const after = await daemon.ctl("alice", ["job", "list", "--json"]);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(daemon.stderr().includes("Assertion"), false, daemon.stderr());
    } finally {
      await cleanupDaemon(daemon);
    }
  },
);
