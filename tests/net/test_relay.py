# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What crosses cutthru arrives as if it were not there: addresses, bytes,
half-closes and resets, on both legs, IPv4 and IPv6."""
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from peers import Thread, recv_all, reset_close, send_pattern
from topo import CLIENT4, CLIENT6, SERVER4, SERVER6, run

FAMILIES = [pytest.param((SERVER4, CLIENT4), id="ipv4"), pytest.param((SERVER6, CLIENT6), id="ipv6")]
DATA_PATHS = ["copy", "splice", "sockmap"]


@pytest.fixture(params=DATA_PATHS)
def path(request):
    """Every test here runs on every data path."""
    return request.param


@pytest.fixture
def start_proxy(topo, path):
    def start(*extra):
        d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                       "--protect", f"[{SERVER6}]:80", "--connect-timeout", "1500",
                       "--data-path", path, *extra)
        assert f"data path {path}," in d.text(), f"not running on {path}:\n{d.text()}"
        return d
    return start


def recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"end of stream after {data!r}"
        data += chunk
    return data


def accept(lsock, timeout=5):
    lsock.settimeout(timeout)
    conn, peer = lsock.accept()
    conn.settimeout(30)
    return conn, peer


@pytest.mark.parametrize("addrs", FAMILIES)
def test_server_sees_client_and_client_sees_server(topo, start_proxy, addrs):
    server, client = addrs
    d = start_proxy()
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, peer = accept(lsock)

    assert peer[0] == client, "the server must see the client's own address"
    assert peer[1] == csock.getsockname()[1], "and the client's own port (spoofed)"
    assert conn.getsockname()[:2] == (server, 80)
    assert csock.getpeername()[:2] == (server, 80)
    csock.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    conn.sendall(b"pong")
    assert csock.recv(4) == b"pong"
    csock.close()
    conn.close()
    assert topo.counters(d)["steer_syn"] >= 1, "the SYN went through the listener"
    d.assert_clean_exit()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_no_spoof_port_keeps_address_not_port(topo, start_proxy, addrs):
    server, client = addrs
    d = start_proxy("--no-spoof-port")
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, peer = accept(lsock)
    assert peer[0] == client
    csock.sendall(b"x" * 1000)
    assert len(conn.recv(1000)) > 0
    conn.close()
    csock.close()
    d.assert_clean_exit()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_256mib_each_way_at_once_arrive_intact(topo, start_proxy, addrs, path):
    # On sockmap this holds directions (flow control), whose retransmissions
    # overlapped bytes received already and were passed on twice until the
    # verdict skipped them (test_cut.py crafts one).
    server, _ = addrs
    size = 256 << 20
    d = start_proxy()
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80, timeout=60)
    conn, _ = accept(lsock)
    conn.settimeout(60)

    def send_then_shut(sock, seed):
        digest = send_pattern(sock, seed, size)
        sock.shutdown(socket.SHUT_WR)
        return digest

    up = Thread(send_then_shut, csock, 1)
    down = Thread(send_then_shut, conn, 2)
    got_server = Thread(recv_all, conn)
    got_client = Thread(recv_all, csock)
    for t in (up, down, got_server, got_client):
        t.start()
    sent_up, sent_down = up.get(120), down.get(120)
    n_srv, h_srv, e_srv = got_server.get(120)
    n_cli, h_cli, e_cli = got_client.get(120)

    assert (e_srv, e_cli) == (None, None)
    assert (n_srv, h_srv) == (size, sent_up), "client -> server bytes differ"
    assert (n_cli, h_cli) == (size, sent_down), "server -> client bytes differ"
    csock.close()
    conn.close()
    d.assert_clean_exit()
    assert "bytes_to_server=268435456 bytes_to_client=268435456" in d.text()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_client_half_close_reaches_server_and_reply_still_flows(topo, start_proxy, addrs):
    server, _ = addrs
    d = start_proxy()
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, _ = accept(lsock)

    csock.sendall(b"request")
    csock.shutdown(socket.SHUT_WR)
    n, _, err = recv_all(conn)
    assert (n, err) == (7, None), "server reads the request, then EOF"
    conn.sendall(b"a reply after the client's FIN")
    conn.close()
    data = b""
    while chunk := csock.recv(100):
        data += chunk
    assert data == b"a reply after the client's FIN"
    csock.close()
    d.assert_clean_exit()
    assert "close=done" in d.text()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_server_half_close_reaches_client_and_upload_still_flows(topo, start_proxy, addrs):
    server, _ = addrs
    d = start_proxy()
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, _ = accept(lsock)

    conn.sendall(b"banner")
    conn.shutdown(socket.SHUT_WR)
    n, _, err = recv_all(csock)
    assert (n, err) == (6, None), "client reads the banner, then EOF"
    csock.sendall(b"u" * 100000)
    csock.close()
    n, _, err = recv_all(conn)
    assert (n, err) == (100000, None)
    conn.close()
    d.assert_clean_exit()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_server_reset_reaches_client(topo, start_proxy, addrs):
    server, _ = addrs
    d = start_proxy()
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, _ = accept(lsock)
    csock.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    reset_close(conn)
    with pytest.raises(ConnectionResetError):
        csock.recv(10)
    d.assert_clean_exit()
    assert "close=server-reset" in d.text()


# The server of the fault-injection test: its own process, so that it can
# die by SIGKILL while it reads and sends without end. The kernel then closes
# its socket with a reset if upload bytes were queued unread, else with a FIN
# and a reset to the next upload segment: either way the client must hear
# the reset.
DYING_SERVER = r"""
import socket, sys, threading, time
addr = sys.argv[1]
lsock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind((addr, 80))
lsock.listen(1)
print("listening", flush=True)
lsock.settimeout(10)
conn, _ = lsock.accept()
print("accepted", flush=True)
conn.settimeout(10)
end = time.monotonic() + 30

