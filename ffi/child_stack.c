/* The stack of a child that shares ijrd's memory (CLONE_VM): mapped on its own, with a
 * PROT_NONE guard page below it, so that an overflow faults instead of writing into whatever
 * mapping of the daemon lies below. Used by the job's child and by the short-lived helpers that
 * make user, network and IPC namespaces. */
#include "job_child.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

int ijr_child_stack_map(struct ijr_child_stack *stack, size_t bytes) {
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  stack->map_bytes = bytes + (size_t)page;
  void *map = mmap(NULL, stack->map_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) {
    stack->map = NULL;
    return -errno;
  }
  if (mprotect(map, (size_t)page, PROT_NONE) != 0) {
    int err = errno;
    (void)munmap(map, stack->map_bytes);
    stack->map = NULL;
    return -err;
  }
  stack->map = map;
  stack->base = (char *)map + page;
  stack->bytes = bytes;
  return 0;
}

void ijr_child_stack_unmap(struct ijr_child_stack *stack) {
  /* munmap of a mapping made here cannot fail. */
  if (stack->map) (void)munmap(stack->map, stack->map_bytes);
  stack->map = NULL;
}
