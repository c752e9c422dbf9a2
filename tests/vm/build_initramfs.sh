#!/usr/bin/env bash
# Builds the guest's initramfs and prints its path:
#   /init                      tests/vm/guest_init.sh
#   /bin/busybox + applets     the host's busybox-static
#   /bin/deno + its libraries  the pinned Deno ($DENO) and what ldd says it loads
#   /lib/modules/ijr/          the kernel modules fetch_kernel.sh picked, with modules.load
#   /ijr/                      the project: git ls-files (tracked and untracked, not ignored)
#                              plus build/libijr.so and build/probe
#   /deno-dir/                 a Deno module cache for tests/v2, so the guest needs no network
# The bench image (second argument "bench", for `make bench-v2`) adds:
#   /usr/bin/bwrap + libraries the host's bubblewrap, the peer bench/api_speed_bench.ts times
#   /deno-dir/                 also caching the bench, ijrd, ijrctl and the echo server
#
# Usage: build_initramfs.sh KERNEL_DIR [test|bench]
# The image is cached as $VM_DIR/initramfs-<key>.cpio (the bench's as
# initramfs-bench-<key>.cpio), the key being a hash of every input (file contents, not times);
# a run whose inputs did not change reuses it.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

kernel_dir=${1:?usage: build_initramfs.sh KERNEL_DIR [test|bench]}
variant=${2:-test}
: "${DENO:?DENO must name the pinned deno binary}"
deno_bin=$(readlink -f "$(command -v "$DENO")")
busybox_bin=$(readlink -f "$(command -v busybox || echo /bin/busybox)")
[ -x "$busybox_bin" ] || vm_die "no busybox: apt-get install -y busybox-static"
file "$busybox_bin" 2>/dev/null | grep -q 'statically linked' ||
  ldd "$busybox_bin" 2>&1 | grep -q 'not a dynamic executable' ||
  vm_die "$busybox_bin is not static: apt-get install -y busybox-static"

cd "$REPO_ROOT"
for built in build/libijr.so build/probe; do
  [ -f "$built" ] || vm_die "$built is missing: run 'make lib fixtures' first"
done
git rev-parse --git-dir >/dev/null 2>&1 || vm_die "$REPO_ROOT is not a git checkout (the image takes git ls-files)"

# The project files: tracked and untracked-but-not-ignored, minus those deleted in the tree.
project_files=()
while IFS= read -r -d '' path; do
  if [ -f "$path" ] || [ -L "$path" ]; then project_files+=("$path"); fi
done < <(git ls-files -z --cached --others --exclude-standard | sort -zu)
project_files+=(build/libijr.so build/probe)

# The shared libraries of program $1, as the host's loader resolves them.
libs_of() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}
deno_libs=()
while IFS= read -r lib; do deno_libs+=("$lib"); done < <(libs_of "$deno_bin")
[ "${#deno_libs[@]}" -gt 0 ] || vm_die "ldd found no libraries for $deno_bin"

mapfile -t v2_entries < <(find tests/v2 -name '*.ts' | sort)
[ "${#v2_entries[@]}" -gt 0 ] || vm_die "tests/v2 holds no .ts files"

# The bench image: bwrap beside deno, and the modules of what the bench runs (it starts ijrd,
# uploads with ijrctl and starts its echo server, each a `deno run` of its own). Its own name
# and module cache, so that the test image neither grows nor is evicted by it.
extra_bins=()
extra_libs=()
image_prefix=initramfs
deno_dir="$VM_DIR/deno-dir"
case "$variant" in
test) ;;
bench)
  bwrap_bin=$(command -v bwrap) || vm_die "no bwrap: apt-get install -y bubblewrap"
  extra_bins+=("$(readlink -f "$bwrap_bin")")
  while IFS= read -r lib; do extra_libs+=("$lib"); done < <(libs_of "${extra_bins[0]}")
  v2_entries+=(bench/api_speed_bench.ts bench/echo_server.ts daemon.ts ctl.ts)
  image_prefix=initramfs-bench
  deno_dir="$VM_DIR/deno-dir-bench"
  ;;
