import assert from "node:assert/strict";
import { join } from "node:path";
import {
  configPath,
  loadClientConfig,
  readConfigFile,
  setCurrentContext,
} from "../../lib/config/mod.ts";

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

/** Writes `config` as DIR/config.json and returns its path. */
function writeConfig(dir: string, config: unknown, mode = 0o644): string {
  const file = join(dir, "config.json");
  Deno.writeTextFileSync(file, JSON.stringify(config), { mode });
  Deno.chmodSync(file, mode);
  return file;
}

const TWO_WORKERS = {
  "current-context": "node2",
  contexts: [
    { name: "node1", server: "node1:50051", ca: "ca.crt", cert: "me.crt", key: "me.key" },
    { name: "node2", server: "node2:50051", ca: "/etc/ijr/ca.crt", cert: "me.crt", key: "me.key" },
  ],
  "editor-note": "kept by context use",
};

Deno.test("config contexts: the current one, or --context's, with paths and overrides as before", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = writeConfig(dir, TWO_WORKERS);
    assert.deepEqual(loadClientConfig({ config: file }), {
      server: "node2:50051",
      ca: "/etc/ijr/ca.crt",
      cert: join(dir, "me.crt"),
      key: join(dir, "me.key"),
    });
    assert.deepEqual(loadClientConfig({ config: file, context: "node1" }), {
      server: "node1:50051",
      ca: join(dir, "ca.crt"),
      cert: join(dir, "me.crt"),
      key: join(dir, "me.key"),
    });
    assert.equal(loadClientConfig({ config: file, context: "node1", server: "x:1" }).server, "x:1");
    assert.throws(
      () => loadClientConfig({ config: file, context: "node3" }),
      { message: `no context "node3" in config file ${file} (it has: node1, node2)` },
    );
    const parsed = readConfigFile({ config: file });
    assert.deepEqual(parsed.contexts.map((c) => c.name), ["node1", "node2"]);
    assert.equal(parsed.current, "node2");
    assert.equal(parsed.single, false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test('config contexts: a file of one worker is the context "default"', () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = writeConfig(dir, { server: "w1:50051", ca: "c", cert: "m", key: "k" });
    const parsed = readConfigFile({ config: file });
    assert.deepEqual(parsed.contexts, [{
      name: "default",
      server: "w1:50051",
      ca: join(dir, "c"),
      cert: join(dir, "m"),
      key: join(dir, "k"),
    }]);
    assert.equal(loadClientConfig({ config: file, context: "default" }).server, "w1:50051");
    assert.throws(
      () => loadClientConfig({ config: file, context: "node1" }),
      { message: `no context "node1" in config file ${file} (it has: default)` },
    );
    assert.equal(setCurrentContext(file, "default"), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("config contexts: malformed files are refused naming the file and the field", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const worker = { name: "a", server: "a:1", ca: "c", cert: "m", key: "k" };
    const cases: [unknown, string][] = [
      [
        { server: "a:1", contexts: [worker] },
        `"server" beside "contexts": give each context its own`,
      ],
      [{ contexts: [] }, `"contexts" must be a non-empty array`],
      [{ contexts: [worker, "b"] }, `"contexts[1]." must be an object`],
      [
        { contexts: [{ ...worker, name: "-a" }] },
        `"contexts[0].name" must be 1 to 63 letters, digits, '.', '_' or '-', starting with a ` +
        `letter or digit, got "-a"`,
      ],
      [{ contexts: [{ ...worker, server: 7 }] }, `"contexts[0].server" must be a non-empty string`],
      [{ contexts: [worker, worker] }, `context "a" is named twice`],
      [
        { "current-context": "b", contexts: [worker] },
        `"current-context" "b" is not one of its contexts (a)`,
      ],
      [{ "current-context": "a", server: "a:1" }, `"current-context" needs "contexts"`],
    ];
    for (const [config, message] of cases) {
      const file = writeConfig(dir, config);
      assert.throws(() => loadClientConfig({ config: file }), {
        message: `config file ${file}: ${message}`,
      });
    }
    const file = writeConfig(dir, { contexts: [worker, { ...worker, name: "b" }] });
    assert.throws(() => loadClientConfig({ config: file }), {
      message: `config file ${file} has 2 contexts and no "current-context": pick one with ` +
        "--context NAME or 'ijrctl context use NAME'",
    });
    assert.equal(loadClientConfig({ config: file, context: "b" }).server, "a:1");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("context use: rewrites only current-context, atomically, keeping the file's mode", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = writeConfig(dir, TWO_WORKERS, 0o600);
    assert.equal(setCurrentContext(file, "node1"), true);
    assert.deepEqual(JSON.parse(Deno.readTextFileSync(file)), {
      ...TWO_WORKERS,
      "current-context": "node1",
    });
    assert.equal(Deno.statSync(file).mode! & 0o777, 0o600);
    assert.equal(setCurrentContext(file, "node1"), false);
    const before = Deno.readTextFileSync(file);
    assert.throws(() => setCurrentContext(file, "node9"), {
      message: `no context "node9" in config file ${file} (it has: node1, node2)`,
    });
    assert.equal(Deno.readTextFileSync(file), before);
    // Nothing but the file itself is left in its folder.
    assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), ["config.json"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
