/**
 * `ijrctl certs`: writes a CA, server and client certificates as PEM files (private keys
 * mode 0600), and for `init` a ready client config file, so a new user never needs openssl.
 * @module
 */

import { join, resolve } from "node:path";
import {
  type CertificateBundle,
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type Role,
} from "../pki/mod.ts";
import type { Action } from "./program.ts";

async function writeBundle(prefix: string, bundle: CertificateBundle): Promise<void> {
  await Deno.writeTextFile(`${prefix}.crt`, bundle.certPem, { mode: 0o644 });
  // Create the key file 0600 from the start: no moment where it is readable by others.
  await Deno.writeTextFile(`${prefix}.key`, bundle.keyPem, { mode: 0o600, createNew: true });
  await Deno.chmod(`${prefix}.key`, 0o600);
}

async function readBundle(prefix: string): Promise<CertificateBundle> {
  try {
    return {
      certPem: await Deno.readTextFile(`${prefix}.crt`),
      keyPem: await Deno.readTextFile(`${prefix}.key`),
    };
  } catch (error) {
    throw new Error(
      `cannot read the CA ${prefix}.crt / ${prefix}.key: ${(error as Error).message}`,
    );
  }
}

async function refuseExisting(...paths: string[]): Promise<void> {
  for (const path of paths) {
    try {
      await Deno.lstat(path);
      throw new Error(`${path} already exists; remove it first or pick another --out`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

function report(error: unknown): number {
  console.error(`ijrctl certs: ${(error as Error).message}`);
  return 1;
}

/**
 * An action that makes one certificate and its key as `--out`.crt and `--out`.key, refusing
 * to overwrite either; `issue` makes the bundle from the command's options.
 */
function writeOneBundle(
  issue: (options: Record<string, unknown>) => Promise<CertificateBundle>,
): Action {
  return async (options) => {
    try {
      const prefix = String(options.out);
      await refuseExisting(`${prefix}.crt`, `${prefix}.key`);
      await writeBundle(prefix, await issue(options));
      console.log(`wrote ${prefix}.crt and ${prefix}.key`);
      return 0;
    } catch (error) {
      return report(error);
    }
  };
}

/** `ijrctl certs ca --out PREFIX [--name CN]` */
export const certsCa: Action = writeOneBundle((options) =>
  createCertificateAuthority({ commonName: String(options.name) })
);

/** `ijrctl certs server --ca PREFIX --out PREFIX --name NAME...` */
export const certsServer: Action = writeOneBundle(async (options) =>
  issueServerCertificate(await readBundle(String(options.ca)), {
    names: options.name as string[],
    days: Number(options.days),
  })
);

/** `ijrctl certs client --ca PREFIX --out PREFIX --identity NAME [--role user|admin]` */
export const certsClient: Action = writeOneBundle(async (options) =>
  issueClientCertificate(await readBundle(String(options.ca)), {
    identity: String(options.identity),
    role: options.role as Role,
    days: Number(options.days),
  })
);

/**
 * `ijrctl certs init --dir DIR`: ca, server (localhost, 127.0.0.1 unless --server-name), an
 * admin client, and DIR/config.json pointing at them, for a local setup or a first worker.
 */
export const certsInit: Action = async (options) => {
  try {
    const dir = resolve(String(options.dir));
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const names = (options.serverName as string[] | undefined) ?? ["localhost", "127.0.0.1"];
    const identity = String(options.identity);
    const files = ["ca", "server", identity].flatMap((n) => [`${n}.crt`, `${n}.key`]);
    await refuseExisting(...files.map((file) => join(dir, file)), join(dir, "config.json"));
    const ca = await createCertificateAuthority();
    await writeBundle(join(dir, "ca"), ca);
    await writeBundle(join(dir, "server"), await issueServerCertificate(ca, { names }));
    await writeBundle(
      join(dir, identity),
      await issueClientCertificate(ca, { identity, role: "admin" }),
    );
    const config = {
      server: String(options.address),
      ca: "ca.crt",
      cert: `${identity}.crt`,
      key: `${identity}.key`,
    };
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
    console.log(`wrote ${dir}: ca, server (${names.join(", ")}), ${identity} (admin), config.json`);
    console.log(`use it with: export IJR_CONFIG=${join(dir, "config.json")}`);
    return 0;
  } catch (error) {
    return report(error);
  }
};
