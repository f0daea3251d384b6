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

# libclang-rt-14-dev: libclang_rt.fuzzer for clang -fsanitize=fuzzer (tests/fuzz).
PACKAGES="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
libmnl-dev libnftables-dev nftables iproute2 libcmocka-dev clang-format
python3 python3-pytest python3-scapy conntrack iputils-ping util-linux
libclang-rt-14-dev"
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
