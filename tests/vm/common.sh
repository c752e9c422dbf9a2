# shellcheck shell=bash
# Shared by the scripts of the cgroup v2 VM lane (sourced, never run on its own).

# The checkout this lane tests, and where everything it builds goes (git-ignored build/).
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO_ROOT/build/vm}
# The name messages start with: test-v2, or bench-v2 for the bench run (run_v2.sh sets it).
VM_LANE=${VM_LANE:-test-v2}

vm_log() { printf '%s: %s\n' "$VM_LANE" "$*" >&2; }

vm_die() {
  printf '%s: error: %s\n' "$VM_LANE" "$*" >&2
  exit 1
}

# The lane cannot run here at all (no qemu, not x86-64, the guest does not boot). Outside CI
# that is a loud skip; under CI=true it is a failure, because a skipped lane proves nothing.
vm_skip() {
  if [ "${CI:-}" = "true" ]; then
    printf '%s: FAIL (CI=true, so this is not skipped): %s\n' "$VM_LANE" "$*" >&2
    exit 1
  fi
  printf '\n%s: SKIP: the cgroup v2 lane did not run: %s\n\n' "$VM_LANE" "$*" >&2
  exit 0
}

# True when apt's package lists know package $1 (they are empty on a fresh image).
vm_apt_knows() {
  apt-cache show --no-all-versions "$1" >/dev/null 2>&1
}

# apt-get update once per run, only when a package we need is unknown.
vm_apt_update_once() {
  if [ -z "${VM_APT_UPDATED:-}" ]; then
    vm_log "apt-get update"
    apt-get update -qq >&2 || vm_die "apt-get update failed"
    VM_APT_UPDATED=1
  fi
}

# Command $1 from Debian package $2: installed with apt-get (no recommended packages) when
# missing; where that cannot be done the lane cannot run (vm_skip).
vm_install_missing() {
  local command=$1 package=$2
  command -v "$command" >/dev/null && return 0
  [ "$(id -u)" = 0 ] || vm_skip "$command is missing and installing it needs root"
  command -v apt-get >/dev/null || vm_skip "$command is missing and there is no apt-get"
  vm_apt_knows "$package" || vm_apt_update_once
  vm_log "apt-get install $package"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "$package" >/dev/null || vm_skip "apt-get install $package failed"
}
