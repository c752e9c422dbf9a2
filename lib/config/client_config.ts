/**
 * ijrctl's config file, so users do not repeat the server address and certificate paths on
 * every call. Looked up in order: --config, $IJR_CONFIG, $XDG_CONFIG_HOME/ijr/config.json,
 * ~/.config/ijr/config.json. Relative paths in the file are resolved against the file's
 * folder; command-line flags override the file.
 *
 * A file names one worker, `{"server", "ca", "cert", "key"}`, or several, kubectl-style:
 * `{"current-context": "node1", "contexts": [{"name": "node1", "server", "ca", "cert", "key"},
 * ...]}`. A file of the first kind is one context named "default".
 * @module
 */

import { dirname, isAbsolute, join, resolve } from "node:path";

/** Where to connect and with which certificates; every field is required to connect. */
export interface ClientConfig {
  /** ijrd address, host:port (a DNS name the server certificate names, or an IP SAN). */
  readonly server: string;
  /** CA bundle the server certificate must chain to. */
  readonly ca: string;
  /** The user's client certificate. */
  readonly cert: string;
  /** The user's private key. */
  readonly key: string;
}

/** Command-line overrides. */
export interface ConfigOverrides {
  readonly config?: string;
  /** The context (worker) to use instead of the file's current one. */
  readonly context?: string;
  readonly server?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** One named worker of a config file, its fields as the file gives them (paths resolved). */
export interface ConfigContext extends Partial<ClientConfig> {
  readonly name: string;
}

/** A config file, read and checked. */
export interface ConfigFile {
  /** Where it is (or would be: a missing file that was not asked for reads as empty). */
  readonly path: string;
  /** Its workers, in the file's order. */
  readonly contexts: readonly ConfigContext[];
  /** The name of the context used when --context is not given, if the file says. */
  readonly current?: string;
  /** True for a file of one worker without "contexts" (its context is "default"). */
  readonly single: boolean;
}

/** The context's name in a file that names one worker without "contexts". */
export const SINGLE_CONTEXT_NAME = "default";

/** What a context name may be: short, and safe at the start of an output line. */
const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const CONNECTION_FIELDS = ["server", "ca", "cert", "key"] as const;

const HOW_TO_CREATE =
  "create one with 'ijrctl certs init --dir DIR' and set IJR_CONFIG=DIR/config.json, " +
  "or pass --server, --ca, --cert and --key";

/** The config file path that applies, and whether the user chose it explicitly. */
export function configPath(
  overrides: ConfigOverrides,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): { path: string; explicit: boolean } {
  if (overrides.config) return { path: resolve(overrides.config), explicit: true };
  const fromEnv = env("IJR_CONFIG");
  if (fromEnv) return { path: resolve(fromEnv), explicit: true };
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return { path: join(xdg, "ijr", "config.json"), explicit: false };
  return { path: join(env("HOME") ?? "/", ".config", "ijr", "config.json"), explicit: false };
}

/** The connection fields of `object` (the file's top level or one context), checked. */
function connectionFields(
  object: Record<string, unknown>,
  where: string,
  path: string,
): Partial<ClientConfig> {
  const fields: Record<string, string> = {};
  for (const field of CONNECTION_FIELDS) {
    const value = object[field];
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") {
      throw new Error(`config file ${path}: "${where}${field}" must be a non-empty string`);
    }
    // Certificate paths are relative to the file, so a config folder can be moved whole.
    fields[field] = field !== "server" && !isAbsolute(value) ? join(dirname(path), value) : value;
  }
  return fields;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks the parsed JSON of a config file and returns its contexts. */
export function parseConfigFile(parsed: unknown, path: string): ConfigFile {
  if (!isObject(parsed)) throw new Error(`config file ${path} must hold a JSON object`);
  if (parsed.contexts === undefined) {
    if (parsed["current-context"] !== undefined) {
      throw new Error(`config file ${path}: "current-context" needs "contexts"`);
    }
    const fields = connectionFields(parsed, "", path);
    return { path, contexts: [{ name: SINGLE_CONTEXT_NAME, ...fields }], single: true };
  }
  const mixed = CONNECTION_FIELDS.find((field) => parsed[field] !== undefined);
  if (mixed) {
    throw new Error(
      `config file ${path}: "${mixed}" beside "contexts": give each context its own`,
    );
  }
  if (!Array.isArray(parsed.contexts) || parsed.contexts.length === 0) {
    throw new Error(`config file ${path}: "contexts" must be a non-empty array`);
  }
  const contexts: ConfigContext[] = parsed.contexts.map((entry: unknown, index: number) => {
    const where = `contexts[${index}].`;
    if (!isObject(entry)) throw new Error(`config file ${path}: "${where}" must be an object`);
    const name = entry.name;
    if (typeof name !== "string" || !CONTEXT_NAME.test(name)) {
      throw new Error(
        `config file ${path}: "${where}name" must be 1 to 63 letters, digits, '.', '_' or ` +
          `'-', starting with a letter or digit, got ${JSON.stringify(name)}`,
      );
    }
    return { name, ...connectionFields(entry, where, path) };
  });
  const names = contexts.map((context) => context.name);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice !== undefined) {
    throw new Error(`config file ${path}: context "${twice}" is named twice`);
  }
  const current = parsed["current-context"];
  if (current !== undefined && (typeof current !== "string" || !names.includes(current))) {
    throw new Error(
      `config file ${path}: "current-context" ${JSON.stringify(current)} is not one of its ` +
        `contexts (${names.join(", ")})`,
    );
  }
  return { path, contexts, current: current as string | undefined, single: false };
}

