#!/usr/bin/env bash
# Fetches Debian's stock kernel through apt (the image package that linux-image-amd64 depends
# on) and keeps only what the guest needs: vmlinuz, its config, and the few drivers Debian
# builds as modules, with their dependencies, in load order. Everything else the lane needs
# (cgroup2 and its controllers, devtmpfs, tmpfs, the 8250 serial console, initramfs) is built
# into Debian's kernel.
#
# Prints the kernel directory on stdout:
#   $VM_DIR/kernel/<package>_<version>/vmlinuz
#   $VM_DIR/kernel/<package>_<version>/config
#   $VM_DIR/kernel/<package>_<version>/modules/<name>.ko
#   $VM_DIR/kernel/<package>_<version>/modules/modules.load   (names, dependencies first)
# Cached: when that directory is complete, nothing is fetched.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

# Modules the guest loads: the virtio PCI transport and disk (the I/O tests' disk and the
# data disk), overlayfs (the engine's job root) and ext4 (the data disk, where the tests keep
# root file systems and state: jobs' user namespaces need idmapped mounts of the rootfs, which
# ext4 has and the 6.1 kernel's tmpfs has not). Their dependencies are found from the modules'
# depends= (ext4: mbcache, jbd2, crc16). crc32c_generic is named on its own: ext4 and jbd2 ask
# the crypto API for "crc32c" at mount time (metadata checksums, on by default), a soft
# dependency no depends= names, and the guest has no module tree for the kernel's on-demand
# loading (modprobe) to find it in.
WANTED_MODULES=(virtio_pci virtio_blk overlay crc32c_generic ext4)
META_PACKAGE=linux-image-amd64

command -v apt-get >/dev/null || vm_skip "no apt-get: the lane fetches Debian's kernel through apt"

image_package() {
  apt-cache depends "$META_PACKAGE" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

vm_apt_knows "$META_PACKAGE" || vm_apt_update_once
package=$(image_package)
[ -n "$package" ] || vm_die "apt does not know which kernel $META_PACKAGE depends on"
version=$(apt-cache show --no-all-versions "$package" | awk '$1 == "Version:" { print $2; exit }')
[ -n "$version" ] || vm_die "apt has no version of $package"

out="$VM_DIR/kernel/${package}_${version}"
# A cache made for another module list (an older checkout) is fetched again.
if [ -f "$out/.complete" ] && grep -qxF "modules: ${WANTED_MODULES[*]}" "$out/.complete"; then
  echo "$out"
  exit 0
fi

mkdir -p "$VM_DIR/kernel"
work=$(mktemp -d "$VM_DIR/kernel/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

vm_log "fetching $package $version through apt"
# The sandbox user _apt cannot write into build/; downloading as root is what we want here.
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$package=$version" >&2) ||
  vm_die "apt-get download $package=$version failed"
deb=$(ls "$work"/*.deb)
dpkg-deb -x "$deb" "$work/root"

release=$(ls "$work/root/lib/modules")
[ "$(echo "$release" | wc -l)" = 1 ] || vm_die "$package holds several module trees: $release"
tree="$work/root/lib/modules/$release"

# Every module file by name, built once; module names treat "-" and "_" alike.
declare -A module_files=()
while IFS= read -r file; do
  base=${file##*/}
  base=${base%.ko}
  module_files[${base//-/_}]=$file
done < <(find "$tree/kernel" -name '*.ko')

# Depth-first over the "depends=" field of each module's .modinfo, so that every module
# comes after what it needs (busybox insmod loads exactly one file, no dependency lookup).
declare -A seen=()
order=()
visit() {
  local name=${1//-/_} file deps dep
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  file=${module_files[$name]:-}
  [ -n "$file" ] || vm_die "module $name is not in $package"
  deps=$(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | head -n1)
  for dep in ${deps//,/ }; do visit "$dep"; done
  order+=("$name")
  cp "$file" "$work/modules/$name.ko"
}
mkdir -p "$work/modules"
for module in "${WANTED_MODULES[@]}"; do visit "$module"; done
printf '%s\n' "${order[@]}" >"$work/modules/modules.load"

mkdir -p "$out.tmp"
rm -rf "$out.tmp"/*
cp "$work/root/boot/vmlinuz-$release" "$out.tmp/vmlinuz"
cp "$work/root/boot/config-$release" "$out.tmp/config"
mv "$work/modules" "$out.tmp/modules"
printf '%s\nmodules: %s\n' "$package $version $release" "${WANTED_MODULES[*]}" >"$out.tmp/.complete"
rm -rf "$out"
mv "$out.tmp" "$out"
vm_log "kernel $release ready: modules ${order[*]}"
echo "$out"
