/**
 * Mutual TLS for ijrd and ijrctl: TLS 1.3 only, with exactly three cipher suites (the
 * AES-GCM and ChaCha20-Poly1305 suites docs/security.md lists), and client certificates
 * required and verified against the CA bundle.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { SecureServerOptions } from "node:http2";
import { createSecureContext, type SecureContextOptions } from "node:tls";

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

function contextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    ca: Buffer.from(material.caPem),
    cert: Buffer.from(material.certPem),
    key: Buffer.from(material.keyPem),
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    // Node takes TLS 1.3 suite names in `ciphers` too.
    ciphers: TLS13_CIPHER_SUITES.join(":"),
  };
}

/**
 * grpc-js's own createSsl cannot pin the protocol version, so these credentials hand the
 * complete TLS options to grpc-js's secure server: version, suites, and a required, verified
 * client certificate.
 */
class MutualTlsServerCredentials extends grpc.ServerCredentials {
  constructor(material: TlsMaterial) {
    const serverOptions: SecureServerOptions = { requestCert: true, rejectUnauthorized: true };
    super(serverOptions, contextOptions(material));
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Server credentials: TLS 1.3, the three suites, client certificate required. */
export function serverCredentials(material: TlsMaterial): grpc.ServerCredentials {
  return new MutualTlsServerCredentials(material);
}

/** Client credentials: TLS 1.3, the three suites, presenting the user's certificate. */
export function clientCredentials(material: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createFromSecureContext(createSecureContext(contextOptions(material)));
}
