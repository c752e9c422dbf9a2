/**
 * The jobs' seccomp filter as compiled by libijr (ffi/bpf_tree.c from ffi/seccomp_profile.c),
 * run in a classic BPF interpreter for every call number of both architectures with a range
 * of first arguments: its verdict is the policy's, for every call. The installed filter is
 * checked against the real kernel in tests/integration/job_userns_test.ts (probe syscalls).
 */
import assert from "node:assert/strict";
import { ENUMS } from "../../lib/native/abi.ts";
import { defaultSeccompFilter, SECCOMP_ARCHES, seccompPolicy } from "../../lib/native/mod.ts";
import { parseProgram, runSeccompProgram } from "../helpers/classic_bpf.ts";

const ALLOW = 0x7fff0000;
const EPERM = 0x00050000 | 1;
const ENOSYS = 0x00050000 | 38;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;

// clone's namespace flags: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
const NAMESPACE_FLAGS = [
  0x20000,
  0x02000000,
  0x04000000,
  0x08000000,
  0x10000000,
  0x20000000,
  0x40000000,
];
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];
const AF_VSOCK = 40;
const SYS_SOCKET = 1;
const HIGH = 1n << 32n;

/** First arguments tried with every call: plain, with bits above 31, and every special value. */
const FIRST_ARGUMENTS: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  0x11n, // clone: SIGCHLD
  BigInt(AF_VSOCK),
  HIGH | BigInt(AF_VSOCK),
  HIGH | 2n,
  HIGH,
  0x400000n, // personality READ_IMPLIES_EXEC
  HIGH | 0xffffffffn,
  ...PERSONALITIES.map(BigInt),
  ...NAMESPACE_FLAGS.map((flag) => BigInt(flag) | 0x11n),
  HIGH | 0x40000000n,
];

const VERDICTS = ENUMS.ijr_seccomp_verdict.values;

/** What the policy says for a call of verdict `verdict` with first argument `arg0`. */
function expected(verdict: typeof VERDICTS[number], arg0: bigint): number {
  // Every argument check reads the lower 32 bits, as the kernel does (int, unsigned int,
  // clone's flags): bits above never change a verdict.
  const low = Number(arg0 & 0xffffffffn);
  switch (verdict) {
    case "deny":
      return EPERM;
    case "allow":
      return ALLOW;
    case "enosys":
      return ENOSYS;
    case "clone":
      return NAMESPACE_FLAGS.some((flag) => (low & flag) !== 0) ? EPERM : ALLOW;
    case "socket":
      return low === AF_VSOCK ? EPERM : ALLOW;
    case "socketcall":
      return low === SYS_SOCKET ? ENOSYS : ALLOW;
    case "personality":
      return PERSONALITIES.includes(low) ? ALLOW : EPERM;
  }
}

const program = parseProgram(defaultSeccompFilter());

Deno.test("seccomp filter: every call of x86_64 and i386 gets the policy's verdict", () => {
  for (const arch of ["x86_64", "i386"] as const) {
    const policy = seccompPolicy(arch);
    const wrong: string[] = [];
    for (let nr = 0; nr < policy.length + 64; nr++) {
      const verdict = nr < policy.length ? VERDICTS[policy[nr]] : "enosys";
      for (const arg0 of FIRST_ARGUMENTS) {
        const got = runSeccompProgram(program, { nr, arch: SECCOMP_ARCHES[arch], args: [arg0] });
        const want = expected(verdict, arg0);
        if (got !== want) {
          wrong.push(`${arch} ${nr}(${arg0}): 0x${got.toString(16)}, not 0x${want.toString(16)}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  }
});

Deno.test("seccomp filter: x32 calls, numbers past the policy and negative numbers are ENOSYS", () => {
  const wrong: string[] = [];
  const x86_64 = seccompPolicy("x86_64").length;
  const numbers = [
    ...Array.from({ length: x86_64 + 64 }, (_, nr) => 0x40000000 | nr), // x32's calls
    ...[x86_64, x86_64 + 1, 1023, 1024, 0x3fffffff, 0x7fffffff],
    ...[0x80000000, 0x80000027, 0xfffffffe, 0xffffffff].map((nr) => nr | 0), // as an int
  ];
  for (const nr of numbers) {
    for (const arch of ["x86_64", "i386"] as const) {
      if (arch === "i386" && nr >= 0 && nr < seccompPolicy("i386").length) continue;
      const got = runSeccompProgram(program, { nr, arch: SECCOMP_ARCHES[arch], args: [0n] });
      if (got !== ENOSYS) wrong.push(`${arch} ${nr}: 0x${got.toString(16)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("seccomp filter: the kernel's numbers of the calls that matter get their verdicts", () => {
  const verdict = (arch: keyof typeof SECCOMP_ARCHES, nr: number, arg0 = 0n) =>
    runSeccompProgram(program, { nr, arch: SECCOMP_ARCHES[arch], args: [arg0] });
  // x86_64 (arch/x86/entry/syscalls/syscall_64.tbl)
  assert.equal(verdict("x86_64", 0), ALLOW); // read
  assert.equal(verdict("x86_64", 57), ALLOW); // fork
  assert.equal(verdict("x86_64", 165), EPERM); // mount
  assert.equal(verdict("x86_64", 101), EPERM); // ptrace
  assert.equal(verdict("x86_64", 246), EPERM); // kexec_load
  assert.equal(verdict("x86_64", 425), EPERM); // io_uring_setup
  assert.equal(verdict("x86_64", 272), EPERM); // unshare
  assert.equal(verdict("x86_64", 308), EPERM); // setns
  assert.equal(verdict("x86_64", 435), ENOSYS); // clone3
  assert.equal(verdict("x86_64", 56, 0x11n), ALLOW); // clone(SIGCHLD)
  assert.equal(verdict("x86_64", 56, 0x40000011n), EPERM); // clone(NEWNET)
  assert.equal(verdict("x86_64", 41, 2n), ALLOW); // socket(AF_INET)
  assert.equal(verdict("x86_64", 41, HIGH | 40n), EPERM); // socket(AF_VSOCK, high bits set)
  assert.equal(verdict("x86_64", 0x40000000 | 0), ENOSYS); // x32's read
  // i386 (arch/x86/entry/syscalls/syscall_32.tbl)
  assert.equal(verdict("i386", 3), ALLOW); // read
  assert.equal(verdict("i386", 21), EPERM); // mount
  assert.equal(verdict("i386", 120, 0x11n), ALLOW); // clone(SIGCHLD)
  assert.equal(verdict("i386", 120, 0x20011n), EPERM); // clone(NEWNS)
  assert.equal(verdict("i386", 359, 2n), ALLOW); // socket(AF_INET)
  assert.equal(verdict("i386", 359, 40n), EPERM); // socket(AF_VSOCK)
  assert.equal(verdict("i386", 362), ALLOW); // connect
  assert.equal(verdict("i386", 102, 1n), ENOSYS); // socketcall(SYS_SOCKET)
  assert.equal(verdict("i386", 102, 3n), ALLOW); // socketcall(SYS_CONNECT)
  assert.equal(verdict("i386", 117), ALLOW); // ipc
  // Any other architecture: as from a kernel without its calls.
  assert.equal(runSeccompProgram(program, { nr: 63, arch: AUDIT_ARCH_AARCH64 }), ENOSYS);
});
