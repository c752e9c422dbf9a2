/**
 * Who is calling and what they may do. The identity is the verified client certificate's
 * subject CN; the role is admin when one of the subject's OUs is "admin", user otherwise.
 * Users see, stop and stream only their own jobs, and another user's job is reported
 * exactly like a missing one, so job IDs cannot be probed. Admins see every job and alone
 * upload or delete root file systems.
 * @module
 */

import "reflect-metadata"; // @peculiar/x509's dependency injection needs it loaded first
import { X509Certificate } from "@peculiar/x509";
import { IjrError } from "../../errors/mod.ts";

/** The caller, from its certificate. */
export interface Identity {
  /** Subject CN. */
  readonly name: string;
  /** "admin" when the subject has OU=admin. */
  readonly role: "admin" | "user";
}

/** Reads the identity from a verified client certificate (DER). */
export function identityFromCertificate(der: Uint8Array | undefined): Identity {
  if (!der) throw new IjrError("UNAUTHENTICATED", "a client certificate is required");
  const subject = new X509Certificate(new Uint8Array(der)).subjectName;
  const names = subject.getField("CN");
  if (names.length !== 1 || names[0].trim() === "") {
    throw new IjrError(
      "UNAUTHENTICATED",
      `the client certificate must have exactly one subject CN, found ${names.length}`,
    );
  }
  const role = subject.getField("OU").includes("admin") ? "admin" : "user";
  return { name: names[0], role };
}

/** True when the caller may see (and so stop and stream) a job owned by `owner`. */
export function canAccessJob(identity: Identity, owner: string): boolean {
  return identity.role === "admin" || identity.name === owner;
}

/** Throws PERMISSION_DENIED unless the caller is an admin. */
export function requireAdmin(identity: Identity, action: string): void {
  if (identity.role !== "admin") {
    throw new IjrError(
      "PERMISSION_DENIED",
      `${action} needs the admin role; ${identity.name} is a user`,
    );
  }
}
