/**
 * Mutual TLS for ijrd and ijrctl: TLS 1.3 only, with exactly three cipher suites (the
 * AES-GCM and ChaCha20-Poly1305 suites docs/security.md lists), and client certificates
 * required and verified against the CA bundle.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { SecureServerOptions } from "node:http2";
import { createSecureContext, type TlsOptions } from "node:tls";
import { contextOptions, type TlsMaterial } from "../wire/mod.ts";

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

/**
 * ijrd's own TLS listener (lib/daemon/serve.ts ends TLS itself, in front of grpc-js): TLS 1.3,
 * the three suites, a client certificate required and verified, and HTTP/2 the only protocol
 * offered (ALPN "h2").
 */
export function serverTlsOptions(material: TlsMaterial): TlsOptions {
  return {
    ...contextOptions(material),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ["h2"],
  };
}

/** Server credentials: TLS 1.3, the three suites, client certificate required. */
export function serverCredentials(material: TlsMaterial): grpc.ServerCredentials {
  return new MutualTlsServerCredentials(material);
}

/** Client credentials: TLS 1.3, the three suites, presenting the user's certificate. */
export function clientCredentials(material: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createFromSecureContext(createSecureContext(contextOptions(material)));
}
