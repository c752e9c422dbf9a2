/**
 * Certificate tooling: a CA, server and client certificates for IJR's mutual TLS.
 * @module
 */

export {
  type CertificateBundle,
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type Role,
  type Validity,
} from "./certificates.ts";
export { fromPem, toPem } from "./pem.ts";
