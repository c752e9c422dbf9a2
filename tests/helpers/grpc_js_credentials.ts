/**
 * IJR's TLS policy as grpc-js credentials, for the peers tests and benches run beside IJR's own
 * gRPC: grpc-js clients that talk to ijrd (a second HTTP/2 implementation, nghttp2's), and the
 * bench's grpc-js echo server. ijrd and ijrctl load no grpc-js.
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { SecureServerOptions } from "node:http2";
import { createSecureContext } from "node:tls";
import { contextOptions, type TlsMaterial } from "../../lib/rpc/wire/mod.ts";

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
