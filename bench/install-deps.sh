#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Installs the Debian packages the benchmark needs, if missing. The haproxy
# and nginx system services are kept from starting on install (policy-rc.d)
# and stopped/disabled if they are running anyway: the bench runs its own
# foreground instances in network namespaces.
set -eu

PACKAGES="iperf3 haproxy nginx libnginx-mod-stream gnuplot-nox nftables gcc netsniff-ng ethtool
python3 iproute2 iputils-ping"

INSTALL="$(dirname "$0")/../scripts/install-deps.sh"
# shellcheck disable=SC2086
"$INSTALL" --check $PACKAGES && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "bench/install-deps: packages missing (run as root to install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# No service may start during the install. Keep an existing policy-rc.d.
POLICY=/usr/sbin/policy-rc.d
saved=""
if [ -e "$POLICY" ]; then
	saved=$(mktemp)
	cp -p "$POLICY" "$saved"
fi
restore() {
	if [ -n "$saved" ]; then
		mv -f "$saved" "$POLICY"
	else
		rm -f "$POLICY"
	fi
}
trap restore EXIT INT TERM
printf '#!/bin/sh\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

# iperf3 asks (debconf) whether to run as a daemon: no.
echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections 2>/dev/null || true

# shellcheck disable=SC2086
"$INSTALL" $PACKAGES

# Whatever policy-rc.d did not cover: leave no system service running.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	for s in haproxy nginx iperf3; do
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	done
else
	for s in haproxy nginx iperf3; do
		[ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" stop >/dev/null 2>&1 || true
	done
fi
exit 0
