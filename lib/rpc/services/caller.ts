/**
 * The caller of an RPC, parsed from the verified client certificate and shared by the
 * authorization checks and the request log. A certificate is parsed once per connection: a
 * TLS 1.3 connection's peer certificate is fixed by its handshake (there is no renegotiation),
 * so every call on it has the same caller, and the identity is kept against the connection
 * for as long as the connection lives.
 * @module
 */

import type { CallContext } from "../transport/mod.ts";
import { type Identity, identityFromCertificate } from "./authz.ts";

const byCall = new WeakMap<CallContext, Identity>();
const byConnection = new WeakMap<object, Identity>();

/** The caller's identity; throws UNAUTHENTICATED without a usable certificate. */
export function callerOf(context: CallContext): Identity {
  let identity = byCall.get(context);
  if (identity) return identity;
  const connection = context.connection;
  identity = connection === undefined ? undefined : byConnection.get(connection);
  if (!identity) {
    // A certificate that yields no identity throws here, and is never remembered.
    identity = identityFromCertificate(context.peerCertificate?.raw);
    if (connection !== undefined) byConnection.set(connection, identity);
  }
  byCall.set(context, identity);
  return identity;
}
