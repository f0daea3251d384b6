#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Prints kvm when KVM may work here, tcg otherwise. /dev/kvm alone is not
# enough (some hosts expose a paravirtual KVM that cannot boot a stock
# kernel): the CPU must also show vmx or svm, and no boot in this host's
# uptime may have failed under KVM (run-vm.sh tries, and records a failure).
set -u
CACHE=${VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutthru-vmtest}
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo tcg; exit 0; }
grep -qwE 'vmx|svm' /proc/cpuinfo || { echo tcg; exit 0; }
[ "$(cat "$CACHE/kvm-fails" 2>/dev/null)" = "$(cat /proc/sys/kernel/random/boot_id)" ] &&
	{ echo tcg; exit 0; }
echo kvm
