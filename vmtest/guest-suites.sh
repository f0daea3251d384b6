#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Runs in the VM (vmtest/run-vm.sh's command): each suite named, in order,
# against $CUTTHRU_BUILD. Leaves SUITE.log, SUITE.rc and SUITE.s (seconds)
# in /run/vmtest for the host, and prints the logs on the console too.
#   kernel  vmtest/tests: refusals naming a missing feature (blocks kernel
#           modules, so it runs first), the TIME_WAIT path
#   bpf     tests/bpf: the intercepting controller's table (BPF_PROG_TEST_RUN)
#   net     tests/net: the cases in vmtest/net-subset, or all (VMTEST_NET=all)
set -u
OUT=${VMTEST_OUT:-/run/vmtest}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONDONTWRITEBYTECODE=1
PYTEST=(/usr/bin/python3 -m pytest -q -p no:cacheprovider -o console_output_style=classic
	--durations=5)

run_suite() {
	case $1 in
	kernel) "${PYTEST[@]}" vmtest/tests ;;
	bpf) "$CUTTHRU_BUILD/tests/bpf_intercept" ;;
	net)
		if [ "${VMTEST_NET:-subset}" = all ]; then
			"${PYTEST[@]}" tests/net
		else
			# shellcheck disable=SC2046
			"${PYTEST[@]}" $(grep -v '^#' vmtest/net-subset)
		fi
		;;
	*)
		echo "unknown suite $1"
		return 2
		;;
	esac
}

for s in "$@"; do
	echo "vmtest: suite $s on $(uname -r)"
	start=$(cut -d' ' -f1 /proc/uptime)
	run_suite "$s" 2>&1 | tee "$OUT/$s.log"
	echo "${PIPESTATUS[0]}" >"$OUT/$s.rc"
	awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f\n", b - a }' \
		>"$OUT/$s.s"
done
