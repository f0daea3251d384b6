#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# vmtest/matrix.sh [KERNEL...]: boots each kernel (names from vmtest/kernels,
# default all of them, or kernel image paths) once and runs the suites in
# it (vmtest/guest-suites.sh); prints a table kernel x suite -> pass/FAIL,
# then the log of every failure, and ends with "vmtest: N passed, M failed"
# counting the table's cells. A VM that cannot start or dies fails every
# suite it did not finish, loudly.
#
#   CUTTHRU_BUILD   the build the guests test (default build-asan)
#   VMTEST_SUITES   default "kernel bpf net"
#   VMTEST_NET      subset (vmtest/net-subset, default) or all
#   VMTEST_BUDGET   seconds for the whole matrix (default 1200 under TCG,
#                   600 with KVM), so that make check stays bounded
#   VMTEST_JOBS     VMs at once (default 1)
#   VMTEST_LOGS     where each VM's files go (default $CUTTHRU_BUILD/vmtest)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
cd "$REPO" || exit 1

BUILD=${CUTTHRU_BUILD:-$REPO/build-asan}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
SUITES=${VMTEST_SUITES:-kernel bpf net}
JOBS=${VMTEST_JOBS:-1}
LOGS=${VMTEST_LOGS:-$BUILD/vmtest}
KERNELS=("$@")
[ ${#KERNELS[@]} -gt 0 ] || mapfile -t KERNELS < <(awk '!/^#/ && NF { print $1 }' "$HERE/kernels")

loud() {
	echo "vmtest: ##############################################################"
	echo "vmtest: $*"
	echo "vmtest: ##############################################################"
}

# Every cell fails when nothing can run at all.
fail_all() {
	loud "$*"
	echo "vmtest: $((${#KERNELS[@]} * $(wc -w <<<"$SUITES"))) cells not run"
	echo "vmtest: 0 passed, $((${#KERNELS[@]} * $(wc -w <<<"$SUITES"))) failed"
	exit 1
}

for f in cutthru tests/bpf_intercept; do
	[ -x "$BUILD/$f" ] || fail_all "$BUILD/$f is missing: build it first (make vmtest does)"
done
command -v qemu-system-x86_64 >/dev/null || command -v vng >/dev/null ||
	fail_all "neither qemu-system-x86_64 nor vng is installed (vmtest/install-deps.sh)"

ACCEL=$("$HERE/accel.sh")
BUDGET=${VMTEST_BUDGET:-$([ "$ACCEL" = kvm ] && echo 600 || echo 1200)}
DEADLINE=$(($(date +%s) + BUDGET))
echo "vmtest: ${#KERNELS[@]} kernel(s) x suites ($SUITES) under $ACCEL, $JOBS at once," \
	"${BUDGET}s in all; build $BUILD"

# Log directory of a kernel (a name, or a path's file name).
dir_of() { echo "$LOGS/$(basename "$1" | tr -c 'A-Za-z0-9._+\n-' _)"; }

boot() {
	local k=$1 out left
	out=$(dir_of "$k")
	rm -rf "$out"
	mkdir -p "$out"
	left=$((DEADLINE - $(date +%s)))
	if [ "$left" -lt 60 ]; then
		echo "no time left in the matrix's ${BUDGET}s (VMTEST_BUDGET)" >"$out/why"
		return
	fi
	echo "vmtest: booting $k (at most ${left}s)"
	# shellcheck disable=SC2086
	"$HERE/run-vm.sh" --timeout "$left" "$k" "$out" \
		env CUTTHRU_BUILD="$BUILD" VMTEST_NET="${VMTEST_NET:-subset}" \
		bash vmtest/guest-suites.sh $SUITES >"$out/host.log" 2>&1
	echo "vmtest: $k done: $(cat "$out/why" 2>/dev/null || echo "ran")" \
		"($(cat "$out/accel" 2>/dev/null), $(cat "$out/wall_s" 2>/dev/null)s)"
}

running=0
for k in "${KERNELS[@]}"; do
	boot "$k" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

# The table, and what failed.
passed=0 failed=0 failures=()
printf '\n%-28s %7s %7s %7s' kernel boot_s wall_s cpu_s
for s in $SUITES; do printf ' %-12s' "$s"; done
echo
for k in "${KERNELS[@]}"; do
	out=$(dir_of "$k")
	release=$(grep -o 'stage 1 up ([^,]*' "$out/console.log" 2>/dev/null | cut -d'(' -f2)
	label="$k${release:+ ($release)}"
	[ -f "$k" ] && label=$(basename "$k")
	[ ${#label} -gt 28 ] && label="${label:0:27}~"
	printf '%-28s %7s %7s %7s' "$label" "$(cut -d. -f1 "$out/boot_s" 2>/dev/null || echo -)" \
		"$(cat "$out/wall_s" 2>/dev/null || echo -)" "$(cut -d. -f1 "$out/cpu_s" 2>/dev/null || echo -)"
	for s in $SUITES; do
		rc=$(cat "$out/$s.rc" 2>/dev/null)
		secs=$(cat "$out/$s.s" 2>/dev/null)
		if [ "$rc" = 0 ]; then
			printf ' %-12s' "pass ${secs}s"
			passed=$((passed + 1))
		else
			printf ' %-12s' "${rc:+FAIL ${secs}s}${rc:-FAIL*}"
			failed=$((failed + 1))
			failures+=("$k:$s")
		fi
	done
	echo
done
echo "(FAIL*: the suite did not finish. boot_s: the guest's uptime when the suites began;" \
	"wall_s, cpu_s: the whole VM's time, and the CPU time qemu used)"

for f in "${failures[@]}"; do
	k=${f%:*} s=${f##*:}
	out=$(dir_of "$k")
	echo
	echo "======== $k / $s ========"
	if [ -e "$out/$s.rc" ]; then
		cat "$out/$s.log"
	else
		loud "$k / $s did not finish: $(cat "$out/why" 2>/dev/null || echo "unknown reason")"
		echo "---- last lines of the console ($out/console.log):"
		tail -40 "$out/console.log" 2>/dev/null
		echo "---- host side ($out/host.log):"
		tail -10 "$out/host.log" 2>/dev/null
	fi
done
echo
echo "vmtest: logs in $LOGS"
echo "vmtest: $passed passed, $failed failed"
[ "$failed" = 0 ]
