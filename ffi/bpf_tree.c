/*
 * A seccomp policy compiled into classic BPF (see bpf_tree.h). Per architecture: the call
 * number is checked against the policy's end, then found by a binary search over the runs of
 * calls with the same verdict, so any call costs about log2(runs) comparisons and the whole
 * program stays small: the kernel translates and JIT-compiles it for every job, in time that
 * grows with its length (bench/README.md). The search's nodes jump to one block per verdict at
 * the end of their architecture's section: a return, or for a verdict that depends on an
 * argument, a few instructions that read it.
 *
 * Conditional BPF jumps reach at most 255 instructions ahead; each offset is checked as it is
 * patched (-E2BIG beyond: a section's search would need about 250 runs for that, and 32-bit
 * x86, the longer, has about 125). The jumps to a section are unconditional, which reach
 * anywhere.
 */
#include "bpf_tree.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the argument's lower half is read at the argument's own offset");

#define RET_ALLOW SECCOMP_RET_ALLOW
#define RET_EPERM (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define RET_ENOSYS (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))

#define LOAD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LOAD_ARG0_LOW BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))

struct emitter {
  struct sock_filter *out;
  size_t capacity, len;
  int err;
};

/* Appends one instruction; returns its index. */
static size_t emit(struct emitter *e, struct sock_filter insn) {
  if (e->len >= e->capacity) {
    if (e->err == 0) e->err = -ENOSPC;
    return e->len;
  }
  e->out[e->len] = insn;
  return e->len++;
}

static void ret(struct emitter *e, uint32_t value) {
  emit(e, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, value));
}

/* Points the conditional jump at `at` (true branch) to the next instruction to be emitted. */
static void land_true_branch(struct emitter *e, size_t at) {
  if (e->err != 0) return;
  size_t distance = e->len - (at + 1);
  if (distance > 255) {
    e->err = -E2BIG;
    return;
  }
  e->out[at].jt = (uint8_t)distance;
}

/* Points the unconditional jump at `at` to instruction `target`. */
static void land_jump(struct emitter *e, size_t at, size_t target) {
  if (e->err != 0) return;
  e->out[at].k = (uint32_t)(target - (at + 1));
}

/* The verdicts that need an argument block, and their blocks' places once emitted. */
static const enum ijr_seccomp_verdict ARGUMENT_VERDICTS[] = {
    IJR_SECCOMP_CLONE, IJR_SECCOMP_SOCKET, IJR_SECCOMP_SOCKETCALL, IJR_SECCOMP_PERSONALITY};
#define ARGUMENT_VERDICT_COUNT (sizeof(ARGUMENT_VERDICTS) / sizeof(ARGUMENT_VERDICTS[0]))

/* Most runs of equal verdicts in one architecture's policy (x86_64 has about 80). */
#define IJR_SECCOMP_MAX_RUNS 1024

/* A run of calls with one verdict: [start, next run's start). */
struct run {
  uint32_t start;
  uint8_t verdict;
};

/* Branches of the search waiting for their verdict's block: each search node refers its
 * single-run halves to the blocks at the end of the section (one per verdict) instead of
 * holding a copy, which halves the program. `ja` marks an unconditional jump (a section of
 * one run); otherwise `true_branch` says which of the conditional jump's two offsets. */
struct reference {
  size_t at;
  uint8_t verdict;
  uint8_t true_branch;
  uint8_t ja;
};
struct references {
  struct reference list[IJR_SECCOMP_MAX_RUNS];
  size_t count;
};

static void refer(struct references *refs, size_t at, uint8_t verdict, int true_branch, int ja) {
  if (refs->count == IJR_SECCOMP_MAX_RUNS) return; /* cannot happen: one per run at most */
  refs->list[refs->count++] = (struct reference){at, verdict, (uint8_t)true_branch, (uint8_t)ja};
}

/* The search over runs [first, end), at least two: the upper half is taken when nr is at
 * least its first call. A half of one run is a reference to its verdict's block; a longer
 * half follows inline (the lower half right after the node, the upper half after that). */
static void search(struct emitter *e, const struct run *runs, size_t first, size_t end,
                   struct references *refs) {
  size_t middle = first + (end - first) / 2;
  size_t node =
      emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, runs[middle].start, 0, 0));
  if (middle - first == 1) {
    refer(refs, node, runs[first].verdict, 0, 0);
  } else {
    search(e, runs, first, middle, refs);
  }
  if (end - middle == 1) {
    refer(refs, node, runs[middle].verdict, 1, 0);
  } else {
    land_true_branch(e, node);
    search(e, runs, middle, end, refs);
  }
}

/* Points every reference to `verdict` at `block`, the next instruction to be emitted. */
static void land_references(struct emitter *e, const struct references *refs, uint8_t verdict) {
  if (e->err != 0) return;
  size_t block = e->len;
  for (size_t i = 0; i < refs->count; i++) {
    const struct reference *ref = &refs->list[i];
    if (ref->verdict != verdict) continue;
    size_t distance = block - (ref->at + 1);
    if (ref->ja) {
      e->out[ref->at].k = (uint32_t)distance;
    } else if (distance > 255) {
      e->err = -E2BIG;
      return;
    } else if (ref->true_branch) {
      e->out[ref->at].jt = (uint8_t)distance;
    } else {
      e->out[ref->at].jf = (uint8_t)distance;
    }
  }
}

