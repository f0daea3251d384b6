#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# vmtest/run-vm.sh [options] KERNEL OUTDIR CMD...: boots KERNEL (a name from
# vmtest/kernels or a kernel image) on this machine's own root filesystem
# and runs CMD there as root, in the build tree (this repository, shared
# read-write at its own path). The console goes to OUTDIR/console.log; the
# guest may write files to OUTDIR, seen inside as /run/vmtest.
#
# Exit code: CMD's; 124 when the time ran out; 255 when the guest crashed or
# never got to run CMD (OUTDIR/why says which).
#
#   --timeout S   seconds for the whole VM (default 600 with KVM, 1800 under TCG)
#   --cpus N      vCPUs (default 2)      --mem MB   memory (default 2048)
#   --append STR  more kernel command line
#
# vng (virtme-ng) is used when installed (VMTEST_RUNNER=qemu forces qemu);
# KVM only when it works (vmtest/accel.sh), otherwise TCG.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")

timeout_s='' cpus=2 mem=2048 append=''
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout_s=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 3 ] || { sed -n '3,17s/^# \{0,1\}//p' "$0" >&2; exit 2; }
kernel=$1 out=$2
shift 2
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/rc" "$out/why" "$out/boot_s" "$out/console.log" "$out/vng.log"

why() {
	echo "$*" >"$out/why"
	echo "vmtest: $kernel: $*" >&2
}

prep=$("$HERE/kernel.sh" "$kernel") || { why "could not prepare the kernel"; exit 255; }
eval "$prep"
accel=${VMTEST_ACCEL:-$("$HERE/accel.sh")}
[ -n "$timeout_s" ] || { [ "$accel" = kvm ] && timeout_s=600 || timeout_s=1800; }

# The command, as a script the guest runs from OUTDIR.
{
	echo "# run by vmtest/guest.sh in the VM"
	printf 'export VMTEST_KERNEL=%q\n' "$kernel"
	printf '%q ' "$@"
	echo
} >"$out/cmd"

# virtme's way: the host's root read-only over 9p, the tree and OUTDIR
# read-write, a serial console, no network card.
# shellcheck disable=SC2054 # qemu's options are comma-separated lists
qemu_args() {
	local cpu=${VMTEST_CPU:-max} machine=q35,accel=tcg
	[ "$accel" = kvm ] && cpu=host machine=q35,accel=kvm
	QEMU=(qemu-system-x86_64 -machine "$machine" -cpu "$cpu" -smp "$cpus" -m "$mem"
		-nodefaults -no-reboot -display none -nic none
		-serial "file:$out/console.log"
		-kernel "$KIMG" -initrd "$INITRD"
		-fsdev "local,id=vmroot,path=/,security_model=none,readonly=on,multidevs=remap"
		-device virtio-9p-pci,fsdev=vmroot,mount_tag=vmroot
		-fsdev "local,id=vmwork,path=$REPO,security_model=none,multidevs=remap"
		-device virtio-9p-pci,fsdev=vmwork,mount_tag=vmwork
		-fsdev "local,id=vmout,path=$out,security_model=none"
		-device virtio-9p-pci,fsdev=vmout,mount_tag=vmout
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/init vmtest.guest=$HERE/guest.sh vmtest.work=$REPO vmtest.mods=${MODS:+9p} $append")
	# The modules have a share of their own: a cache under /tmp would be
	# hidden by the guest's /tmp.
	[ -z "$MODS" ] || QEMU+=(-fsdev "local,id=vmmods,path=$MODS,security_model=none,readonly=on"
		-device virtio-9p-pci,fsdev=vmmods,mount_tag=vmmods)
}

# boot_qemu ACCEL SECONDS: the VM under qemu; sets rc. Under KVM it must
# reach stage 1 within a minute, or KVM is taken for not working here.
boot_qemu() {
	local pid waited=0
	accel=$1
	qemu_args
	if [ "$accel" != kvm ]; then
		timeout -k 10 "$2" "${QEMU[@]}" </dev/null >"$out/qemu.log" 2>&1
		rc=$?
		return
	fi
	timeout -k 10 "$2" "${QEMU[@]}" </dev/null >"$out/qemu.log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && ! grep -q "stage 1 up" "$out/console.log" 2>/dev/null; do
		if [ "$waited" -ge 60 ]; then
			kill "$pid"
			wait "$pid"
			echo "vmtest: $kernel: no boot under KVM within 60 s: KVM does not work here," \
				"using TCG" >&2
			cat /proc/sys/kernel/random/boot_id >"$CACHE/kvm-fails"
			boot_qemu tcg "$2"
			return
		fi
		sleep 1
		waited=$((waited + 1))
	done
	wait "$pid"
	rc=$?
}

# boot_vng SECONDS: the VM under vng; sets rc. (timeout signals its whole
# process group, qemu included.)
boot_vng() {
	# shellcheck disable=SC2046
	timeout -k 10 "$1" vng --run "$KIMG" --cpus "$cpus" --memory "${mem}M" \
		$([ "$accel" = kvm ] || echo --disable-kvm) --rwdir "$REPO" --rwdir "$out" \
		--cwd "$REPO" --append "loglevel=4 panic=-1 oops=panic $append" \
		--exec "VMTEST_UNDER_VNG=1 VMTEST_OUT=$out VMTEST_WORK=$REPO VMTEST_MODS=$MODS bash $HERE/guest.sh" \
		</dev/null >"$out/console.log" 2>&1
	rc=$?
}

CACHE=${VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cutthru-vmtest}
start=$(date +%s)
runner=qemu
if [ "${VMTEST_RUNNER:-}" != qemu ] && command -v vng >/dev/null; then
	runner=vng
	boot_vng "$timeout_s"
	# vng that never got to the command (say it found no modules for a
	# kernel the host has not installed): qemu directly, as without vng.
	if [ "$rc" != 124 ] && ! grep -q "stage 2 up" "$out/console.log"; then
		echo "vmtest: $kernel: vng did not get to run the command (exit $rc), trying qemu" >&2
		mv "$out/console.log" "$out/vng.log"
		runner=qemu
		boot_qemu "$accel" $((timeout_s - ($(date +%s) - start)))
	fi
else
	boot_qemu "$accel" "$timeout_s"
fi
echo $(($(date +%s) - start)) >"$out/wall_s"
echo "$runner, $accel" >"$out/accel"
# CPU seconds the VM took (user + system of this script's children).
times >"$out/times" # a builtin: not in a pipe, whose subshell has no children
tail -1 "$out/times" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' >"$out/cpu_s"
rm -f "$out/times"

if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	why "timed out after ${timeout_s}s ($runner, $accel)"
	exit 124
fi
if [ -s "$out/rc" ]; then
	exit "$(cat "$out/rc")"
fi
if grep -q "stage 2 up" "$out/console.log" 2>/dev/null; then
	why "the guest crashed while running the command ($runner, $accel)"
elif [ "$runner" = qemu ] && [ "$rc" != 0 ]; then
	why "the VM could not start: qemu exited $rc: $(tail -3 "$out/qemu.log" | tr '\n' ' ')"
else
	why "the VM could not start: the guest never got to run the command ($runner, $accel)"
fi
exit 255
