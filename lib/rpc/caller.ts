/**
 * The caller of an RPC, parsed once per call from the verified client certificate and
 * shared by the authorization checks and the request log.
 * @module
 */

import type { CallContext } from "./adapter.ts";
import { type Identity, identityFromCertificate } from "./authz.ts";

const identities = new WeakMap<CallContext, Identity>();

/** The caller's identity; throws UNAUTHENTICATED without a usable certificate. */
export function callerOf(context: CallContext): Identity {
  let identity = identities.get(context);
  if (!identity) {
    identity = identityFromCertificate(context.peerCertificate?.raw);
    identities.set(context, identity);
  }
  return identity;
}
