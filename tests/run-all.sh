#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Runs every suite against one build directory (the sanitized one from
# `make check`), the kernel matrix (vmtest/) last, and ends with one line:
# "check: N passed, M failed".
# Any sanitizer report fails the suite it appears in.
set -u
BUILD=${1:-build-asan}
cd "$(dirname "$0")/.." || exit 1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CUTTHRU_BUILD=$PWD/$BUILD

passed=0
failed=0
failures=()
log_dir=$(mktemp -d /tmp/cutthru-check.XXXXXX)
trap 'rm -rf "$log_dir"' EXIT

# suite NAME CMD...: runs it, echoes its output, adds its counts.
suite() {
	local name=$1 out rc p f
	shift
	out=$log_dir/$name.log
	echo "== $name"
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(count_passed "$out")
	f=$(count_failed "$out")
	if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$out"; then
		echo "$name: sanitizer report"
		f=$((f + 1))
	fi
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "$name: exited $rc"
		f=1
	fi
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then
		echo "$name: ran no test"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failures+=("$name")
}

# cmocka: "[  PASSED  ] N test(s)."; ours and pytest: "N passed, M failed".
count_passed() {
	local n
	n=$(grep -oE '\[  PASSED  \] [0-9]+' "$1" | awk '{s += $NF} END {print s + 0}')
	n=$((n + $(grep -oE '(^|[ :])[0-9]+ passed' "$1" | tail -1 | grep -oE '[0-9]+' || echo 0)))
	echo "$n"
}

count_failed() {
	local n
	n=$(grep -oE '\[  FAILED  \] [0-9]+' "$1" | awk '{s += $NF} END {print s + 0}')
	n=$((n + $(grep -oE '[0-9]+ failed' "$1" | tail -1 | grep -oE '[0-9]+' || echo 0)))
	echo "$n"
}

for t in "$BUILD"/tests/test_*; do
	suite "unit:$(basename "$t")" "$t"
done
suite "unit:test_manpage.sh" tests/unit/test_manpage.sh "$BUILD"
suite "unit:test_dist.sh" tests/unit/test_dist.sh "$BUILD"
suite "bpf:intercept" "$BUILD/tests/bpf_intercept"
# The parsers' libFuzzer targets, about 20 s each (`make fuzz-parsers` for longer).
suite "fuzz:parsers" tests/fuzz/run-parsers.sh 20 "$BUILD"
# The intercepting controller's fuzzer, about 60 s (`make fuzz` for longer).
suite "fuzz:intercept" tests/fuzz/run.sh --check "$BUILD"
suite "net" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/net
suite "adversarial" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/adversarial
# The kernel-dependent suites again, in VMs booting Debian's 6.1 and 6.12;
# its closing line counts kernel x suite cells.
suite "vmtest" vmtest/matrix.sh

echo
[ ${#failures[@]} = 0 ] || echo "failed suites: ${failures[*]}"
echo "check: $passed passed, $failed failed"
[ "$failed" = 0 ]
