/**
 * ijrctl's config file, so users do not repeat the server address and certificate paths on
 * every call. Looked up in order: --config, $IJR_CONFIG, $XDG_CONFIG_HOME/ijr/config.json,
 * ~/.config/ijr/config.json. Relative paths in the file are resolved against the file's
 * folder; command-line flags override the file.
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
  readonly server?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

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

function readConfigFile(path: string, explicit: boolean): Partial<ClientConfig> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !explicit) return {};
    throw new Error(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`config file ${path} must hold a JSON object`);
  }
  const config: Record<string, string> = {};
  for (const field of ["server", "ca", "cert", "key"] as const) {
    const value = (parsed as Record<string, unknown>)[field];
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") {
      throw new Error(`config file ${path}: "${field}" must be a non-empty string`);
    }
    // Certificate paths are relative to the file, so a config folder can be moved whole.
    config[field] = field !== "server" && !isAbsolute(value) ? join(dirname(path), value) : value;
  }
  return config;
}

/** Loads the config file and applies the overrides; throws naming what is missing. */
export function loadClientConfig(
  overrides: ConfigOverrides,
  env?: (name: string) => string | undefined,
): ClientConfig {
  const { path, explicit } = configPath(overrides, env);
  const file = readConfigFile(path, explicit);
  const merged = {
    server: overrides.server ?? file.server,
    ca: overrides.ca ? resolve(overrides.ca) : file.ca,
    cert: overrides.cert ? resolve(overrides.cert) : file.cert,
    key: overrides.key ? resolve(overrides.key) : file.key,
  };
  const missing = Object.entries(merged).filter(([, value]) => !value).map(([name]) => name);
  if (missing.length > 0) {
    throw new Error(
      `no ${missing.join(", ")} configured (looked in ${path}): ${HOW_TO_CREATE}`,
    );
  }
  return merged as ClientConfig;
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
