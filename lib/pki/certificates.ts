/**
 * Certificates for IJR's mutual TLS, made with WebCrypto (ECDSA P-256, SHA-256) and
 * @peculiar/x509, so neither users nor tests need openssl. A CA signs one server
 * certificate per worker (DNS and IP SANs, serverAuth) and one client certificate per
 * user (CN = identity, OU = role, clientAuth).
 * @module
 */

import "reflect-metadata"; // @peculiar/x509's dependency injection needs it loaded first
import * as x509 from "@peculiar/x509";
import { fromPem, toPem } from "./pem.ts";

x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The role a client certificate grants; see docs/security.md. */
export type Role = "admin" | "user";

/** A certificate and its private key, both PEM. */
export interface CertificateBundle {
  /** The certificate, PEM "CERTIFICATE". */
  readonly certPem: string;
  /** The private key, PEM "PRIVATE KEY" (PKCS#8). */
  readonly keyPem: string;
}

/** Validity of a new certificate. */
export interface Validity {
  /** Start of validity; default now minus five minutes (tolerates clock skew). */
  readonly notBefore?: Date;
  /** Days of validity from notBefore; default 365 (CA: 3650). */
  readonly days?: number;
}

function validity(options: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = options.notBefore ?? new Date(Date.now() - 5 * 60 * 1000);
  const days = options.days ?? defaultDays;
  if (!(days > 0)) throw new Error(`validity must be a positive number of days, got ${days}`);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive, as RFC 5280 requires
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Escapes a value for an RFC 4514 distinguished name. */
function dnValue(value: string): string {
  if (!/^[A-Za-z0-9._@ -]+$/.test(value) || value.trim() !== value) {
    throw new Error(
      `invalid name "${value}": use letters, digits, '.', '_', '@', '-' and inner spaces`,
    );
  }
  return value;
}

async function exportKey(key: CryptoKey): Promise<string> {
  return toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", key));
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

/** Creates a self-signed certificate authority. */
export async function createCertificateAuthority(
  options: { commonName?: string } & Validity = {},
): Promise<CertificateBundle> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${dnValue(options.commonName ?? "IJR CA")}`,
    ...validity(options, 3650),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem") + "\n", keyPem: await exportKey(keys.privateKey) };
}

/** What a leaf certificate is for. */
interface LeafRequest extends Validity {
  readonly subject: string;
  readonly usage: "serverAuth" | "clientAuth";
  readonly sans?: { type: "dns" | "ip"; value: string }[];
}

async function issueLeaf(ca: CertificateBundle, request: LeafRequest): Promise<CertificateBundle> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey(
    "pkcs8",
    fromPem("PRIVATE KEY", ca.keyPem),
    ALGORITHM,
    false,
    ["sign"],
  );
  const keys = await generateKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage[request.usage]], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (request.sans?.length) {
    extensions.push(new x509.SubjectAlternativeNameExtension(request.sans, false));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: request.subject,
    issuer: caCert.subject,
    ...validity(request, 365),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString("pem") + "\n", keyPem: await exportKey(keys.privateKey) };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Issues a server certificate. Each name becomes a DNS SAN, or an IP SAN when it is an IP
 * address; the first name is also the subject CN.
 */
export async function issueServerCertificate(
  ca: CertificateBundle,
  options: { names: readonly string[] } & Validity,
): Promise<CertificateBundle> {
  if (options.names.length === 0) throw new Error("a server certificate needs at least one name");
  const sans = options.names.map((name) => ({
    type: (IPV4.test(name) || name.includes(":") ? "ip" : "dns") as "ip" | "dns",
    value: name,
  }));
  return await issueLeaf(ca, {
    ...options,
    subject: `CN=${dnValue(options.names[0].replace(/:/g, "."))}`,
    usage: "serverAuth",
    sans,
  });
}

/** Issues a client certificate for a user: CN = identity, OU = role. */
export async function issueClientCertificate(
  ca: CertificateBundle,
  options: { identity: string; role: Role } & Validity,
): Promise<CertificateBundle> {
  if (options.role !== "admin" && options.role !== "user") {
    throw new Error(`role must be "admin" or "user", got "${options.role}"`);
  }
  return await issueLeaf(ca, {
    ...options,
    subject: `CN=${dnValue(options.identity)}, OU=${options.role}`,
    usage: "clientAuth",
  });
}
