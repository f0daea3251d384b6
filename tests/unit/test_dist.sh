#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# What "make install" puts where, and the systemd unit as systemd itself
# reads it (systemd-analyze verify, and the exposure systemd-analyze
# security computes offline). Runs in a temporary DESTDIR, never touches
# the system. Ends with "dist: N passed, M failed".
#
#   tests/unit/test_dist.sh [BUILD]     (default build-asan)
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build-asan}
EXAMPLE=etc/cutthru.conf.example
# The exposure of dist/cutthru.service is 2.6 with systemd 252; a change
# that weakens the hardening noticeably fails here.
MAX_EXPOSURE=3.0
SUITE=dist
. tests/unit/tally.sh
STAGE=$(mktemp -d /tmp/cutthru-dist.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT

[ -x "$BUILD/cutthru" ] || {
	fail "$BUILD/cutthru is not built"
	finish
}

# stage DIR PREFIX: make install into DIR; -o keeps make from rebuilding
# the binary (with other flags than the ones it was built with).
stage() {
	make --no-print-directory -s -o "$BUILD/cutthru" BUILD="$BUILD" DESTDIR="$1" \
		PREFIX="$2" install >"$STAGE/make.log" 2>&1 || {
		cat "$STAGE/make.log"
		return 1
	}
}

# mode_is FILE MODE
mode_is() {
	[ -f "$1" ] && [ "$(stat -c %a "$1")" = "$2" ]
}

# 1. PREFIX=/usr: binary, page, unit, and the unit starts that binary.
root=$STAGE/usr-root
if stage "$root" /usr; then
	unit=$root/usr/lib/systemd/system/cutthru.service
	if mode_is "$root/usr/sbin/cutthru" 755 && mode_is "$root/usr/share/man/man8/cutthru.8" 644 &&
		mode_is "$unit" 644 && cmp -s "$BUILD/cutthru" "$root/usr/sbin/cutthru" &&
		grep -qx 'ExecStart=/usr/sbin/cutthru run --config /etc/cutthru/cutthru.conf' "$unit"; then
		pass "make install PREFIX=/usr: sbin/cutthru, man8/cutthru.8, the unit starting it"
	else
		fail "make install PREFIX=/usr: $(cd "$root" && find . -type f -printf '%p %m\n' | tr '\n' ' ')"
	fi
else
	fail "make install PREFIX=/usr failed"
fi

# 2. The default PREFIX=/usr/local: the unit follows the binary.
root=$STAGE/local-root
if stage "$root" /usr/local; then
	unit=$root/usr/local/lib/systemd/system/cutthru.service
	if [ -x "$root/usr/local/sbin/cutthru" ] && [ -f "$root/usr/local/share/man/man8/cutthru.8" ] &&
		grep -qx 'ExecStart=/usr/local/sbin/cutthru run --config /etc/cutthru/cutthru.conf' \
			"$unit"; then
		pass "make install PREFIX=/usr/local: the unit starts /usr/local/sbin/cutthru"
	else
		fail "make install PREFIX=/usr/local: $(grep ExecStart= "$unit" 2>&1)"
	fi
else
	fail "make install PREFIX=/usr/local failed"
fi

# 3. The example configuration is installed once, never over an edited one.
if [ -f "$EXAMPLE" ]; then
	conf=$STAGE/usr-root/etc/cutthru/cutthru.conf
	if mode_is "$conf" 640 && cmp -s "$EXAMPLE" "$conf"; then
		echo "# edited" >>"$conf"
		if stage "$STAGE/usr-root" /usr && tail -1 "$conf" | grep -qx '# edited'; then
			pass "the example configuration is installed, and an edited one is kept"
		else
			fail "a second make install replaced the edited $conf"
		fi
	else
		fail "make install did not install $EXAMPLE as $conf (0640)"
	fi
else
	echo "note: no $EXAMPLE yet, its installation is not checked"
fi

# 4. The bounding set holds what set-up needs (dist/cutthru.service says
# why each); without one of them "run" cannot start.
bounding=$(sed -n 's/^CapabilityBoundingSet=//p' dist/cutthru.service)
missing=()
for cap in CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETPCAP CAP_SETUID CAP_SETGID; do
	grep -qw "$cap" <<<"$bounding" || missing+=("$cap")
done
if [ -n "$bounding" ] && [ ${#missing[@]} = 0 ]; then
	pass "the unit's CapabilityBoundingSet holds what set-up needs"
else
	fail "the unit's CapabilityBoundingSet lacks ${missing[*]:-everything}"
fi

# 5. systemd reads the unit without a complaint. verify wants ExecStart's
# binary and the man page of Documentation= to exist: the staged ones.
if command -v systemd-analyze >/dev/null; then
	unit=$STAGE/cutthru.service
	sed "s|^ExecStart=/usr/sbin/cutthru|ExecStart=$STAGE/usr-root/usr/sbin/cutthru|" \
		"$STAGE/usr-root/usr/lib/systemd/system/cutthru.service" >"$unit"
	out=$(MANPATH="$STAGE/usr-root/usr/share/man:" systemd-analyze verify "$unit" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then
		pass "systemd-analyze verify: no complaint"
	else
		fail "systemd-analyze verify exited $rc: $out"
	fi
	out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
	level=$(sed -n 's/.*Overall exposure level for cutthru.service: \([0-9.]*\).*/\1/p' <<<"$out")
	if [ -n "$level" ] && awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l <= m) }'; then
		pass "systemd-analyze security: exposure $level (at most $MAX_EXPOSURE)"
	else
		fail "systemd-analyze security: exposure ${level:-unknown}, more than $MAX_EXPOSURE"
	fi
else
	fail "systemd-analyze is missing (package systemd: scripts/install-deps.sh)"
fi

finish