def drain():
    while time.monotonic() < end and conn.recv(65536):
        pass

threading.Thread(target=drain, daemon=True).start()
block = b"d" * 65536
while time.monotonic() < end:
    conn.sendall(block)
"""


def expect_line(proc, want, timeout=10):
    """Waits for the line want (bytes) on proc's unbuffered stdout."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0 and select.select([proc.stdout], [], [], left)[0], \
            f"no {want!r} from the server within {timeout}s (got {line!r})"
        byte = proc.stdout.read(1)
        assert byte, f"the server exited {proc.wait()} before {want!r}"
        line += byte
    assert line.strip() == want, f"server said {line!r}, expected {want!r}"


def pump(csock, progress):
    """Uploads and downloads at once until the connection fails; returns
    the upload's and the download's ending (an exception, or "eof")."""
    def upload():
        for _ in range(200000):  # bounded: ~13 GB, far beyond the test
            csock.sendall(b"u" * 65536)
            progress["up"] += 65536
        return "bounded"

    def download():
        for _ in range(500000):
            data = csock.recv(65536)
            if not data:
                return "eof"
            progress["down"] += len(data)
        return "bounded"

    def ending(fn):
        try:
            return fn()
        except OSError as e:
            return e

    return Thread(ending, upload), Thread(ending, download)


def test_server_killed_mid_transfer_resets_client_and_nothing_leaks(topo, start_proxy, path):
    """Fault injection: the server process dies by SIGKILL while bytes flow
    both ways. The client hears a reset, promptly, and the daemon gives back
    every socket, quad and sockhash entry of the connection. IPv4 only, to
    keep it short (IPv6 resets: test_server_reset_reaches_client)."""
    server = SERVER4
    d = start_proxy()
    maps = ("quads", "cut_socks", "cut_peers") if path == "sockmap" else ("quads",)
    baseline = topo.held(d, maps)
    proc = subprocess.Popen(["ip", "netns", "exec", topo.server, sys.executable, "-c",
                             DYING_SERVER, server], stdout=subprocess.PIPE, bufsize=0)
    topo.procs.append(proc)  # killed at teardown if the test fails first
    expect_line(proc, b"listening")
    csock = topo.connect(server, 80, timeout=10)
    expect_line(proc, b"accepted")
    progress = {"up": 0, "down": 0}
    up, down = pump(csock, progress)
    up.start()
    down.start()
    deadline = time.monotonic() + 10
    while progress["down"] < (8 << 20) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert progress["down"] >= 8 << 20 and progress["up"] >= 1 << 20, \
        f"no bulk transfer both ways: {progress}"
    assert topo.held(d, maps)["sockets"] == baseline["sockets"] + 2, "both legs are open"

    os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    proc.wait(5)
    endings = (up.get(5), down.get(5))
    heard_after = time.monotonic() - killed_at
    # Two threads share the socket: the first to look takes ECONNRESET, the
    # other then sees EPIPE or end of stream. When the dying server's kernel
    # sent a FIN before its reset (it had nothing unread yet), the client is
    # in CLOSE_WAIT when the reset arrives, and Linux reports that reset as
    # EPIPE (tcp_reset()): the download saw the FIN, the upload the reset.
    reset = any(isinstance(e, ConnectionResetError) for e in endings) or \
        (endings[1] == "eof" and isinstance(endings[0], BrokenPipeError))
    assert reset, f"the client saw no reset: upload {endings[0]!r}, download {endings[1]!r}"
    assert heard_after < 2, f"the client heard of it {heard_after:.2f}s after the kill"
    csock.close()

    assert topo.wait_held(d, baseline, timeout=5) == baseline, "the connection left something"
    d.assert_clean_exit()
    assert "close=server-reset" in d.text()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_client_reset_reaches_server(topo, start_proxy, addrs):
    server, _ = addrs
    d = start_proxy()
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, _ = accept(lsock)
    csock.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    reset_close(csock)
    conn.settimeout(5)
    with pytest.raises(ConnectionResetError):
        conn.recv(10)
    d.assert_clean_exit()
    assert "close=client-reset" in d.text()


