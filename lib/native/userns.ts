/**
 * What jobs' user namespaces and seccomp filter are made from (ffi/job_userns.c,
 * ffi/seccomp_profile.c): both made once by ijrd and reused for every job.
 * @module
 */

import { abiConstant } from "./abi.ts";
import { describeErrno } from "./errno.ts";
import { libijr } from "./loader.ts";
import { SOCK_FILTER_BYTES } from "./spawn.ts";

/**
 * Makes a user namespace whose ids 0..65535 map to the host ids from `hostUid` and
 * `hostGid`, and in which no nested user namespace may be made; returns a descriptor of it
 * (close-on-exec), kept open as long as jobs may use it.
 */
export function makeUserNamespace(hostUid: number, hostGid: number): number {
  const fd = libijr().ijr_make_userns(hostUid, hostGid, abiConstant("IJR_USERNS_RANGE"));
  if (fd < 0) {
    throw new Error(
      `cannot make a user namespace for host ids ${hostUid}/${hostGid}: ${describeErrno(-fd)}`,
    );
  }
  return fd;
}

let filter: Uint8Array<ArrayBuffer> | undefined;

/**
 * The jobs' default seccomp filter as struct sock_filter instructions, compiled once per
 * process by libijr (ffi/bpf_tree.c) from its policy (ffi/seccomp_profile.c: an allowlist
 * in the spirit of the OCI default profile).
 */
export function defaultSeccompFilter(): Uint8Array<ArrayBuffer> {
  if (filter) return filter;
  const buffer = new Uint8Array(64 * 1024);
  const count = libijr().ijr_seccomp_default_filter(buffer, BigInt(buffer.length));
  if (count < 0) throw new Error(`cannot compile the seccomp filter: ${describeErrno(-count)}`);
  filter = buffer.slice(0, count * SOCK_FILTER_BYTES);
  return filter;
}

/** The architectures the filter knows, by their AUDIT_ARCH_* value. */
export const SECCOMP_ARCHES = { x86_64: 0xc000003e, i386: 0x40000003 } as const;

/**
 * The policy the filter is compiled from, for one architecture: an ijr_seccomp_verdict per
 * call number the policy knows (calls numbered beyond get ENOSYS).
 */
export function seccompPolicy(arch: keyof typeof SECCOMP_ARCHES): Uint8Array<ArrayBuffer> {
  const buffer = new Uint8Array(4096);
  const count = libijr().ijr_seccomp_policy(SECCOMP_ARCHES[arch], buffer, BigInt(buffer.length));
  if (count < 0) throw new Error(`cannot read the seccomp policy: ${describeErrno(-count)}`);
  return buffer.slice(0, count);
}
