#!/bin/sh
# PID 1 of the cgroup v2 test guest (busybox sh, packed as /init by build_initramfs.sh).
#
# Stage 1 runs on the initramfs itself. The kernel's initramfs ("rootfs") is a mount without
# a parent, and pivot_root(2) refuses to move away from such a root, so the engine's jobs
# could not pivot_root here. Stage 1 therefore copies the image into a tmpfs and
# switch_roots into it; stage 2 (this script again, with the argument "stage2") is the real
# init: it mounts the kernel file systems and a pure cgroup v2 hierarchy, sets up the
# delegated cgroup the tests start from, runs the v2 test set, prints its result line for the
# host and powers off. With ijr.bench=<sections> on the kernel command line (`make bench-v2`,
# the bench image) it runs bench/api_speed_bench.ts from that cgroup instead of the tests.
#
# The host parses two lines from the serial console:
#   IJR-V2-INIT: ...       the guest booted and reached its init (else: failure to boot)
#   IJR-V2-RESULT: <rc>    the exit status of `deno test` or of the bench (125: the init
#                          itself failed)

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

say() { echo "ijr-guest: $*"; }

# Power off at once; -f skips init's shutdown sequence (there is none: we are init). The
# host runs qemu with -no-reboot, so the reboot fallback also ends the VM.
halt_now() {
  sync
  poweroff -f
  reboot -f
}

# An init failure ends the VM with a result the host reports as an init failure.
die() {
  say "init failed: $*"
  echo "IJR-V2-RESULT: 125"
  halt_now
}

stage1() {
  # The image holds no device nodes (building it needs no root): the console comes from
  # devtmpfs. It is detached again before switch_root; our open descriptors stay valid.
  mount -t devtmpfs devtmpfs /dev && exec </dev/console >/dev/console 2>&1
  echo "IJR-V2-INIT: stage 1 (copying the initramfs into a tmpfs)"
  mkdir -p /newroot
  # 90%: the image is about 100 MiB, and tests write temporary files; the memory tests
  # limit their own cgroups, so the rest of guest memory is never exhausted by them.
  mount -t tmpfs -o size=90%,mode=0755 root /newroot || die "cannot mount the new root"
  for entry in /*; do
    case "$entry" in
    /newroot | /proc | /sys | /dev) ;;
    *) cp -a "$entry" /newroot/ || die "cannot copy $entry" ;;
    esac
  done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
  umount -l /dev
  # switch_root empties the initramfs (freeing its memory), moves /newroot onto / and execs.
  # shellcheck disable=SC2093 # exec on purpose: only a failed switch_root comes back here
  exec switch_root /newroot /init stage2
  die "switch_root failed"
}

mount_kernel_filesystems() {
  mount -t proc -o nosuid,nodev,noexec proc /proc || die "mount proc"
  mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || die "mount sysfs"
  mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev || die "mount devtmpfs"
  mkdir -p /dev/pts /dev/shm
  mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts || die "mount devpts"
  mount -t tmpfs -o nosuid,nodev shm /dev/shm || die "mount /dev/shm"
  mount -t tmpfs -o nosuid,nodev,mode=1777 tmp /tmp || die "mount /tmp"
  # Pure cgroup v2, as systemd mounts it (nsdelegate: cgroup namespaces are delegation
  # boundaries). The kernel is booted with cgroup_no_v1=all, so no v1 hierarchy can appear.
  mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup || die "mount cgroup2"
}

# The /dev node of the virtio disk the host named $1 (qemu -drive serial=...), or nothing.
disk_named() {
  for block in /sys/block/vd*; do
    if [ "$(cat "$block/serial" 2>/dev/null)" = "$1" ] && [ -b "/dev/${block##*/}" ]; then
      echo "/dev/${block##*/}"
      return 0
    fi
  done
  return 1
}

load_modules() {
  # Dependencies first (modules.load is ordered by fetch_kernel.sh).
  while read -r module; do
    insmod "/lib/modules/ijr/$module.ko" || die "insmod $module"
  done </lib/modules/ijr/modules.load
  # devtmpfs creates /dev/vdX when virtio_blk has probed a disk; that is asynchronous. The
  # disks are found by the serial numbers run_v2.sh gave them, not by probe order.
  tries=0
  until io_disk=$(disk_named ijr-io) && data_disk=$(disk_named ijr-data); do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || die "no disks with serials ijr-io and ijr-data after 10 s (were they attached?)"
    sleep 0.1
  done
}

# The data disk (ext4, made empty with rootfs/ and state/ by run_v2.sh) where the tests keep
# the root file systems and state of jobs with user namespaces: their rootfs is seen through
# an idmapped mount, which ext4 supports and this kernel's tmpfs (our root) does not.
DATA_DIR=/var/lib/ijr
mount_data_disk() {
  mkdir -p "$DATA_DIR" || die "mkdir $DATA_DIR"
  mount -t ext4 "$data_disk" "$DATA_DIR" || die "mount the ext4 data disk $data_disk on $DATA_DIR"
  say "data disk $data_disk (ext4) on $DATA_DIR, I/O disk $io_disk"
}

