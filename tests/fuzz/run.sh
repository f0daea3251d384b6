#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Runs the intercepting controller's fuzzer (BUILD/tests/fuzz_intercept).
#
#   run.sh --check BUILD      what `make check` runs (about a minute): replays
#                             every file in tests/fuzz/corpus/, checks that the
#                             property can fail, fuzzes FUZZ_CHECK_SECONDS
#   run.sh --seconds N BUILD  fuzzes N seconds (`make fuzz`), corpus kept in
#                             BUILD/fuzz-corpus/
#
# What the fuzzer finds (a crash, a property or invariant failure) is kept in
# tests/fuzz/corpus/found/ and fails the run; since every later run replays
# that directory, it keeps failing until the program is fixed. Ends with
# "fuzz: N passed, M failed" (the steps), as tests/run-all.sh counts.
set -u
cd "$(dirname "$0")/../.." || exit 1

mode=long
seconds=600
case "${1:-}" in
--check)
	mode=check
	seconds=${FUZZ_CHECK_SECONDS:-45}
	shift
	;;
--seconds)
	seconds=$2
	shift 2
	;;
esac
BUILD=${1:?usage: run.sh --check BUILD | --seconds N BUILD}
FUZZER=$PWD/$BUILD/tests/fuzz_intercept
CORPUS=$PWD/tests/fuzz/corpus
FOUND=$CORPUS/found
DICT=$PWD/tests/fuzz/intercept.dict
RUNS=${FUZZ_CHECK_RUNS:-2000000}

if [ ! -x "$FUZZER" ]; then
	echo "fuzz: $FUZZER not built"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
work=$(mktemp -d /tmp/cutthru-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$FOUND" "$work/corpus" "$work/selfcheck"
passed=0
failed=0

# What a failed run printed about itself: the failure and the kept input.
show_failure() {
	sed -n '/BEGIN PROG LOAD LOG/,/END PROG LOAD LOG/p' "$1" | head -60
	grep -E -A8 "FUZZ FAILURE|ERROR: libFuzzer|^fuzz_intercept: " "$1" | grep -v "^    #" | head -40
	grep -E "Test unit written to" "$1"
}

step() {
	local name=$1 ok=$2
	if [ "$ok" = 1 ]; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		echo "not ok - $name"
	fi
}

# Every kept input, once: the seeds and what was found before.
replay() {
	local files
	mapfile -t files < <(find "$CORPUS" -type f | sort)
	if "$FUZZER" -artifact_prefix="$FOUND/" "${files[@]}" >"$work/replay.log" 2>&1; then
		step "replayed ${#files[@]} inputs of tests/fuzz/corpus/" 1
	else
		show_failure "$work/replay.log"
		step "replaying tests/fuzz/corpus/ (a kept input fails)" 0
	fi
}

# The property can fail: with the service 198.19.2.2:80 left out of the
# program's maps, the oracle (which still protects it) must catch a SYN to
# it passing, and name the destination, the verdict and the reason.
self_check() {
	local log=$work/selfcheck.log ok=0
	CUTTHRU_FUZZ_OMIT_SERVICE=1 "$FUZZER" -artifact_prefix="$work/selfcheck/" \
		"$CORPUS/seed/raw-syn4" >"$log" 2>&1
	if [ $? != 0 ] && grep -q "PROPERTY: an exposed frame left as a plain pass-through" "$log" &&
		grep -q "innermost destination 198.19.2.2:80/tcp" "$log" &&
		grep -q "verdict TC_ACT_OK, reason PASS_UNPROTECTED" "$log"; then
		ok=1
	else
		echo "fuzz: the self-check's run did not report the planted bypass:"
		tail -20 "$log"
	fi
	step "self-check: a program letting 198.19.2.2:80 through is caught" $ok
}

fuzz() {
	local log=$work/fuzz.log corpus=$1 execs rate
	shift
	"$FUZZER" -max_total_time="$seconds" -timeout=10 -max_len=1024 -dict="$DICT" \
		-artifact_prefix="$FOUND/" -print_final_stats=1 "$@" "$corpus" "$CORPUS" \
		>"$log" 2>&1
	local rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ $rc = 0 ]; then
		step "fuzzed ${seconds} s: ${execs:-?} frames, ${rate:-?} exec/s, nothing found" 1
	else
		show_failure "$log"
		step "fuzzing found something (input kept in tests/fuzz/corpus/found/)" 0
	fi
	grep -E "^#[0-9]+ +(DONE|pulse)" "$log" | tail -1
}

if [ "$mode" = check ]; then
	replay
	self_check
	fuzz "$work/corpus" -runs="$RUNS"
else
	mkdir -p "$BUILD/fuzz-corpus"
	replay
	fuzz "$PWD/$BUILD/fuzz-corpus"
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
