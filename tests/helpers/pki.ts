/**
 * Certificates for tests, made once per test process: a CA, a server certificate for
 * "localhost" and 127.0.0.1, an admin and two users.
 * @module
 */

import {
  type CertificateBundle,
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
} from "../../lib/pki/mod.ts";

/** The test PKI. */
export interface TestPki {
  readonly ca: CertificateBundle;
  readonly server: CertificateBundle;
  readonly admin: CertificateBundle;
  readonly alice: CertificateBundle;
  readonly bob: CertificateBundle;
}

let pki: Promise<TestPki> | undefined;

/** The shared test PKI. */
export function testPki(): Promise<TestPki> {
  pki ??= (async () => {
    const ca = await createCertificateAuthority({ commonName: "IJR test CA" });
    return {
      ca,
      server: await issueServerCertificate(ca, { names: ["localhost", "127.0.0.1"] }),
      admin: await issueClientCertificate(ca, { identity: "admin", role: "admin" }),
      alice: await issueClientCertificate(ca, { identity: "alice", role: "user" }),
      bob: await issueClientCertificate(ca, { identity: "bob", role: "user" }),
    };
  })();
  return pki;
}
