/** `ijrctl certs`: a CA, server and client certificates that openssl accepts, keys 0600. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEntry } from "../helpers/cli.ts";

async function openssl(args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

Deno.test("certs: ca, server and client make a chain openssl verifies, with the right names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-certs-" });
  try {
    const p = (name: string) => join(dir, name);
    assert.equal((await runEntry("ctl.ts", ["certs", "ca", `--out=${p("ca")}`])).code, 0);
    const server = await runEntry("ctl.ts", [
      "certs",
      "server",
      `--ca=${p("ca")}`,
      `--out=${p("w7")}`,
      "--name=worker7.example",
      "--name=10.0.0.7",
    ]);
    assert.equal(server.code, 0, server.stderr);
    const client = await runEntry("ctl.ts", [
      "certs",
      "client",
      `--ca=${p("ca")}`,
      `--out=${p("alice")}`,
      "--identity=alice",
      "--role=user",
    ]);
    assert.equal(client.stdout, `wrote ${p("alice")}.crt and ${p("alice")}.key\n`);
    assert.match(
      await openssl(["verify", "-CAfile", `${p("ca")}.crt`, `${p("w7")}.crt`, `${p("alice")}.crt`]),
      /w7\.crt: OK\n.*alice\.crt: OK/s,
    );
    assert.match(
      await openssl([
        "x509",
        "-in",
        `${p("w7")}.crt`,
        "-noout",
        "-ext",
        "subjectAltName,extendedKeyUsage",
      ]),
      /TLS Web Server Authentication[\s\S]*DNS:worker7\.example, IP Address:10\.0\.0\.7/,
    );
    assert.match(
      await openssl(["x509", "-in", `${p("alice")}.crt`, "-noout", "-subject"]),
      /subject=CN = alice, OU = user/,
    );
    for (const key of ["ca", "w7", "alice"]) {
      assert.equal(Deno.statSync(`${p(key)}.key`).mode! & 0o777, 0o600, key);
    }
    // Nothing is overwritten.
    const again = await runEntry("ctl.ts", ["certs", "ca", `--out=${p("ca")}`]);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr,
      `ijrctl certs: ${p("ca")}.crt already exists; remove it first or pick another --out\n`,
    );
    const badRole = await runEntry("ctl.ts", [
      "certs",
      "client",
      `--ca=${p("ca")}`,
      `--out=${p("x")}`,
      "--identity=x",
      "--role=root",
    ]);
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /argument 'root' is invalid\. Allowed choices are user, admin/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("certs init: a ready config file that ijrctl finds through IJR_CONFIG", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ijr-certs-" });
  try {
    const init = await runEntry("ctl.ts", [
      "certs",
      "init",
      `--dir=${dir}`,
      "--address=localhost:1",
    ]);
    assert.equal(init.code, 0, init.stderr);
    const config = JSON.parse(Deno.readTextFileSync(join(dir, "config.json")));
    assert.deepEqual(config, {
      server: "localhost:1",
      ca: "ca.crt",
      cert: "admin.crt",
      key: "admin.key",
    });
    // Nothing listens on port 1: the failure names the address, proving the config was used.
    const list = await runEntry("ctl.ts", ["job", "list"], {
      env: { IJR_CONFIG: join(dir, "config.json") },
    });
    assert.equal(list.code, 1);
    assert.match(list.stderr, /^ijrctl job list: cannot reach ijrd at localhost:1: /);
    const missing = await runEntry("ctl.ts", ["job", "list"], {
      env: { IJR_CONFIG: join(dir, "nope.json") },
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read config file .*nope\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
