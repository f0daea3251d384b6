#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Installs the Debian packages cutthru builds and tests with, if missing;
# or, given package names, those. With --check it only says (exit 1) whether
# any is missing.
set -eu

check_only=
if [ "${1:-}" = --check ]; then
	check_only=1
	shift
fi

# libclang-rt-14-dev holds libFuzzer (clang -fsanitize=fuzzer, tests/fuzz); clang-14
# only recommends it, and recommends are not installed here.
PACKAGES="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
libmnl-dev libnftables-dev nftables iproute2 libcmocka-dev clang-format libclang-rt-14-dev
libcrypt-dev libpam0g-dev libconfig-dev libmicrohttpd-dev libcap-ng-dev libsystemd-dev
python3 python3-pytest python3-scapy conntrack iputils-ping util-linux
curl openssl apache2-utils libpam-modules
man-db groff-base bsdextrautils systemd"
[ $# -gt 0 ] && PACKAGES="$*"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
[ -n "$check_only" ] && exit 1

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
