#!/usr/bin/env bash
# `make test-v2`: boots Debian's kernel with a pure cgroup v2 hierarchy under qemu and runs
# tests/v2 inside it, as root, from a delegated cgroup (see guest_init.sh). Prints the guest's
# console (the test summary included) and exits with the status of the guest's `deno test`.
# `make bench-v2` (TEST_V2_BENCH set) boots the bench image instead, which runs
# bench/api_speed_bench.ts in the same place, and exits with the bench's status.
#
# Steps: qemu (apt) -> kernel (fetch_kernel.sh, apt) -> initramfs (build_initramfs.sh,
# cached) -> a fresh I/O disk and a fresh ext4 data disk -> boot (once more if the guest
# printed nothing at all: an emulated boot that hung) -> parse
# "IJR-V2-RESULT: <rc>" from the console.
#
# Environment:
#   DENO               the pinned deno (the Makefile exports it)
#   CI=true            anything that keeps the lane from running is a failure, not a skip
#   TEST_V2_TIMEOUT    seconds the guest may run (default 270; 900 for the bench)
#   TEST_V2_ACCEL      qemu accelerator: tcg (default) or kvm (only where KVM boots guests)
#   TEST_V2_VERBOSE=1  show the kernel's boot messages
#   TEST_V2_FILTER     run only the guest tests whose names match (deno test --filter)
#   TEST_V2_BENCH      run the bench's sections instead of the tests (--only; e.g. "start")
#   TEST_V2_BENCH_ROUNDS  the bench's --rounds (default: the bench's own)
set -euo pipefail
bench=${TEST_V2_BENCH:-}
[ -n "$bench" ] && export VM_LANE=bench-v2
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

if [ -n "$bench" ]; then
  timeout_s=${TEST_V2_TIMEOUT:-900}
else
  timeout_s=${TEST_V2_TIMEOUT:-270}
fi
accel=${TEST_V2_ACCEL:-tcg}
: "${DENO:=$REPO_ROOT/.tools/bin/deno}"
export DENO
started=$SECONDS

[ "$(uname -s)" = Linux ] || vm_skip "this host is $(uname -s); the lane needs Linux"
[ "$(uname -m)" = x86_64 ] || vm_skip "this host is $(uname -m); the lane boots an x86-64 guest"

# 1. qemu, from Debian (no recommended packages: no GUI, no firmware beyond SeaBIOS).
qemu="qemu-system-x86_64"
vm_install_missing "$qemu" qemu-system-x86
"$qemu" --version >/dev/null 2>&1 || vm_skip "$qemu does not run on this host"

# mke2fs (e2fsprogs) makes the data disk; installed like qemu when missing.
PATH=$PATH:/usr/sbin:/sbin
vm_install_missing mke2fs e2fsprogs
# The bench's peer, bwrap, is copied from the host into the bench image.
[ -n "$bench" ] && vm_install_missing bwrap bubblewrap

# 2. kernel, 3. initramfs.
kernel_dir=$("$REPO_ROOT/tests/vm/fetch_kernel.sh")
initramfs=$("$REPO_ROOT/tests/vm/build_initramfs.sh" "$kernel_dir" "${bench:+bench}")

# 4. The disks, fresh for every boot.
make_disks() {
  # The I/O tests' disk: 64 MiB of zeros, a raw file (the tests write it).
  disk="$VM_DIR/disk.raw"
  rm -f "$disk"
  truncate -s 64M "$disk"
  # The data disk: an empty ext4 file system holding rootfs/ and state/, where the tests keep
  # the root file systems and state folders of jobs with user namespaces (their rootfs is seen
  # through an idmapped mount; ext4 has them since Linux 5.12, the guest's tmpfs root not
  # before 6.3). Made from a folder by mke2fs -d, so no mount is needed on the host.
  data_disk="$VM_DIR/data.ext4"
  local data_tree made=0
  data_tree=$(mktemp -d "$VM_DIR/.data.XXXXXX")
  mkdir "$data_tree/rootfs" "$data_tree/state"
  rm -f "$data_disk"
  truncate -s 128M "$data_disk"
  mke2fs -q -F -t ext4 -L ijr-data -E root_owner=0:0 -d "$data_tree" "$data_disk" && made=1
  rm -rf "$data_tree"
  [ "$made" = 1 ] || vm_die "mke2fs of the data disk failed"
}

