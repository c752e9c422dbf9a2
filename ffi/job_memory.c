/*
 * The init is a fork of the caller (a large, multi-threaded Deno process): without care it
 * would keep copy-on-write references to every anonymous page the caller had at clone time,
 * and as the caller's heap changes those pages become the init's own copies. A thousand
 * long-running jobs would then hold a thousand snapshots of the caller's heap. So once the
 * command is forked, the init unmaps every anonymous private mapping it inherited, except
 * its own stack and the thread's TLS block (errno, stack protector canary), and every mapping
 * of the caller's executable (whose relocated data would otherwise stay, a few MiB for Deno).
 * Other file-backed mappings (libc, libijr) stay: they cost page cache, not copies.
 *
 * Afterwards only code that touches nothing but the stack and TLS may run: the init uses raw
 * syscall(), whose PLT slot is already bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "job_child.h"

#include <stdint.h>

#define MAX_RANGES 2048

struct range {
  uintptr_t start, end;
};

static int parse_hex(const char **p, uintptr_t *value) {
  uintptr_t v = 0;
  const char *s = *p;
  int digits = 0;
  for (;; s++, digits++) {
    char ch = *s;
    if (ch >= '0' && ch <= '9') v = v * 16 + (uintptr_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v = v * 16 + (uintptr_t)(ch - 'a' + 10);
    else break;
  }
  *p = s;
  *value = v;
  return digits > 0;
}

static const char *skip_field(const char *s) {
  while (*s != ' ' && *s != '\0') s++;
  while (*s == ' ') s++;
  return s;
}

static int starts_with(const char *s, const char *prefix) {
  while (*prefix != '\0')
    if (*s++ != *prefix++) return 0;
  return 1;
}

static int equals(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) a++, b++;
  return *a == *b;
}

/* One line of /proc/self/maps: "start-end perms offset dev inode   path". */
static int is_inherited(const char *line, const char *exe, struct range *r) {
  const char *p = line;
  if (!parse_hex(&p, &r->start) || *p++ != '-' || !parse_hex(&p, &r->end)) return 0;
  p = skip_field(p);                /* to perms */
  p = skip_field(skip_field(p));    /* past perms and offset, to dev */
  p = skip_field(p);                /* to inode */
  int anonymous = (p[0] == '0' && (p[1] == ' ' || p[1] == '\0'));
  p = skip_field(p); /* to path, possibly empty */
  if (!anonymous) return exe[0] == '/' && equals(p, exe);
  if (*p == '\0') return 1;
  /* [heap], [stack], [anon:...] are the caller's; [vdso], [vvar], [vsyscall] the kernel's. */
  return starts_with(p, "[heap]") || starts_with(p, "[stack") || starts_with(p, "[anon");
}

static int contains(const struct range *r, uintptr_t lo, uintptr_t hi) {
  return r->start < hi && lo < r->end;
}

/* Collects the ranges to drop; returns how many, or -1 when /proc/self/maps is unreadable. */
static int collect(struct range *ranges, uintptr_t sp, uintptr_t tls) {
  char exe[512];
  long exe_len = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", exe, sizeof exe - 1);
  exe[exe_len > 0 ? exe_len : 0] = '\0';
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096], line[512];
  size_t line_len = 0;
  int count = 0;
  long n;
  while ((n = syscall(SYS_read, fd, buf, sizeof buf)) > 0) {
    for (long i = 0; i < n; i++) {
      char ch = buf[i];
      if (ch != '\n') {
        if (line_len + 1 < sizeof line) line[line_len++] = ch;
        continue;
      }
      line[line_len] = '\0';
      line_len = 0;
      struct range r;
      if (!is_inherited(line, exe, &r)) continue;
      /* Keep the stack we run on and the TLS block (with some room around both). */
      if (contains(&r, sp - 65536, sp + 4096) || contains(&r, tls - 65536, tls + 65536)) continue;
      if (count < MAX_RANGES) ranges[count++] = r;
    }
  }
  syscall(SYS_close, fd);
  return count;
}

void ijr_shed_inherited_memory(void) {
  struct range ranges[MAX_RANGES];
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  uintptr_t tls = (uintptr_t)&errno;
  /* Unmapping while reading the file would shift it under the reader: read, then unmap,
   * and go again while there were more ranges than fit. */
  for (int round = 0; round < 8; round++) {
    int count = collect(ranges, sp, tls);
    if (count <= 0) return;
    for (int i = 0; i < count; i++)
      syscall(SYS_munmap, ranges[i].start, ranges[i].end - ranges[i].start);
    if (count < MAX_RANGES) return;
  }
}