/** Reads and checks the config file that applies; a missing default file reads as empty. */
export function readConfigFile(
  overrides: ConfigOverrides,
  env?: (name: string) => string | undefined,
): ConfigFile {
  const { path, explicit } = configPath(overrides, env);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !explicit) {
      return { path, contexts: [{ name: SINGLE_CONTEXT_NAME }], single: true };
    }
    throw new Error(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfigFile(parsed, path);
}

/** The context `--context` names, else the file's current one, else its only one. */
export function selectContext(file: ConfigFile, name?: string): ConfigContext {
  const names = file.contexts.map((context) => context.name);
  if (name !== undefined) {
    const named = file.contexts.find((context) => context.name === name);
    if (!named) {
      throw new Error(
        `no context "${name}" in config file ${file.path} (it has: ${names.join(", ")})`,
      );
    }
    return named;
  }
  if (file.current !== undefined) return file.contexts.find((c) => c.name === file.current)!;
  if (file.contexts.length === 1) return file.contexts[0];
  throw new Error(
    `config file ${file.path} has ${names.length} contexts and no "current-context": pick ` +
      "one with --context NAME or 'ijrctl context use NAME'",
  );
}

/** A context's fields with the flags' overrides applied; throws naming what is missing. */
export function resolveContext(
  file: ConfigFile,
  context: ConfigContext,
  overrides: ConfigOverrides,
): ClientConfig {
  const merged = {
    server: overrides.server ?? context.server,
    ca: overrides.ca ? resolve(overrides.ca) : context.ca,
    cert: overrides.cert ? resolve(overrides.cert) : context.cert,
    key: overrides.key ? resolve(overrides.key) : context.key,
  };
  const missing = Object.entries(merged).filter(([, value]) => !value).map(([name]) => name);
  if (missing.length > 0) {
    const where = file.single ? file.path : `context "${context.name}" of ${file.path}`;
    throw new Error(`no ${missing.join(", ")} configured (looked in ${where}): ${HOW_TO_CREATE}`);
  }
  return merged as ClientConfig;
}

/** Loads the config file and applies the overrides; throws naming what is missing. */
export function loadClientConfig(
  overrides: ConfigOverrides,
  env?: (name: string) => string | undefined,
): ClientConfig {
  const file = readConfigFile(overrides, env);
  return resolveContext(file, selectContext(file, overrides.context), overrides);
}

/** Reads the PEM files a config names, with an error that says which file failed. */
export function readTlsFiles(config: ClientConfig): {
  caPem: string;
  certPem: string;
  keyPem: string;
} {
  const read = (what: string, path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (error) {
      throw new Error(`cannot read ${what} ${path}: ${(error as Error).message}; ${HOW_TO_CREATE}`);
    }
  };
  return {
    caPem: read("CA bundle", config.ca),
    certPem: read("client certificate", config.cert),
    keyPem: read("client key", config.key),
  };
}
