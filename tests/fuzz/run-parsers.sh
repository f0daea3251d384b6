#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Runs the parsers' libFuzzer targets, as built by `make fuzz-parsers-bin`
# into BUILD/fuzz/ (this builds nothing): each replays its seed corpus
# (tests/fuzz/corpus/NAME/), then fuzzes for SECONDS from it. Inputs found
# on the way go to a temporary directory, not into the seeds; an input that
# fails is kept in BUILD/fuzz/artifacts/. Ends with one line:
# "fuzz-parsers: N passed, M failed", a replay and a run per target.
#
#   tests/fuzz/run-parsers.sh SECONDS [BUILD]   (BUILD: $CUTTHRU_BUILD or build-asan)
set -u
run_for=${1:?usage: run-parsers.sh SECONDS [BUILD]}
build=${2:-${CUTTHRU_BUILD:-build-asan}}
cd "$(dirname "$0")/../.." || exit 1
case $run_for in
'' | *[!0-9]*)
	echo "run-parsers: SECONDS must be a whole number, not '$run_for'" >&2
	exit 2
	;;
esac
[ "$run_for" -ge 1 ] || run_for=1

passed=0
failed=0
work=$(mktemp -d /tmp/cutthru-fuzz-parsers.XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz/artifacts
mkdir -p "$artifacts"

# result NAME RC LOG: counts it; on failure shows the end of the log.
result() {
	if [ "$2" = 0 ]; then
		passed=$((passed + 1))
		return
	fi
	failed=$((failed + 1))
	echo "$1: FAILED (exit $2); end of its log:"
	tail -n 40 "$3"
}

for target in http tls; do
	bin=$build/fuzz/fuzz_$target
	seeds=tests/fuzz/corpus/$target
	log=$work/$target.log
	if [ ! -x "$bin" ]; then
		echo "fuzz:$target: $bin not built (make BUILD=$build fuzz-parsers-bin)"
		failed=$((failed + 2))
		continue
	fi

	# Every seed once, as a plain regression test.
	timeout 120 "$bin" -timeout=10 "$seeds"/* >"$log" 2>&1
	rc=$?
	echo "fuzz:$target replay: $(grep -c '^Executed ' "$log") seeds"
	result "fuzz:$target replay" "$rc" "$log"

	mkdir -p "$work/corpus-$target"
	timeout $((run_for + 120)) "$bin" -max_total_time="$run_for" -timeout=10 \
		-max_len=8192 -rss_limit_mb=2048 -dict="tests/fuzz/$target.dict" \
		-artifact_prefix="$artifacts/$target-" -print_final_stats=1 \
		"$work/corpus-$target" "$seeds" >"$log" 2>&1
	rc=$?
	echo "fuzz:$target ${run_for}s: $(grep -oE '^Done [0-9]+ runs' "$log" | cut -d' ' -f2) runs," \
		"$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)"
	result "fuzz:$target run" "$rc" "$log"
done

echo "fuzz-parsers: $passed passed, $failed failed"
[ "$failed" = 0 ]
