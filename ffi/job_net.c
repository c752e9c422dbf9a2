/* The job's network: a new namespace holds only a loopback interface, down; bring it up so
 * programs that talk to themselves over 127.0.0.1 work. */
#include "job_child.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int ijr_bring_loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  struct ifreq request;
  memset(&request, 0, sizeof(request));
  memcpy(request.ifr_name, "lo", 3);
  int rc = ioctl(fd, SIOCGIFFLAGS, &request);
  if (rc == 0) {
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &request);
  }
  int err = rc == 0 ? 0 : errno;
  if (close(fd) != 0 && err == 0) err = errno;
  return err;
}

int ijr_loopback_up(struct ijr_child *child) {
  if (child->loopback_is_up) return 0; /* a namespace made ahead (job_namespaces.c) */
  int err = ijr_bring_loopback_up();
  return err == 0 ? 0 : ijr_fail(child, err, "lo", "");
}

/* In a user namespace the job's root has no capability over its network namespace (the
 * host's root owns it), so binding a port below 1024 and ICMP echo sockets would fail where
 * programs expect them to work. Both are per-network-namespace settings: open them here, for
 * this namespace only. */
static int write_sysctl(struct ijr_child *child, const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ijr_fail(child, errno, path, "");
  size_t len = strlen(value);
  ssize_t written = write(fd, value, len);
  int err = written == (ssize_t)len ? 0 : (written < 0 ? errno : EIO);
  if (close(fd) != 0 && err == 0) err = errno;
  return err == 0 ? 0 : ijr_fail(child, err, path, "");
}

int ijr_open_network(struct ijr_child *child) {
  if (child->userns_fd < 0) return 0;
  if (write_sysctl(child, "/proc/sys/net/ipv4/ip_unprivileged_port_start", "0") != 0) return -1;
  return write_sysctl(child, "/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
}
