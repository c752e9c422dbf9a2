/*
 * long ijr_clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
 *
 * clone3 with a new stack returns in the child with nothing on that stack, so the child
 * cannot return into C code: this calls fn(arg) on the new stack and exits with its result.
 * The parent gets the child's PID (or -errno) like the raw syscall. glibc's clone() does the
 * same for the old clone syscall; clone3 is needed for CLONE_INTO_CGROUP. x86_64 only.
 */
#if !defined(__x86_64__)
#error "ijr_clone3_run is written for x86_64"
#endif
  .text
  .globl ijr_clone3_run
  .hidden ijr_clone3_run
  .type ijr_clone3_run, @function
ijr_clone3_run:
  .cfi_startproc
  mov %rdx, %r8          /* fn: r8 and r9 survive the syscall, in both processes */
  mov %rcx, %r9          /* arg */
  mov $435, %eax         /* SYS_clone3; args in rdi, size in rsi */
  syscall
  test %rax, %rax
  jnz 1f                 /* parent (PID) or error (-errno) */
  .cfi_undefined rip     /* child: the outermost frame on its new stack */
  xor %ebp, %ebp
  mov %r9, %rdi
  call *%r8
  mov %eax, %edi
  mov $60, %eax          /* SYS_exit */
  syscall
  hlt
1:
  ret
  .cfi_endproc
  .size ijr_clone3_run, .-ijr_clone3_run
  .section .note.GNU-stack,"",@progbits