# What systemd does for a service with Delegate=yes, on a pure v2 host:
#   - the root enables the controllers for its children (cgroup.subtree_control);
#   - the slice above the service enables them for the service's cgroup;
#   - the service's own cgroup ("runner") holds the service's process and has none enabled:
#     the daemon (here: the test runner) must itself obey the no-internal-processes rule by
#     moving into a leaf before it enables controllers for its jobs.
delegate_cgroup() {
  root=/sys/fs/cgroup
  controllers="+cpu +memory +io +pids"
  echo "$controllers" >"$root/cgroup.subtree_control" || die "enable $controllers at the root"
  mkdir "$root/ijr-test.slice" || die "mkdir ijr-test.slice"
  echo "$controllers" >"$root/ijr-test.slice/cgroup.subtree_control" ||
    die "enable $controllers in ijr-test.slice"
  mkdir "$root/ijr-test.slice/runner" || die "mkdir ijr-test.slice/runner"
  echo $$ >"$root/ijr-test.slice/runner/cgroup.procs" || die "move init into runner"
  say "delegated cgroup: $(cat /proc/self/cgroup)," \
    "controllers: $(cat "$root/ijr-test.slice/runner/cgroup.controllers")"
}

# The value of option $1 on the kernel command line (ijr.filter=engine -> engine), or nothing.
cmdline_option() {
  tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"
}

run_tests() {
  cd /ijr || die "no /ijr"
  # `make test-v2 TEST_V2_FILTER=engine` runs only the tests whose names match; the host
  # passes the filter on the kernel command line (ijr.filter=..., no spaces).
  filter=$(cmdline_option ijr.filter)
  [ -n "$filter" ] && say "only tests matching: $filter"
  # --cached-only: the module cache was prepared on the host and the guest has no network.
  # --no-check: the host type-checks tests/ (make check); tsc under emulation costs minutes.
  # The variables tell tests/v2 that they run in this guest (see tests/v2/guest.ts).
  # Through a pipe: deno redraws its progress lines on a terminal, which a log garbles.
  # shellcheck disable=SC3040 # busybox ash has pipefail
  set -o pipefail
  env HOME=/root DENO_DIR=/deno-dir NO_COLOR=1 CI=true DENO_NO_UPDATE_CHECK=1 \
    IJR_V2_GUEST=1 IJR_V2_DISK="$io_disk" IJR_V2_DATA="$DATA_DIR" \
    deno test --allow-all --no-check --cached-only --frozen ${filter:+--filter "$filter"} tests/v2/ 2>&1 | cat
}

# `make bench-v2`: bench/api_speed_bench.ts --only <sections> --rounds <n>, as root from the
# delegated cgroup (ijrd, started by the bench, moves everything there into its leaf and the
# bench's library makes its cgroups beside ijrd's, as on a systemd host). ijrd's store and
# state, the library's state (all in temporary folders) and the busybox fixture (the
# library's rootfs, built at /ijr/build/fixtures) go on the ext4 data disk: jobs in user
# namespaces see their rootfs through an idmapped mount, which the tmpfs root cannot give.
run_bench() {
  cd /ijr || die "no /ijr"
  rounds=$(cmdline_option ijr.rounds)
  mkdir -p "$DATA_DIR/tmp" "$DATA_DIR/fixtures" build/fixtures || die "mkdir on the data disk"
  chmod 1777 "$DATA_DIR/tmp"
  mount --bind "$DATA_DIR/fixtures" build/fixtures || die "bind the fixtures onto the data disk"
  say "bench: --only $1 --rounds ${rounds:-(default)}, $(bwrap --version)"
  # shellcheck disable=SC3040 # busybox ash has pipefail
  set -o pipefail
  env HOME=/root DENO_DIR=/deno-dir NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 TMPDIR="$DATA_DIR/tmp" \
    deno run --allow-all --cached-only --frozen --no-check bench/api_speed_bench.ts \
    --only "$1" ${rounds:+--rounds "$rounds"} 2>&1 | cat
}

stage2() {
  mount_kernel_filesystems
  echo "IJR-V2-INIT: stage 2 on $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 }' /proc/meminfo) kB"
  hostname ijr-v2-guest
  ip link set lo up || die "loopback"
  load_modules
  mount_data_disk
  delegate_cgroup
  bench=$(cmdline_option ijr.bench)
  if [ -n "$bench" ]; then
    run_bench "$bench"
  else
    run_tests
  fi
  rc=$?
  echo "IJR-V2-RESULT: $rc"
  halt_now
}

if [ "${1:-}" = stage2 ]; then
  stage2
else
  stage1
fi
