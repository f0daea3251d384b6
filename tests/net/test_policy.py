# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Who gets through and who does not; what is left when cutthru stops."""
import signal
import socket
import time

import pytest

from peers import EchoServer
from topo import CLIENT4, CUTTHRU, SERVER4, SERVER6

PROXY_ARGS = ["--protect", f"{SERVER4}:80", "--protect", f"[{SERVER6}]:80"]


def ifaces(topo):
    return ["-i", topo.if_pc, "-i", topo.if_ps]


def echo_once(topo, addr, port, payload=b"hello"):
    s = topo.connect(addr, port, timeout=3)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := s.recv(100):
        got += chunk
    s.close()
    return got


def connect_fails(topo, addr, port, timeout=1.0):
    try:
        s = topo.connect(addr, port, timeout=timeout)
    except (socket.timeout, ConnectionError):
        return True
    s.close()
    return False


def leftovers(topo):
    """What cutthru may add to the proxy namespace, as text; empty when clean."""
    found = []
    for fam in ("-4", "-6"):
        rules = topo.sh(topo.proxy, "ip", fam, "rule", "show").stdout
        found += [f"rule {fam}: {line}" for line in rules.splitlines() if "4354" in line]
        routes = topo.sh(topo.proxy, "ip", fam, "route", "show", "table", "4354",
                         check=False).stdout
        found += [f"route {fam}: {line}" for line in routes.splitlines()]
    nft = topo.sh(topo.proxy, "nft", "list", "tables").stdout
    found += [f"nft: {line}" for line in nft.splitlines() if "cutthru" in line]
    for dev in (topo.if_pc, topo.if_ps):
        qdiscs = topo.sh(topo.proxy, "tc", "qdisc", "show", "dev", dev).stdout
        found += [f"qdisc {dev}: {line}" for line in qdiscs.splitlines() if "clsact" in line]
    return found


def test_unprotected_port_is_forwarded_untouched(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS)
    server = EchoServer(topo.listen(SERVER4, 8080))
    assert echo_once(topo, SERVER4, 8080) == b"hello"
    server.close()
    assert server.peers[0][0] == CLIENT4
    counts = topo.counters(d)
    assert counts["pass_unprotected"] > 0
    assert counts["steer_syn"] == 0 and counts["steer_flow"] == 0, "cutthru stayed out"
    d.assert_clean_exit()
    assert " conn " not in d.text()


def test_prefix_service_protects_the_whole_subnet_port(topo):
    topo.sh(topo.server, "ip", "addr", "add", "198.19.2.77/24", "dev", f"{topo.tag}s0")
    d = topo.start(*ifaces(topo), "--protect", "198.19.2.0/24:80")
    server = EchoServer(topo.listen("198.19.2.77", 80))
    assert echo_once(topo, "198.19.2.77", 80) == b"hello"
    server.close()
    assert topo.counters(d)["steer_syn"] == 1
    d.assert_clean_exit()


def test_source_not_admitted_gets_nothing_through(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS, "--allow", "198.18.9.0/24",
                   "--allow", "2001:db8:9::/64")
    lsock = topo.listen(SERVER4, 80)
    lsock.settimeout(0.5)
    assert connect_fails(topo, SERVER4, 80)
    with pytest.raises(socket.timeout):
        lsock.accept()
    assert topo.counters(d)["drop_not_admitted"] >= 1
    d.assert_clean_exit()


def test_admitted_source_gets_through(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS, "--allow", "198.18.1.0/24")
    server = EchoServer(topo.listen(SERVER4, 80))
    assert echo_once(topo, SERVER4, 80) == b"hello"
    server.close()
    d.assert_clean_exit()


def test_killed_daemon_fails_closed_and_restart_serves(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS)
    server = EchoServer(topo.listen(SERVER4, 80))
    assert echo_once(topo, SERVER4, 80) == b"hello"
    d.stop(signal.SIGKILL)

    before = len(server.peers)
    assert connect_fails(topo, SERVER4, 80), "protected port must stay closed"
    assert len(server.peers) == before, "the server must see nothing"
    assert topo.counters(d)["drop_no_listener"] >= 1

    d2 = topo.start(*ifaces(topo), *PROXY_ARGS)
    assert echo_once(topo, SERVER4, 80) == b"hello"
    server.close()
    d2.assert_clean_exit()
    assert leftovers(topo) == []


