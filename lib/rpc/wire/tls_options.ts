/**
 * IJR's TLS policy, shared by ijrd's server and ijrctl's client: TLS 1.3 only, with
 * exactly three cipher suites (the AES-GCM and ChaCha20-Poly1305 suites docs/security.md lists),
 * and only the given CA bundle trusted. No grpc-js here: ijrctl's client loads this module.
 * @module
 */

import { Buffer } from "node:buffer";
import type { SecureContextOptions } from "node:tls";

/** The only cipher suites IJR negotiates (TLS 1.3 names, in order of preference). */
export const TLS13_CIPHER_SUITES: readonly string[] = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
];

/** PEM material for one side of a mutual TLS connection. */
export interface TlsMaterial {
  /** CA bundle the peer's certificate must chain to. */
  readonly caPem: string;
  /** This side's certificate (chain), PEM. */
  readonly certPem: string;
  /** This side's private key, PEM. */
  readonly keyPem: string;
}

/**
 * Node TLS options for one side: its certificate and key (a client may present none), the CA
 * bundle (which replaces the system's roots: a server is trusted only for a certificate of
 * IJR's CA), TLS 1.3, the suites.
 */
export function contextOptions(
  material: Pick<TlsMaterial, "caPem"> & Partial<TlsMaterial>,
): SecureContextOptions {
  return {
    ca: Buffer.from(material.caPem),
    ...(material.certPem && material.keyPem
      ? { cert: Buffer.from(material.certPem), key: Buffer.from(material.keyPem) }
      : {}),
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    // Node takes TLS 1.3 suite names in `ciphers` too.
    ciphers: TLS13_CIPHER_SUITES.join(":"),
  };
}
