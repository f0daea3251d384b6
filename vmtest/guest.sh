#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Stage 2, PID 1 of the VM, run from the host's root filesystem (read-only):
# makes the writable places a test run needs (tmpfs /tmp and /run, overlays
# for /etc, /var and /root), mounts the build tree read-write at its own
# path, puts the booted kernel's modules at /lib/modules/RELEASE, runs
# /run/vmtest/cmd with the console as its output, leaves its exit code in
# /run/vmtest/rc (the host's out directory, 9p tag vmout) and powers off.
# Under vng (virtme-ng) the same script runs as the command, with
# VMTEST_UNDER_VNG=1: vng has made the root writable places already.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8

say() { echo "vmtest: $*"; }

power_off() {
	sync
	[ "${VMTEST_UNDER_VNG:-}" = 1 ] && exit "${1:-1}"
	echo o >/proc/sysrq-trigger
	sleep 30
}

# param NAME: vmtest.NAME= from the kernel command line (qemu), or the
# environment's VMTEST_NAME (vng).
param() {
	local arg env=VMTEST_${1^^}
	if [ -n "${!env:-}" ]; then
		echo "${!env}"
		return
	fi
	for arg in $(cat /proc/cmdline); do
		case $arg in
		"vmtest.$1="*) echo "${arg#vmtest.$1=}" ;;
		esac
	done
}

# overlay DIR: DIR writable for this boot, the host's DIR below.
overlay() {
	local up=/run/vmtest-ovl/${1//\//_}
	mkdir -p "$up/upper" "$up/work"
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$up/upper,workdir=$up/work" "$1"
}

set_up_root() {
	mount -t tmpfs -o mode=755 tmpfs /run
	mkdir -p /run/vmtest /run/lock
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmout /run/vmtest || return 1
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o newinstance,ptmxmode=666 devpts /dev/pts
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	overlay /etc && overlay /var && overlay /root || return 1
	# The build tree, read-write; cache=mmap so that binaries can be mapped.
	# (A tree under /tmp has no directory in the guest's /tmp yet.)
	mkdir -p "$WORK" &&
		mount -t 9p -o trans=virtio,version=9p2000.L,cache=mmap,msize=262144 vmwork "$WORK"
}

set_up_system() {
	local mods
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	mods=$(param mods)
	if [ -n "$mods" ]; then
		# A host without a kernel of its own (a container) has no
		# /lib/modules: then its parent is made writable for this boot.
		if [ -d /lib/modules ]; then
			mount -t tmpfs tmpfs /lib/modules
		else
			overlay "$(readlink -f /lib)"
		fi
		mkdir -p "/lib/modules/$(uname -r)" || return 1
		if [ "$mods" = 9p ]; then
			mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose vmmods \
				"/lib/modules/$(uname -r)" || return 1
		else
			mount --bind "$mods" "/lib/modules/$(uname -r)" || return 1
		fi
	fi
	hostname vmtest
	ip link set lo up
	# As the host: tests open many sockets (the host's hard limit is 20000).
	ulimit -Hn 20000 && ulimit -Sn 20000
}

WORK=$(param work)
OUT=${VMTEST_OUT:-/run/vmtest}
if [ "${VMTEST_UNDER_VNG:-}" != 1 ]; then
	set_up_root || {
		say "stage 2 failed: could not set up the root filesystem"
		power_off
	}
fi
set_up_system || say "stage 2: setting up the system failed (going on)"
say "stage 2 up ($(uname -r), $(cut -d' ' -f1 /proc/uptime)s after boot)"
cut -d' ' -f1 /proc/uptime >"$OUT/boot_s"

cd "$WORK" || power_off
VMTEST_OUT=$OUT bash "$OUT/cmd" </dev/null
rc=$?
echo "$rc" >"$OUT/rc"
say "command exited $rc ($(cut -d' ' -f1 /proc/uptime)s after boot)"
power_off "$rc"
