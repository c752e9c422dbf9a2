# shellcheck shell=bash
# Shared by the scripts of the cgroup v2 VM lane (sourced, never run on its own).

# The checkout this lane tests, and where everything it builds goes (git-ignored build/).
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_DIR=${VM_DIR:-$REPO_ROOT/build/vm}

vm_log() { printf 'test-v2: %s\n' "$*" >&2; }

vm_die() {
  printf 'test-v2: error: %s\n' "$*" >&2
  exit 1
}

# The lane cannot run here at all (no qemu, not x86-64, the guest does not boot). Outside CI
# that is a loud skip; under CI=true it is a failure, because a skipped lane proves nothing.
vm_skip() {
  if [ "${CI:-}" = "true" ]; then
    printf 'test-v2: FAIL (CI=true, so this is not skipped): %s\n' "$*" >&2
    exit 1
  fi
  printf '\ntest-v2: SKIP: the cgroup v2 lane did not run: %s\n\n' "$*" >&2
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
