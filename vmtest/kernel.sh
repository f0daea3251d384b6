#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# vmtest/kernel.sh KERNEL: makes a kernel ready to boot and prints, as shell
# assignments, KIMG (its image), KVER (its release), MODS (its modules
# directory, empty when there is none) and INITRD (the small initramfs made
# for it). KERNEL is a name from vmtest/kernels, whose package is taken with
# `apt-get download` (never installed) into the cache, or the path of a
# kernel image, whose modules are looked for in /lib/modules/RELEASE or
# $VMTEST_MODULES.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutthru-vmtest}
# What the initramfs needs to mount the host's root over 9p, and overlays.
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"

TMPDIRS=()
trap 'rm -rf "${TMPDIRS[@]}"' EXIT

die() {
	echo "vmtest: $*" >&2
	exit 1
}

# apt_download PACKAGE VERSION DIR: the .deb into DIR, once.
apt_download() {
	local pkg=$1 ver=$2 dir=$3 tmp
	ls "$dir/${pkg}_"*.deb >/dev/null 2>&1 && return 0
	tmp=$(mktemp -d "$CACHE/download.XXXXXX")
	TMPDIRS+=("$tmp")
	if ! (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root download "$pkg=$ver" 2>/dev/null); then
		echo "vmtest: $pkg=$ver not in the package lists; running apt-get update" >&2
		apt-get update -qq >&2 || true
		if ! (cd "$tmp" && apt-get -qq -o APT::Sandbox::User=root download "$pkg=$ver"); then
			rm -rf "$tmp"
			echo "vmtest: $pkg=$ver cannot be downloaded (gone from the archive?)." >&2
			echo "vmtest: versions there now:" >&2
			apt-cache madison "$pkg" >&2 || true
			apt-cache search --names-only "^linux-image-${NAME//./\\.}[.-].*-amd64-unsigned\$" 2>/dev/null |
				sort -V | tail -3 >&2 || true
			die "update the pin in vmtest/kernels"
		fi
	fi
	mkdir -p "$dir"
	mv "$tmp"/*.deb "$dir/"
	rmdir "$tmp"
}

# from_archive NAME: sets KIMG, KVER, MODS for a kernel of vmtest/kernels.
from_archive() {
	local name=$1 pkg ver dir tmp
	read -r pkg ver < <(awk -v n="$name" '$1 == n { print $2, $3 }' "$HERE/kernels")
	[ -n "${pkg:-}" ] || die "kernel '$name' is neither in vmtest/kernels nor a file"
	dir=$CACHE/$pkg-$ver
	if [ ! -e "$dir/done" ]; then
		apt_download "$pkg" "$ver" "$CACHE/deb"
		tmp=$(mktemp -d "$CACHE/extract.XXXXXX")
		TMPDIRS+=("$tmp")
		dpkg-deb -x "$CACHE/deb/${pkg}_"*.deb "$tmp/root"
		KVER=$(ls "$tmp/root/lib/modules")
		# The package's postinst would make modules.dep; nothing installs it.
		depmod -b "$tmp/root" "$KVER"
		rm -rf "$dir"
		mv "$tmp" "$dir"
		touch "$dir/done"
	fi
	KVER=$(ls "$dir/root/lib/modules")
	KIMG=$dir/root/boot/vmlinuz-$KVER
	MODS=$dir/root/lib/modules/$KVER
	WORK=$dir
}

# The release string a bzImage carries (boot protocol: kernel_version).
image_release() {
	local img=$1 ptr
	ptr=$(od -An -tu2 -j $((0x20e)) -N2 "$img" | tr -d ' ')
	[ -n "$ptr" ] && [ "$ptr" -gt 0 ] || return 1
	dd if="$img" bs=1 skip=$((ptr + 0x200)) count=128 2>/dev/null | tr '\0' '\n' | head -1 |
		awk '{ print $1 }'
}

from_path() {
	local img
	img=$(readlink -f "$1")
	KIMG=$img
	KVER=$(image_release "$img") || die "$img is not a bzImage (no kernel_version in its header)"
	MODS=${VMTEST_MODULES:-/lib/modules/$KVER}
	[ -e "$MODS/modules.dep" ] || MODS=
	WORK=$CACHE/custom/$(echo "$img $(stat -c %Y "$img")" | md5sum | cut -c1-16)
	mkdir -p "$WORK"
}

# make_initramfs: $WORK/initramfs.gz, remade when vmtest/init, this script or
# the modules directory change.
make_initramfs() {
	local stamp tmp m line path n=0
	stamp=$( (cat "$HERE/init" "$0" /bin/busybox && echo "$MODS") | md5sum | cut -c1-32)
	INITRD=$WORK/initramfs.gz
	[ -e "$INITRD" ] && [ "$(cat "$WORK/initramfs.stamp" 2>/dev/null)" = "$stamp" ] && return 0
	file_is_static /bin/busybox || die "/bin/busybox is not static (install busybox-static)"
	tmp=$(mktemp -d "$CACHE/initramfs.XXXXXX")
	TMPDIRS+=("$tmp")
	mkdir -p "$tmp/bin" "$tmp/modules" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/newroot"
	cp /bin/busybox "$tmp/bin/busybox"
	cp "$HERE/init" "$tmp/init"
	chmod 755 "$tmp/init"
	: >"$tmp/modules/order"
	if [ -n "$MODS" ]; then
		for m in $BOOT_MODULES; do
			# "insmod PATH" in load order, or "builtin NAME".
			modprobe -d "${MODS%/lib/modules/*}" -S "$KVER" --show-depends "$m" 2>/dev/null |
				while read -r line path; do
					[ "$line" = insmod ] || continue
					grep -qxF "$(basename "$path")" "$tmp/modules/seen" 2>/dev/null && continue
					basename "$path" >>"$tmp/modules/seen"
					n=$(wc -l <"$tmp/modules/order")
					copy_module "$path" "$tmp/modules/$n.ko"
					echo "$n.ko $(basename "$path")" >>"$tmp/modules/order"
				done
		done
		rm -f "$tmp/modules/seen"
	fi
	(cd "$tmp" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	echo "$stamp" >"$WORK/initramfs.stamp"
	rm -rf "$tmp"
}

# Busybox's insmod takes plain modules only.
copy_module() {
	case $1 in
	*.xz) xz -dc "$1" >"$2" ;;
	*.zst) zstd -qdc "$1" >"$2" ;;
	*.gz) gzip -dc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

file_is_static() {
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

[ $# = 1 ] || die "usage: vmtest/kernel.sh NAME|IMAGE"
mkdir -p "$CACHE"
NAME=$1
if [ -f "$1" ]; then
	from_path "$1"
else
	from_archive "$1"
fi
make_initramfs
printf 'KIMG=%q\nKVER=%q\nMODS=%q\nINITRD=%q\n' "$KIMG" "$KVER" "$MODS" "$INITRD"