def drop_resets(topo, ns, peer):
    """Every RST from peer into namespace ns is lost until the table goes."""
    family = "ip6" if ":" in peer else "ip"
    topo.sh(ns, "nft", f"add table inet lost {{ chain in {{ type filter hook input priority 0; "
            f"{family} saddr {peer} tcp flags & rst == rst counter drop; }}; }}")


def resets_lost(topo, ns):
    """Takes the table away; returns how many resets it dropped."""
    rules = topo.sh(ns, "nft", "list", "table", "inet", "lost").stdout
    topo.sh(ns, "nft", "delete", "table", "inet", "lost")
    return int(rules.split("counter packets ")[1].split()[0])


def assert_reset_heard(sock, who):
    """The peer's next segment must earn a fresh reset, as from the real
    other end: without one it would wait for its own timeout."""
    sock.settimeout(5)
    start = time.monotonic()
    with pytest.raises(ConnectionResetError):
        sock.sendall(b"anyone there?")
        sock.recv(10)
    elapsed = time.monotonic() - start
    assert elapsed < 3, f"the {who} heard the reset {elapsed:.2f}s after it spoke again"


@pytest.mark.parametrize("resetter", ["server", "client"])
@pytest.mark.parametrize("addrs", FAMILIES)
def test_lost_reset_is_answered_again(topo, start_proxy, addrs, resetter):
    """One end resets; the daemon's reset of the other leg is lost. That
    peer's next segment finds no socket in the router and must be answered
    with a reset from the address it was sent to, not dropped."""
    server, client = addrs
    d = start_proxy()
    baseline = topo.held(d)
    lsock = topo.listen(server, 80)
    csock = topo.connect(server, 80)
    conn, _ = accept(lsock)
    csock.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    if resetter == "server":
        gone, peer, peer_ns, peer_name, far = conn, csock, topo.client, "client", server
    else:
        gone, peer, peer_ns, peer_name, far = csock, conn, topo.server, "server", client
    drop_resets(topo, peer_ns, far)
    before = topo.counters(d)["steer_no_conn"]
    reset_close(gone)
    assert topo.wait_held(d, baseline, timeout=5) == baseline, "the daemon kept a leg"
    assert resets_lost(topo, peer_ns) >= 1, "the daemon's reset was not the one lost"
    assert_reset_heard(peer, peer_name)
    assert topo.counters(d)["steer_no_conn"] > before
    d.assert_clean_exit()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_syn_cookie_connections_are_proxied(topo, start_proxy, addrs):
    """With SYN cookies (forced here for every SYN: tcp_syncookies=2, as
    under a flood) the listener keeps no request socket, so the client's
    ACK finds no socket in the router: it must reach the listener
    (steer_no_conn), which checks the cookie and makes the connection."""
    server, client = addrs
    topo.sh(topo.proxy, "sysctl", "-qw", "net.ipv4.tcp_syncookies=2")
    d = start_proxy()
    before = topo.counters(d)["steer_no_conn"]
    lsock = topo.listen(server, 80)
    for i in range(3):
        csock = topo.connect(server, 80)
        conn, peer = accept(lsock)
        assert peer[0] == client, f"the server saw {peer[0]}"
        csock.sendall(b"cookie %d" % i)
        assert recv_exact(conn, 8) == b"cookie %d" % i
        conn.sendall(b"ok")
        assert recv_exact(csock, 2) == b"ok"
        csock.close()
        conn.close()
    assert topo.counters(d)["steer_no_conn"] >= before + 3, "the ACKs did not go to the listener"
    d.assert_clean_exit()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_port_reused_while_last_bytes_still_flow(topo, start_proxy, addrs):
    """The server says goodbye first and reads slowly; the client uploads,
    closes (the proxy has acknowledged every byte) and connects again from
    the same port at once. The old server leg still owns that 4-tuple
    while it passes the last bytes on: the new server leg must wait for
    it, not fail (which reset the client: close=connect-failed)."""
    server, client = addrs
    d = start_proxy()
    port = 41000 + secrets.randbelow(2000)
    lsock = topo.listen(server, 80)
    first = topo.connect(server, 80, bind_port=port)
    old, peer = accept(lsock)
    assert peer[1] == port
    old.shutdown(socket.SHUT_WR)
    assert first.recv(1) == b"", "the server's FIN did not arrive"
    upload = os.urandom(192 << 10)
    first.sendall(upload)
    first.close()  # the client is the last to close: no TIME_WAIT of its own
    time.sleep(0.3)

    second = topo.connect(server, 80, bind_port=port)
    second.sendall(b"again")
    time.sleep(0.5)  # the new server leg waits: the server has not read yet
    assert recv_exact(old, len(upload)) == upload, "the first upload changed"
    assert old.recv(1) == b"", "the first connection's FIN did not arrive"
    old.close()
    new, peer = accept(lsock)
    assert peer == (client, port) or peer[:2] == (client, port), f"the server saw {peer}"
    assert recv_exact(new, 5) == b"again"
    new.sendall(b"welcome")
    assert recv_exact(second, 7) == b"welcome"
    second.close()
    new.close()
    stats = json.loads(topo.ctl(d, "stats", "--json").stdout)
    assert stats["daemon"]["port_waits"] == 1, stats["daemon"]
    assert stats["daemon"]["closed"]["connect-failed"] == 0, stats["daemon"]
    d.assert_clean_exit()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_server_refusing_resets_client_within_a_second(topo, start_proxy, addrs):
    server, _ = addrs
    d = start_proxy()
    start = time.monotonic()
    # Nobody listens on the server: the reset may come before connect()
    # returns (the proxy's SYN-ACK and RST arrive together) or after.
    with pytest.raises(ConnectionResetError):
        csock = topo.connect(server, 80)
        csock.recv(10)
    assert time.monotonic() - start < 1.0
    d.assert_clean_exit()
    assert "close=connect-refused" in d.text()


