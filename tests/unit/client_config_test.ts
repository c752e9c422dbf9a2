import assert from "node:assert/strict";
import { join } from "node:path";
import { configPath, loadClientConfig } from "../../lib/config/mod.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("config path: --config, then IJR_CONFIG, then XDG, then ~/.config", () => {
  assert.deepEqual(configPath({ config: "/a/c.json" }, envOf({ IJR_CONFIG: "/b" })), {
    path: "/a/c.json",
    explicit: true,
  });
  assert.deepEqual(configPath({}, envOf({ IJR_CONFIG: "/b/c.json", XDG_CONFIG_HOME: "/x" })), {
    path: "/b/c.json",
    explicit: true,
  });
  assert.deepEqual(configPath({}, envOf({ XDG_CONFIG_HOME: "/x", HOME: "/h" })), {
    path: "/x/ijr/config.json",
    explicit: false,
  });
  assert.deepEqual(configPath({}, envOf({ HOME: "/h" })), {
    path: "/h/.config/ijr/config.json",
    explicit: false,
  });
});

Deno.test("config file: relative certificate paths resolve against the file; flags override", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = join(dir, "config.json");
    Deno.writeTextFileSync(
      file,
      JSON.stringify({ server: "w1:50051", ca: "ca.crt", cert: "/abs/me.crt", key: "me.key" }),
    );
    assert.deepEqual(loadClientConfig({ config: file }), {
      server: "w1:50051",
      ca: join(dir, "ca.crt"),
      cert: "/abs/me.crt",
      key: join(dir, "me.key"),
    });
    assert.equal(loadClientConfig({ config: file, server: "w2:1" }).server, "w2:1");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("config file: missing or broken files name the file and how to create one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assert.throws(
      () => loadClientConfig({ config: join(dir, "none.json") }),
      /cannot read config file .*none\.json/,
    );
    assert.throws(
      () => loadClientConfig({}, envOf({ HOME: dir })),
      /no server, ca, cert, key configured \(looked in .*\.config\/ijr\/config\.json\): create one with 'ijrctl certs init/,
    );
    const bad = join(dir, "bad.json");
    Deno.writeTextFileSync(bad, "{ nope");
    assert.throws(() => loadClientConfig({ config: bad }), /is not valid JSON/);
    Deno.writeTextFileSync(bad, JSON.stringify({ server: 5 }));
    assert.throws(() => loadClientConfig({ config: bad }), /"server" must be a non-empty string/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
