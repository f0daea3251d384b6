#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# doc/cutthru.8 against the binary: the page renders without a groff
# warning, and every command, long option and short option that
# "BUILD/cutthru --help" prints is documented as a tagged paragraph of the
# rendered page; every key of the example configuration is mentioned.
# Ends with "manpage: N passed, M failed".
#
#   tests/unit/test_manpage.sh [BUILD]     (default build-asan)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build-asan}
PAGE=doc/cutthru.8
EXAMPLE=etc/cutthru.conf.example
SUITE=manpage
. tests/unit/tally.sh

for tool in man groff col; do
	command -v "$tool" >/dev/null || {
		fail "$tool is missing (man-db, groff-base, bsdextrautils: scripts/install-deps.sh)"
		finish
	}
done
[ -x "$BUILD/cutthru" ] || {
	fail "$BUILD/cutthru is not built"
	finish
}

help=$("$BUILD/cutthru" --help 2>&1) || {
	fail "cutthru --help exited non-zero"
	finish
}
# Plain ASCII, wide lines, no hyphenation: each tag is one line.
rendered=$(LC_ALL=C MANWIDTH=200 MAN_KEEP_FORMATTING=0 man -l "$PAGE" 2>/dev/null | col -b)

# 1. groff has nothing to say about the page.
warnings=$(LC_ALL=C groff -man -Tascii -ww -z "$PAGE" 2>&1)
if [ -z "$warnings" ] && [ -n "$rendered" ]; then
	pass "$PAGE renders without warnings"
else
	fail "$PAGE: ${warnings:-renders empty}"
fi

# A tagged paragraph: a line that starts, after indentation, with the item
# (alone or after another option, as in "-i, --interface IFACE").
is_tag() {
	grep -qE "^ +((-[A-Za-z]|--[a-z][a-z0-9-]*)[ ,|]+)*$(printf '%s' "$1" | sed 's/[.[\*^$]/\\&/g')([ ,|=]|\$)" \
		<<<"$rendered"
}

# check_items WHAT ITEMS...: each must be a tag of the rendered page.
check_items() {
	local what=$1 missing=() item
	shift
	if [ $# = 0 ]; then
		fail "no $what found in cutthru --help"
		return
	fi
	for item in "$@"; do
		is_tag "$item" || missing+=("$item")
	done
	if [ ${#missing[@]} = 0 ]; then
		pass "all $# $what of --help are documented"
	else
		fail "$what of --help missing from $PAGE: ${missing[*]}"
	fi
}

# 2. Long options: every "--word" of the help text.
mapfile -t longs < <(grep -oE '(^|[^A-Za-z0-9-])--[a-z][a-z0-9-]*' <<<"$help" |
	sed 's/^[^-]*//' | sort -u)
check_items "long options" "${longs[@]}"

# 3. Short options: "-x" at the start of an option line or before a comma.
mapfile -t shorts < <(grep -oE '(^|[[ ])-[A-Za-z]([ ,]|$)' <<<"$help" |
	grep -oE -- '-[A-Za-z]' | sort -u)
check_items "short options" "${shorts[@]}"

# 4. Commands: "cutthru WORD[|WORD...]" in the usage lines, and the first word of
# each line of a "Commands:" block.
mapfile -t commands < <(
	{
		grep -oE '^(Usage:)? +cutthru [a-z][a-z|-]*' <<<"$help" | awk '{print $NF}' | tr '|' '\n'
		awk '/^[A-Za-z ]*[Cc]ommands:/ {on = 1; next} /^$/ {on = 0} on && /^  [a-z]/ {print $1}' \
			<<<"$help"
	} | sort -u
)
check_items "commands" "${commands[@]}"

# 5. The example configuration's keys (once the repository has one).
if [ -f "$EXAMPLE" ]; then
	mapfile -t keys < <(sed -e 's@//.*@@' -e 's/#.*//' "$EXAMPLE" |
		perl -0pe 's@/\*.*?\*/@@gs' |
		grep -oE '(^|[{;(,[:space:]])[A-Za-z_][A-Za-z0-9_-]*[[:space:]]*[=:]' |
		grep -oE '[A-Za-z_][A-Za-z0-9_-]*' | sort -u)
	missing=()
	for key in "${keys[@]}"; do
		grep -qE "(^|[^A-Za-z0-9_])$key([^A-Za-z0-9_]|\$)" <<<"$rendered" || missing+=("$key")
	done
	if [ ${#keys[@]} = 0 ]; then
		fail "no key found in $EXAMPLE"
	elif [ ${#missing[@]} = 0 ]; then
		pass "all ${#keys[@]} keys of $EXAMPLE are documented"
	else
		fail "keys of $EXAMPLE missing from $PAGE: ${missing[*]}"
	fi
else
	echo "note: no $EXAMPLE yet, its keys are not checked"
fi

finish
