#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# make demo: a client, a router running cutthru, a server, as namespaces.
# The client talks to the server's address; cutthru terminates the
# connection on the router and opens its own to the server as the client.
set -eu
CUTTHRU=$(realpath "${1:-build/cutthru}")
T=demo$$
C=${T}c P=${T}p S=${T}s
DAEMON=
SERVER=

cleanup() {
	[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
	for ns in $C $P $S; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$TMP"
}
TMP=$(mktemp -d /tmp/cutthru-demo.XXXXXX)
trap cleanup EXIT

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. Topology: client 198.18.1.2 -- (${T}pc) router (${T}ps) -- server 198.19.2.2"
for ns in $C $P $S; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add ${T}c0 netns $C type veth peer name ${T}pc netns $P
ip link add ${T}s0 netns $S type veth peer name ${T}ps netns $P
ip -n $C addr add 198.18.1.2/24 dev ${T}c0
ip -n $P addr add 198.18.1.1/24 dev ${T}pc
ip -n $P addr add 198.19.2.1/24 dev ${T}ps
ip -n $S addr add 198.19.2.2/24 dev ${T}s0
for x in "$C ${T}c0" "$P ${T}pc" "$P ${T}ps" "$S ${T}s0"; do
	set -- $x
	ip -n "$1" link set "$2" up
done
ip -n $C route add default via 198.18.1.1
ip -n $S route add default via 198.19.2.1
ip netns exec $P sysctl -qw net.ipv4.ip_forward=1

say "2. The server listens on 198.19.2.2:80 and tells whom it sees"
ip netns exec $S python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.19.2.2", 80)); s.listen()
c, peer = s.accept()
msg = c.recv(100).decode()
import time; time.sleep(1)  # hold the connection so step 4 can show it
print(f"   server: connection from {peer[0]}:{peer[1]} to {c.getsockname()[0]}:{c.getsockname()[1]}, got {msg!r}", flush=True)
c.sendall(f"hello {peer[0]}:{peer[1]}, this is the server".encode()); c.close()
' >"$TMP/server.txt" 2>&1 &
SERVER=$!

say "3. On the router: cutthru run -i ${T}pc -i ${T}ps --protect 198.19.2.2:80"
ip netns exec $P "$CUTTHRU" run -i ${T}pc -i ${T}ps --protect 198.19.2.2:80 --instance "$T" \
	>"$TMP/cutthru.txt" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do grep -q ready "$TMP/cutthru.txt" && break; sleep 0.1; done
sed 's/^/   /' "$TMP/cutthru.txt"

say "4. The client connects to 198.19.2.2:80"
ip netns exec $C python3 -c '
import socket
s = socket.create_connection(("198.19.2.2", 80), timeout=5)
me, peer = s.getsockname(), s.getpeername()
print(f"   client: connected from {me[0]}:{me[1]} to {peer[0]}:{peer[1]}", flush=True)
s.sendall(b"hi from the client")
print(f"   client: got {s.recv(200).decode()!r}")
' >"$TMP/client.txt" 2>&1 &
CLIENT=$!
for _ in $(seq 50); do
	[ "$(ip netns exec $P ss -Htn state established | wc -l)" -ge 2 ] && break
	sleep 0.05
done
echo "   meanwhile, the router's own TCP sockets (ss -tn): both legs of the connection"
ip netns exec $P ss -tn | sed 's/^/     /'
wait $CLIENT || true
cat "$TMP/client.txt"
wait "$SERVER" || true
SERVER=
cat "$TMP/server.txt"

say "5. What the router did"
kill "$DAEMON"
wait "$DAEMON" || true
DAEMON=
grep -E "conn=|stopping" "$TMP/cutthru.txt" | sed "s/^/   /"
echo "   The client talked to the server's address, cutthru terminated that"
echo "   connection on the router, and the server saw the client's own address"
echo "   and port: neither side could tell a proxy was there."
