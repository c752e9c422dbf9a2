/* The job's network: a new namespace holds only a loopback interface, down; bring it up so
 * programs that talk to themselves over 127.0.0.1 work. */
#include "job_child.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int ijr_loopback_up(struct ijr_child *child) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ijr_fail(child, errno, "lo", "");
  struct ifreq request;
  memset(&request, 0, sizeof(request));
  memcpy(request.ifr_name, "lo", 3);
  int rc = ioctl(fd, SIOCGIFFLAGS, &request);
  if (rc == 0) {
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &request);
  }
  int err = errno;
  if (close(fd) != 0 && rc == 0) {
    rc = -1;
    err = errno;
  }
  return rc == 0 ? 0 : ijr_fail(child, err, "lo", "");
}