# 5. Boot. No network device (-nic none): the guest must not need one. -no-reboot turns the
# guest's reboot and panic (panic=-1) into qemu exiting, so a crash never loops.
case "$accel" in
tcg) accel_opt="tcg,thread=multi" ;;
kvm) accel_opt="kvm" ;;
*) vm_die "TEST_V2_ACCEL must be tcg or kvm, not $accel" ;;
esac
loglevel=3
[ "${TEST_V2_VERBOSE:-}" = 1 ] && loglevel=7
append="console=ttyS0 panic=-1 loglevel=$loglevel rdinit=/init"
append+=" systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
if [ -n "${TEST_V2_FILTER:-}" ]; then
  case "$TEST_V2_FILTER" in
  *[[:space:]]* | *'"'*) vm_die "TEST_V2_FILTER must not contain spaces or quotes" ;;
  esac
  append+=" ijr.filter=$TEST_V2_FILTER"
fi
if [ -n "$bench" ]; then
  case "$bench" in
  *[!a-z,]*) vm_die "TEST_V2_BENCH must name the bench's sections (like start or start,rate)" ;;
  esac
  append+=" ijr.bench=$bench"
  if [ -n "${TEST_V2_BENCH_ROUNDS:-}" ]; then
    case "$TEST_V2_BENCH_ROUNDS" in
    *[!0-9]*) vm_die "TEST_V2_BENCH_ROUNDS must be a number" ;;
    esac
    append+=" ijr.rounds=$TEST_V2_BENCH_ROUNDS"
  fi
fi
log="$VM_DIR/console.log"
boot_guest() {
  make_disks
  vm_log "booting $(basename "$kernel_dir") ($accel, 2 vCPUs, 2 GiB) with $(basename "$initramfs")"
  boot_started=$SECONDS
  set +e
  timeout --kill-after=10 "$timeout_s" "$qemu" \
    -accel "$accel_opt" -cpu max -smp 2 -m 2G \
    -nodefaults -display none -no-reboot -nic none \
    -serial stdio -monitor none \
    -kernel "$kernel_dir/vmlinuz" -initrd "$initramfs" -append "$append" \
    -drive "file=$disk,if=none,id=io,format=raw,cache=unsafe" \
    -device virtio-blk-pci,drive=io,serial=ijr-io \
    -drive "file=$data_disk,if=none,id=data,format=raw,cache=unsafe" \
    -device virtio-blk-pci,drive=data,serial=ijr-data \
    </dev/null 2>&1 | tr -d '\r' | tee "$log"
  local statuses=("${PIPESTATUS[@]}")
  set -e
  qemu_status=${statuses[0]}
  rm -f "$disk" "$data_disk"
}
boot_guest
# A guest that printed nothing at all, not even its init's first line, hung in emulated early
# boot (seen once in CI: an empty console until the timeout, the next boot fine). That says
# nothing about the tests: boot once more. A guest that started its init is never retried.
if ! grep -q 'IJR-V2-INIT:' "$log"; then
  vm_log "the guest did not boot (qemu status $qemu_status); booting it once more"
  boot_guest
fi

# 6. The verdict comes from the guest's own lines, never from qemu's exit status alone.
result=$(sed -n 's/^.*IJR-V2-RESULT: \([0-9]*\).*$/\1/p' "$log" | tail -n1)
elapsed="guest $((SECONDS - boot_started)) s, whole lane $((SECONDS - started)) s"
if [ -z "$result" ]; then
  if ! grep -q 'IJR-V2-INIT:' "$log"; then
    vm_skip "the guest did not boot (qemu status $qemu_status; console in $log)"
  fi
  [ "$qemu_status" = 124 ] && vm_die "the guest ran out of time (${timeout_s} s) before its result ($elapsed; console in $log)"
  vm_die "the guest stopped without a result line (qemu status $qemu_status; console in $log)"
fi
if [ "$result" = 125 ]; then
  ran=tests
  [ -n "$bench" ] && ran=bench
  vm_die "the guest's init failed before the $ran ran ($elapsed; console in $log)"
fi
if [ -n "$bench" ]; then
  [ "$result" = 0 ] || vm_die "the bench failed in the guest: it exited $result ($elapsed)"
  vm_log "DONE: the bench ran in the guest ($elapsed); its report is above (console in $log)"
  exit 0
fi
if [ "$result" != 0 ]; then
  vm_die "the v2 tests failed in the guest: deno test exited $result ($elapsed)"
fi
# deno test passes when no test ran (a filter that matches nothing): that is no verdict.
if grep -q '| 0 passed |' "$log"; then
  vm_die "no v2 test ran in the guest${TEST_V2_FILTER:+ (TEST_V2_FILTER=$TEST_V2_FILTER matches none)} ($elapsed)"
fi
vm_log "PASS: the v2 tests passed in the guest ($elapsed)"