@pytest.mark.parametrize("addrs", FAMILIES)
def test_silent_server_resets_client_at_connect_timeout(topo, start_proxy, addrs):
    server, _ = addrs
    topo.sh(topo.server, "nft", "add table inet blackhole { chain in { type filter hook input "
            "priority 0; tcp dport 80 drop; }; }")
    d = start_proxy()
    start = time.monotonic()
    with pytest.raises(ConnectionResetError):
        csock = topo.connect(server, 80)
        csock.recv(10)
    elapsed = time.monotonic() - start
    assert 1.4 <= elapsed < 3.0, f"reset after {elapsed:.2f}s, connect timeout is 1.5s"
    d.assert_clean_exit()
    assert "close=connect-timeout" in d.text()


def test_connection_survives_losing_its_quad(topo, start_proxy):
    """An LRU eviction of a live connection's quad must not break it:
    steering goes by socket, the quad list only keeps the record."""
    d = start_proxy()
    lsock = topo.listen(SERVER4, 80)
    csock = topo.connect(SERVER4, 80)
    conn, _ = accept(lsock)
    csock.sendall(b"before")
    assert conn.recv(6) == b"before"

    quads = d.map_id("quads")
    entries = json.loads(run("bpftool", "-j", "map", "dump", "id", str(quads)).stdout)
    assert len(entries) == 1, "the live connection is in the quad list"
    for e in entries:
        run("bpftool", "map", "delete", "id", str(quads), "key", "hex",
            *[b[2:] for b in e["key"]])
    assert json.loads(run("bpftool", "-j", "map", "dump", "id", str(quads)).stdout) == []

    csock.sendall(b"after" * 10000)
    got = b""
    while len(got) < 50000:
        got += conn.recv(65536)
    assert got == b"after" * 10000
    conn.sendall(b"and back")
    assert csock.recv(8) == b"and back"
    csock.close()
    conn.close()
    d.assert_clean_exit()
