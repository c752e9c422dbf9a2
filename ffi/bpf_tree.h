/*
 * Compiling a seccomp policy into a classic BPF program (ffi/bpf_tree.c): for each
 * architecture, one verdict per system call number, turned into a binary search over the runs
 * of equal verdicts. Internal to libijr (ffi/seccomp_profile.c holds the policy).
 */
#ifndef IJR_BPF_TREE_H
#define IJR_BPF_TREE_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#include "ijr_abi.h"

#define IJR_HIDDEN_TREE __attribute__((visibility("hidden")))

/* One architecture's policy: verdicts[nr] (enum ijr_seccomp_verdict) for nr 0..count-1;
 * calls numbered count and above (newer than the policy) get ENOSYS. */
struct bpf_arch_policy {
  uint32_t audit_arch;  /* AUDIT_ARCH_* */
  uint32_t reject_mask; /* call numbers with any of these bits get ENOSYS (x32's on x86_64) */
  const uint8_t *verdicts;
  uint32_t count;
};

/* What the argument-checking verdicts compare: the first argument's lower 32 bits, as the
 * kernel reads an int (socket's family, personality's value) or clone's 32 flag bits. */
struct bpf_argument_rules {
  uint32_t clone_denied_flags;      /* clone: any of these bits -> EPERM */
  uint32_t socket_denied_family;    /* socket: this family -> EPERM */
  uint32_t socketcall_enosys_call;  /* socketcall: this call number -> ENOSYS */
  const uint32_t *personalities;    /* personality: only these values */
  size_t personality_count;
};

/* Writes the program for `archs` (a call of any other architecture gets ENOSYS) into `out`.
 * Returns the number of instructions, or -ENOSPC (more than `capacity`), -E2BIG (a jump
 * too far for BPF), -EINVAL (a verdict out of range). */
IJR_HIDDEN_TREE int bpf_compile_policy(const struct bpf_arch_policy *archs, size_t arch_count,
                                       const struct bpf_argument_rules *rules,
                                       struct sock_filter *out, size_t capacity);

#endif
