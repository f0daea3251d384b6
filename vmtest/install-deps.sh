#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# What `make vmtest` needs beyond scripts/install-deps.sh: qemu, a static
# busybox for the initramfs, kmod (depmod on the host; modprobe in the
# guest, which runs the host's), xz to unpack modules, and the tools the
# guest's tests use from the host's root (setarch: util-linux; ss: iproute2).
exec "$(dirname "$0")/../scripts/install-deps.sh" "$@" qemu-system-x86 busybox-static kmod \
	xz-utils util-linux iproute2