def test_clean_exit_leaves_no_rules_routes_programs(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS)
    assert leftovers(topo) != [], "cutthru installs rules, routes, nft table, clsact"
    d.assert_clean_exit()
    assert leftovers(topo) == []


def test_sigint_stops_cleanly_too(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS)
    assert d.stop(signal.SIGINT) == 0
    assert leftovers(topo) == []


@pytest.mark.parametrize("args,named", [
    (["--protect", "198.19.2.2"], "--protect"),
    (["--protect", "198.19.2.2:0"], "--protect"),
    (["--protect", "2001:db8::2:80"], "--protect"),
    (["--protect", "198.19.2.2:80", "--allow", "198.18.0.0/33"], "--allow"),
    (["--protect", "198.19.2.2:80", "--table", "254"], "--table"),
    (["--protect", "198.19.2.2:80", "--bogus"], "--bogus"),
    (["--protect", "198.19.2.2:80", "stray"], "stray"),
    ([], "--protect"),
])
def test_bad_argument_is_named_and_exits_2(topo, args, named):
    res = topo.cutthru("run", "-i", topo.if_pc, *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], res.stderr


def test_unknown_interface_is_named(topo):
    res = topo.cutthru("run", "-i", "nosuchif0", "--protect", "198.19.2.2:80")
    assert res.returncode == 1
    assert "nosuchif0" in res.stderr
    assert leftovers(topo) == []


def test_without_root_says_so(topo):
    res = topo.sh(topo.proxy, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  CUTTHRU, "run", "-i", topo.if_pc,
                  "--protect", "198.19.2.2:80", check=False)
    assert res.returncode == 1
    assert "needs root" in res.stderr


def test_help_and_version(topo):
    res = topo.cutthru("--help")
    assert res.returncode == 0 and "--protect" in res.stdout
    res = topo.cutthru("--version")
    assert res.returncode == 0 and res.stdout.startswith("cutthru ")


def test_out_of_fds_refuses_new_connections_and_keeps_old_ones(topo):
    d = topo.start(*ifaces(topo), *PROXY_ARGS, wrapper=("prlimit", "--nofile=48:48", "--"))
    server = EchoServer(topo.listen(SERVER4, 80))
    live, refused = [], 0
    for _ in range(40):
        try:
            s = topo.connect(SERVER4, 80, timeout=3)
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise ConnectionResetError
            live.append(s)
        except ConnectionResetError:
            refused += 1
    assert len(live) >= 5, "connections within the limit work"
    assert refused >= 1, "connections beyond it are refused with a reset, not left hanging"
    live[0].sendall(b"still here")
    assert live[0].recv(100) == b"still here", "established ones continue"
    for s in live:
        s.close()
    time.sleep(0.5)
    assert echo_once(topo, SERVER4, 80) == b"hello", "service resumes when fds free up"
    server.close()
    d.assert_clean_exit()
    assert "out of file descriptors" in d.text() or "close=no-resources" in d.text()


def test_filter_rules_routes_removed_by_someone_else_are_restored(topo):
    """Never a silent bypass: what cutthru installed and someone removes is
    put back within seconds, and said in the log."""
    d = topo.start(*ifaces(topo), *PROXY_ARGS)
    before = sorted(leftovers(topo))
    topo.sh(topo.proxy, "tc", "qdisc", "del", "dev", topo.if_pc, "clsact")
    topo.sh(topo.proxy, "ip", "-4", "rule", "del", "pref", "4354")
    topo.sh(topo.proxy, "ip", "-6", "route", "flush", "table", "4354")
    topo.sh(topo.proxy, "nft", "delete", "table", "inet", "cutthru")
    deadline = time.time() + 5
    while time.time() < deadline and sorted(leftovers(topo)) != before:
        time.sleep(0.2)
    assert sorted(leftovers(topo)) == before, "everything is back"
    text = d.text()
    assert "TC filter was removed from 1 interface(s) by someone else: restored" in text
    assert "rules, routes or nftables table were removed by someone else: restored" in text
    server = EchoServer(topo.listen(SERVER4, 80))
    syn_before = topo.counters(d)["steer_syn"]
    assert echo_once(topo, SERVER4, 80) == b"hello"
    assert topo.counters(d)["steer_syn"] == syn_before + 1, "and intercepting again"
    server.close()
    d.assert_clean_exit()
    assert leftovers(topo) == []
