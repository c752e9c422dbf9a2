/**
 * Mutual TLS for ijrd and ijrctl: TLS 1.3 only, with exactly three cipher suites (the
 * AES-GCM and ChaCha20-Poly1305 suites docs/security.md lists), and client certificates
 * required and verified against the CA bundle.
 * @module
 */

import type { TlsOptions } from "node:tls";
import { contextOptions, type TlsMaterial } from "../wire/mod.ts";

/**
 * ijrd's TLS listener (listener.ts): TLS 1.3, the three suites, a client certificate required and
 * verified, and HTTP/2 the only protocol offered (ALPN "h2").
 */
export function serverTlsOptions(material: TlsMaterial): TlsOptions {
  return {
    ...contextOptions(material),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ["h2"],
  };
}