*) vm_die "unknown image variant $variant (test or bench)" ;;
esac

# The cache key: content hashes of every input, with the paths they get in the image.
mkdir -p "$VM_DIR"
manifest=$(mktemp "$VM_DIR/.manifest.XXXXXX")
trap 'rm -f "$manifest"' EXIT
{
  echo "format 1"
  (cd "$kernel_dir" && sha256sum vmlinuz modules/*)
  sha256sum "$deno_bin" "$busybox_bin" "${deno_libs[@]}"
  [ "${#extra_bins[@]}" -eq 0 ] || sha256sum "${extra_bins[@]}" "${extra_libs[@]}"
  sha256sum "${project_files[@]}"
} >"$manifest"
key=$(sha256sum "$manifest" | cut -c1-16)
image="$VM_DIR/$image_prefix-$key.cpio"
if [ -f "$image" ]; then
  vm_log "initramfs unchanged, reusing $(basename "$image")"
  echo "$image"
  exit 0
fi

started=$SECONDS
# The module cache: its own DENO_DIR, filled from npm by `deno cache` with the project's
# lock (--frozen: never a different version than deno.lock pins). It is kept between builds
# and started afresh when deno.lock changes, so it only ever holds what the lock names.
lock_sum=$(sha256sum deno.lock | cut -d' ' -f1)
if [ "$(cat "$deno_dir/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  rm -rf "$deno_dir"
  mkdir -p "$deno_dir"
  echo "$lock_sum" >"$deno_dir/.lock-sha256"
fi
vm_log "caching the modules of tests/v2${extra_bins[*]:+ and the bench} in $deno_dir"
DENO_DIR="$deno_dir" DENO_NO_UPDATE_CHECK=1 "$DENO" cache --frozen "${v2_entries[@]}" >&2 ||
  vm_die "deno cache of ${v2_entries[*]} failed"

stage="$VM_DIR/stage"
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,lib/modules/ijr,ijr}
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"

install -m 0755 tests/vm/guest_init.sh "$stage/init"

# busybox and its applets as links to it (what the init and the tests call: sh, mount, dd...).
install -m 0755 "$busybox_bin" "$stage/bin/busybox"
while IFS= read -r applet; do
  [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done < <("$busybox_bin" --list-full | grep -v '^bin/busybox$')

install -m 0755 "$deno_bin" "$stage/bin/deno"
for bin in "${extra_bins[@]}"; do install -m 0755 "$bin" "$stage/usr/bin/${bin##*/}"; done
for lib in "${deno_libs[@]}" "${extra_libs[@]}"; do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done

cp "$kernel_dir"/modules/* "$stage/lib/modules/ijr/"

# The project at /ijr, with the same relative paths (tests find build/ from their own path).
printf '%s\0' "${project_files[@]}" | tar --null -T - -cf - | tar -xf - -C "$stage/ijr"

cp -a "$deno_dir" "$stage/deno-dir"

# Just enough /etc for a root user and name lookups of localhost (glibc reads these files).
cat >"$stage/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$stage/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
printf '127.0.0.1 localhost ijr-v2-guest\n::1 localhost ip6-localhost\n' >"$stage/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$stage/etc/nsswitch.conf"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox_bin" cpio -o -H newc) >"$image.tmp" 2>/dev/null ||
  vm_die "cpio of $stage failed"
mv "$image.tmp" "$image"
cp "$manifest" "$image.manifest"
rm -rf "$stage"
# Only the newest image of this variant is kept (16 ?: the key, so the test image's pattern
# does not match the bench's).
for old in "$VM_DIR/$image_prefix"-????????????????.cpio; do
  [ "$old" = "$image" ] || rm -f "$old" "$old.manifest"
done
vm_log "built $(basename "$image") ($(du -m "$image" | cut -f1) MiB) in $((SECONDS - started)) s"
echo "$image"
