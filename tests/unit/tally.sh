# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Sourced by the shell test scripts: count checks, end with the line
# tests/run-all.sh reads. Set SUITE before sourcing.
passed=0
failed=0

pass() {
	echo "ok: $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL: $1"
	failed=$((failed + 1))
}

finish() {
	echo "$SUITE: $passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