static int referred(const struct references *refs, uint8_t verdict) {
  for (size_t i = 0; i < refs->count; i++) {
    if (refs->list[i].verdict == verdict) return 1;
  }
  return 0;
}

/* One argument block, for calls whose verdict depends on their first argument. */
static void argument_block(struct emitter *e, uint8_t verdict, const struct bpf_argument_rules *rules) {
  emit(e, (struct sock_filter)LOAD_ARG0_LOW);
  switch (verdict) {
    case IJR_SECCOMP_CLONE: /* any namespace flag: EPERM */
      emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, rules->clone_denied_flags, 0, 1));
      ret(e, RET_EPERM);
      ret(e, RET_ALLOW);
      return;
    case IJR_SECCOMP_SOCKET:
      emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rules->socket_denied_family, 0, 1));
      ret(e, RET_EPERM);
      ret(e, RET_ALLOW);
      return;
    case IJR_SECCOMP_SOCKETCALL:
      emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rules->socketcall_enosys_call, 0, 1));
      ret(e, RET_ENOSYS);
      ret(e, RET_ALLOW);
      return;
    default: { /* personality: one of the values, or EPERM */
      size_t n = rules->personality_count;
      for (size_t i = 0; i < n; i++) {
        emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rules->personalities[i],
                                             (uint8_t)(n - i), 0));
      }
      ret(e, RET_EPERM);
      ret(e, RET_ALLOW);
    }
  }
}

/* One architecture's section: its policy's end, its search, then one block per verdict the
 * search refers to. */
static void section(struct emitter *e, const struct bpf_arch_policy *arch,
                    const struct bpf_argument_rules *rules) {
  /* On the stack (about 24 KiB): any thread may compile a filter. */
  struct run runs[IJR_SECCOMP_MAX_RUNS];
  struct references refs;
  size_t run_count = 0;
  for (uint32_t nr = 0; nr < arch->count; nr++) {
    uint8_t verdict = arch->verdicts[nr];
    if (verdict >= IJR_SECCOMP_COUNT_) {
      e->err = -EINVAL;
      return;
    }
    if (run_count > 0 && runs[run_count - 1].verdict == verdict) continue;
    if (run_count == IJR_SECCOMP_MAX_RUNS) {
      e->err = -E2BIG;
      return;
    }
    runs[run_count++] = (struct run){nr, verdict};
  }
  if (run_count == 0) {
    e->err = -EINVAL;
    return;
  }
  refs.count = 0;
  emit(e, (struct sock_filter)LOAD_NR);
  if (arch->reject_mask != 0) {
    emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, arch->reject_mask, 0, 1));
    ret(e, RET_ENOSYS);
  }
  emit(e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, arch->count, 0, 1));
  ret(e, RET_ENOSYS);
  if (run_count == 1) {
    refer(&refs, emit(e, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0)), runs[0].verdict, 0, 1);
  } else {
    search(e, runs, 0, run_count, &refs);
  }
  static const uint32_t RETURNS[][2] = {
      {IJR_SECCOMP_ALLOW, RET_ALLOW}, {IJR_SECCOMP_DENY, RET_EPERM}, {IJR_SECCOMP_ENOSYS, RET_ENOSYS}};
  for (size_t i = 0; i < sizeof(RETURNS) / sizeof(RETURNS[0]); i++) {
    if (!referred(&refs, (uint8_t)RETURNS[i][0])) continue;
    land_references(e, &refs, (uint8_t)RETURNS[i][0]);
    ret(e, RETURNS[i][1]);
  }
  for (size_t v = 0; v < ARGUMENT_VERDICT_COUNT; v++) {
    uint8_t verdict = (uint8_t)ARGUMENT_VERDICTS[v];
    if (!referred(&refs, verdict)) continue;
    land_references(e, &refs, verdict);
    argument_block(e, verdict, rules);
  }
}

int bpf_compile_policy(const struct bpf_arch_policy *archs, size_t arch_count,
                       const struct bpf_argument_rules *rules, struct sock_filter *out,
                       size_t capacity) {
  if (arch_count == 0 || arch_count > 4 || rules->personality_count > 64) return -EINVAL;
  struct emitter e = {out, capacity, 0, 0};
  size_t to_section[4];
  emit(&e, (struct sock_filter)LOAD_ARCH);
  for (size_t i = 0; i < arch_count; i++) {
    emit(&e, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, archs[i].audit_arch, 0, 1));
    to_section[i] = emit(&e, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0));
  }
  ret(&e, RET_ENOSYS); /* another architecture: as from a kernel without its calls */
  for (size_t i = 0; i < arch_count && e.err == 0; i++) {
    land_jump(&e, to_section[i], e.len);
    section(&e, &archs[i], rules);
  }
  return e.err != 0 ? e.err : (int)e.len;
}
