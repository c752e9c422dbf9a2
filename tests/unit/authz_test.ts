import assert from "node:assert/strict";
import {
  canAccessJob,
  identityFromCertificate,
  requireAdmin,
} from "../../lib/rpc/services/authz.ts";
import { IjrError } from "../../lib/errors/mod.ts";
import { fromPem } from "../../lib/pki/mod.ts";
import { testPki } from "../helpers/pki.ts";

const der = (pem: string) => fromPem("CERTIFICATE", pem);

Deno.test("identity: CN is the name, OU=admin the admin role, anything else a user", async () => {
  const pki = await testPki();
  assert.deepEqual(identityFromCertificate(der(pki.admin.certPem)), {
    name: "admin",
    role: "admin",
  });
  assert.deepEqual(identityFromCertificate(der(pki.alice.certPem)), {
    name: "alice",
    role: "user",
  });
  // The server certificate has a CN but no OU: a user, never an admin.
  assert.deepEqual(identityFromCertificate(der(pki.server.certPem)), {
    name: "localhost",
    role: "user",
  });
});

Deno.test("identity: no certificate is UNAUTHENTICATED", () => {
  assert.throws(
    () => identityFromCertificate(undefined),
    (error: unknown) => error instanceof IjrError && error.code === "UNAUTHENTICATED",
  );
});

Deno.test("jobs: owners and admins only", () => {
  const alice = { name: "alice", role: "user" } as const;
  const admin = { name: "root", role: "admin" } as const;
  assert.equal(canAccessJob(alice, "alice"), true);
  assert.equal(canAccessJob(alice, "bob"), false);
  assert.equal(canAccessJob(alice, "Alice"), false);
  assert.equal(canAccessJob(admin, "bob"), true);
});

Deno.test("rootfs changes: admins only, with a message naming the action and the user", () => {
  requireAdmin({ name: "root", role: "admin" }, "rootfs upload");
  assert.throws(
    () => requireAdmin({ name: "alice", role: "user" }, "rootfs upload"),
    (error: unknown) =>
      error instanceof IjrError && error.code === "PERMISSION_DENIED" &&
      error.message === "rootfs upload needs the admin role; alice is a user",
  );
});
