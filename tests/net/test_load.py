# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Many connections at once, and connections as fast as one client can open
them, reusing ports; with and without a conntrack firewall on the proxy."""
import selectors
import socket
import time

import pytest

from peers import EchoServer
from topo import CLIENT4, SERVER4, SERVER6

FIREWALL = """
table inet fw {
  chain input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    ct state invalid drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    ct state invalid drop
  }
  chain output {
    type filter hook output priority filter; policy accept;
    ct state invalid drop
  }
}
"""


def start_proxy(topo):
    return topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                      "--protect", f"[{SERVER6}]:80", "-q")


def test_500_concurrent_connections(topo):
    d = start_proxy(topo)
    server = EchoServer(topo.listen(SERVER4, 80))
    socks = [topo.connect(SERVER4, 80, timeout=10) for _ in range(500)]
    for i, s in enumerate(socks):
        s.sendall(b"%08d" % i)
    sel = selectors.DefaultSelector()
    got = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    deadline = time.time() + 30
    while len(got) < 500 and time.time() < deadline:
        for key, _ in sel.select(1):
            got[key.data] = got.get(key.data, b"") + key.fileobj.recv(100)
            if len(got[key.data]) == 8:
                sel.unregister(key.fileobj)
    assert len(got) == 500
    assert all(got[i] == b"%08d" % i for i in range(500)), "each echo on its own connection"
    assert len(server.peers) == 500
    for s in socks:
        s.close()
    server.close()
    d.assert_clean_exit()


def short_connections(topo, seconds, ports):
    """Open, exchange, close as fast as possible for `seconds`, cycling over
    `ports` as client ports so each is reused many times. The server closes
    first, so the client may reuse its port at once."""
    done = failed = 0
    errors = {}
    deadline = time.time() + seconds
    i = 0
    while time.time() < deadline and done + failed < 200000:
        port = ports[i % len(ports)]
        i += 1
        try:
            s = topo.connect(SERVER4, 80, timeout=2, bind_port=port)
            s.sendall(b"q")
            assert s.recv(10) == b"a"
            assert s.recv(10) == b""  # the server's FIN
            s.close()
            done += 1
        except (OSError, AssertionError) as e:
            failed += 1
            errors[repr(e)] = errors.get(repr(e), 0) + 1
    return done, failed, errors


class AnswerAndClose(EchoServer):
    @staticmethod
    def echo(conn):
        conn.settimeout(5)
        try:
            if conn.recv(10):
                conn.sendall(b"a")
        except OSError:
            pass
        conn.close()


@pytest.mark.parametrize("firewall", [False, True], ids=["plain", "conntrack-firewall"])
def test_10s_of_short_connections_reusing_ports_none_fail(topo, firewall):
    if firewall:
        path = f"{topo.tmp}/fw.nft"
        with open(path, "w") as f:
            f.write(FIREWALL)
        topo.sh(topo.proxy, "nft", "-f", path)
    d = start_proxy(topo)
    server = AnswerAndClose(topo.listen(SERVER4, 80))
    done, failed, errors = short_connections(topo, 10, list(range(41000, 41200)))
    server.close()
    assert failed == 0, f"{failed} of {done + failed} failed: {errors}"
    assert done > 200 * 2, f"only {done} connections: no port was reused"
    assert all(p[0] == CLIENT4 for p in server.peers)
    d.assert_clean_exit()
    print(f"{done} connections in 10 s, 0 failed")
