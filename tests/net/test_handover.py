# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Zero-downtime restart: a second `cutthru run` of the instance takes over
the listeners and every live connection while traffic flows."""
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from peers import EchoServer, Thread, pattern_chunks
from topo import CLIENT4, SERVER4, SERVER6, topology

LONG_CONNS = 4
LONG_BYTES = 8 << 20  # each way, per connection: 64 MiB in all
CHUNK = 64 << 10
PAUSE_S = 0.025  # a slow-ish sender: about 3 s per stream
SHORT_MAX = 400
SHORT_SECONDS = 5.0
HO_MAGIC, HO_VERSION, HO_GO = 0x43544F48, 1, 2


@pytest.fixture
def topo(tmp_path):
    yield from topology(tmp_path)


def slow_send(sock, seed, total):
    digest = hashlib.sha256()
    for chunk in pattern_chunks(seed, total):
        digest.update(chunk)
        for off in range(0, len(chunk), CHUNK):
            sock.sendall(chunk[off:off + CHUNK])
            time.sleep(PAUSE_S)
    sock.shutdown(socket.SHUT_WR)
    return digest.hexdigest()


def recv_digest(sock):
    digest, count = hashlib.sha256(), 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return count, digest.hexdigest()
        digest.update(data)
        count += len(data)


class StreamServer:
    """Each connection: sends LONG_BYTES (seeded by the client's port) while
    reading what the client sends; keeps (bytes, sha256) received."""

    def __init__(self, lsock):
        self.lsock, self.got, self.sent, self.errors = lsock, {}, {}, []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, peer = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn, peer[1]), daemon=True).start()

    def one(self, conn, port):
        conn.settimeout(60)
        sender = Thread(slow_send, conn, 1000 + port, LONG_BYTES)
        sender.start()
        try:
            self.got[port] = recv_digest(conn)
            self.sent[port] = sender.get(60)
        except OSError as e:
            self.errors.append(f"server side of port {port}: {e!r}")
        conn.close()


def long_client(topo, addr, seed_box):
    sock = topo.connect(addr, 80, timeout=60)
    port = sock.getsockname()[1]
    sender = Thread(slow_send, sock, port, LONG_BYTES)
    sender.start()
    got = recv_digest(sock)
    sent = sender.get(60)
    sock.close()
    seed_box.append(port)
    return port, sent, got


def short_loop(topo, addr, stop):
    ok, failed = 0, []
    deadline = time.monotonic() + SHORT_SECONDS
    while not stop.is_set() and ok + len(failed) < SHORT_MAX and time.monotonic() < deadline:
        try:
            s = topo.connect(addr, 81, timeout=5)
            s.sendall(b"x" * 100)
            data = b""
            while len(data) < 100:
                more = s.recv(100 - len(data))
                if not more:
                    break
                data += more
            s.close()
            if data != b"x" * 100:
                raise AssertionError(f"echo gave {len(data)} bytes")
            ok += 1
        except (OSError, AssertionError) as e:
            failed.append(repr(e))
        time.sleep(0.005)
    return ok, failed


def expected_digest(seed):
    digest = hashlib.sha256()
    for chunk in pattern_chunks(seed, LONG_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("path", ["copy", "splice", "sockmap"])
def test_takeover_under_traffic(topo, path, family):
    server = SERVER4 if family == "ipv4" else SERVER6
    svc = server if family == "ipv4" else f"[{server}]"
    long_srv = StreamServer(topo.listen(server, 80))
    echo = EchoServer(topo.listen(server, 81))
    args = ["-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{svc}:80", "--protect",
            f"{svc}:81", "--data-path", path]
    old = topo.start(*args)
    maps = ("quads", "cut_socks") if path == "sockmap" else ("quads",)
    baseline = topo.held(old, maps)
    before = topo.counters(old)

    ports = []
    longs = [Thread(long_client, topo, server, ports) for _ in range(LONG_CONNS)]
    for t in longs:
        t.start()
    stop = threading.Event()
    shorts = Thread(short_loop, topo, server, stop)
    shorts.start()
    time.sleep(1.0)

    t0 = time.monotonic()
    new = topo.start(*args)
    ready_s = time.monotonic() - t0
    assert old.proc.wait(15) == 0, old.text()
    old_text = old.text()
    assert "handed the listeners and" in old_text, old_text
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
        assert bad not in old_text, old_text
    conns = topo.ctl(new, "conns").stdout
    live = [line for line in conns.splitlines()[1:] if ":80 " in line]
    assert len(live) >= LONG_CONNS - 1, conns

    results = [t.get(90) for t in longs]
    ok, failed = shorts.get(30)
    stop.set()
    for port, sent, (count, got) in results:
        assert count == LONG_BYTES and got == expected_digest(1000 + port), \
            f"port {port}: client got {count} bytes"
        deadline = time.monotonic() + 10
        while port not in long_srv.got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert port in long_srv.got, f"port {port}: server never saw the end: {long_srv.errors}"
        srv_count, srv_got = long_srv.got[port]
        assert srv_count == LONG_BYTES and srv_got == sent, f"port {port}: server got {srv_count}"
    assert not long_srv.errors, long_srv.errors
    assert not failed, f"{len(failed)} short connections failed: {failed[:5]}"
    assert ok >= 20, f"only {ok} short connections in {SHORT_SECONDS}s"

    after = topo.counters(new)
    assert after.get("drop_no_listener", 0) == before.get("drop_no_listener", 0), after
    assert topo.wait_held(new, baseline, timeout=15) == baseline
    took = [line for line in new.text().splitlines() if "took over" in line]
    took += [line for line in old_text.splitlines() if "handed the listeners" in line]
    print(f"{path}/{family}: new daemon ready {ready_s:.2f}s after start; {took}; "
          f"{ok} short connections, {LONG_CONNS} x {LONG_BYTES >> 20} MiB each way verified")
    new.assert_clean_exit()
    echo.close()
    long_srv.lsock.close()


def echo_once(topo, sock=None):
    s = sock or topo.connect(SERVER4, 81, timeout=5)
    s.sendall(b"ping")
    assert s.recv(16) == b"ping"
    return s


def test_incompatible_takeover_is_refused(topo):
    echo = EchoServer(topo.listen(SERVER4, 81))
    old = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:81")
    live = echo_once(topo)
    out = topo.cutthru("run", "-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:81",
                       "--table", "4355", "--instance", old.instance)
    assert out.returncode == 1 and "mark, table or rule-priority differ" in out.stderr, \
        out.stderr
    assert old.proc.poll() is None
    echo_once(topo, live)
    echo_once(topo).close()
    live.close()
    old.assert_clean_exit()
    echo.close()


def control_connect(instance):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(f"/run/cutthru/{instance}.sock")
    return s


def read_message(s):
    """One handover message: (type, payload); fds that came are closed."""
    msg, anc, _, _ = s.recvmsg(16, socket.CMSG_SPACE(256 * 4), socket.MSG_WAITALL)
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for fd in struct.unpack(f"{len(data) // 4}i", data[:len(data) - len(data) % 4]):
                os.close(fd)
    magic, version, kind, length, _ = struct.unpack("=IHHII", msg)
    assert magic == HO_MAGIC and version == HO_VERSION
    body = b""
    while len(body) < length:
        body += s.recv(length - len(body))
    return kind, body


def test_broken_takeover_leaves_old_daemon_serving(topo):
    echo = EchoServer(topo.listen(SERVER4, 81))
    old = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:81",
                     "--data-path", "copy")
    live = echo_once(topo)

    wrong = control_connect(old.instance)
    wrong.sendall(b"takeover 99\n")
    answer = wrong.recv(4096).decode()
    assert answer.startswith("error: takeover protocol version 99 is not spoken"), answer
    wrong.close()

    # A new daemon that says GO, takes the listeners and one connection,
    # then dies before committing.
    peer = control_connect(old.instance)
    peer.sendall(b"takeover 1\n")
    assert read_message(peer)[0] == 1  # HELLO
    peer.sendall(struct.pack("=IHHII", HO_MAGIC, HO_VERSION, HO_GO, 4, 0) + struct.pack("I", 4242))
    kinds = [read_message(peer)[0]]
    while kinds[-1] != 6:  # END_BATCH
        kinds.append(read_message(peer)[0])
    assert kinds[0] == 4 and 5 in kinds, kinds  # LISTENERS, CONNS
    peer.close()

    deadline = time.monotonic() + 5
    while "takeover by pid 4242 failed" not in old.text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "takeover by pid 4242 failed" in old.text() and "still serving everything" in \
        old.text(), old.text()
    assert old.proc.poll() is None
    echo_once(topo, live)
    for _ in range(5):
        echo_once(topo).close()
    assert topo.ctl(old, "status").returncode == 0
    live.close()
    old.assert_clean_exit()
    echo.close()
