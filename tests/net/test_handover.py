# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Zero-downtime restart: a second `cutthru run` of the instance takes over
the listeners and every live connection while traffic flows."""
import base64
import hashlib
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback

import pytest

from auth_peers import HttpServer, htpasswd_bcrypt
from peers import Acceptor, EchoServer, Thread, pattern_chunks
from topo import CLIENT4, SERVER4, SERVER6, topology

LONG_CONNS = 4
LONG_BYTES = 8 << 20  # each way, per connection: 64 MiB in all
CHUNK = 64 << 10
PAUSE_S = 0.025  # a slow-ish sender: about 3 s per stream
GATE_S = 30  # the longest a stream's last piece waits for the takeover
SHORT_MAX = 400
SHORT_SECONDS = 5.0
HO_MAGIC, HO_GO = 0x43544F48, 2


def handover_version():
    """HANDOVER_VERSION as the daemon under test was built with it."""
    header = os.path.join(os.path.dirname(__file__), "..", "..", "user", "handover.h")
    with open(header) as f:
        for line in f:
            if line.startswith("#define HANDOVER_VERSION "):
                return int(line.split()[2])
    raise AssertionError("no HANDOVER_VERSION in user/handover.h")


HO_VERSION = handover_version()


@pytest.fixture
def topo(tmp_path):
    yield from topology(tmp_path)


def slow_send(sock, seed, total, gate=None):
    """Sends total bytes slowly; the last piece only once gate is set (at
    most GATE_S later), so that the stream is open through a takeover
    however long that takes on a loaded machine."""
    digest, sent = hashlib.sha256(), 0
    for chunk in pattern_chunks(seed, total):
        digest.update(chunk)
        for off in range(0, len(chunk), CHUNK):
            piece = chunk[off:off + CHUNK]
            if gate is not None and sent + len(piece) >= total:
                gate.wait(GATE_S)
            sock.sendall(piece)
            sent += len(piece)
            time.sleep(PAUSE_S)
    sock.shutdown(socket.SHUT_WR)
    return digest.hexdigest()


def recv_digest(sock, progress=None, key=None):
    """Reads to EOF: (bytes, sha256); progress[key] follows the count."""
    digest, count = hashlib.sha256(), 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return count, digest.hexdigest()
        digest.update(data)
        count += len(data)
        if progress is not None:
            progress[key] = count


class StreamServer(Acceptor):
    """Each connection: sends LONG_BYTES (seeded by the client's port) while
    reading what the client sends; keeps (bytes, sha256) received."""

    def __init__(self, lsock, gate=None):
        self.got, self.sent, self.errors = {}, {}, []
        self.gate, self.reading, self.accepted, self.threads = gate, {}, [], {}
        super().__init__(lsock)

    def handle(self, conn, peer):
        self.accepted.append(peer[1])
        t = threading.Thread(target=self.one, args=(conn, peer[1]), daemon=True)
        self.threads[peer[1]] = t
        t.start()

    def stack(self, port):
        """Where the thread serving port is (for a failure's message)."""
        t = self.threads.get(port)
        frame = sys._current_frames().get(t.ident) if t and t.ident else None
        return "".join(traceback.format_stack(frame)[-3:]) if frame else "not running"

    def one(self, conn, port):
        conn.settimeout(60)
        sender = Thread(slow_send, conn, 1000 + port, LONG_BYTES, self.gate)
        sender.start()
        try:
            self.got[port] = recv_digest(conn, self.reading, port)
            self.sent[port] = sender.get(60)
        except OSError as e:
            self.errors.append(f"server side of port {port}: {e!r}")
        conn.close()


def long_client(topo, addr, seed_box, gate=None):
    sock = topo.connect(addr, 80, timeout=60)
    port = sock.getsockname()[1]
    sender = Thread(slow_send, sock, port, LONG_BYTES, gate)
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
    gate = threading.Event()  # set once the takeover is done
    long_srv = StreamServer(topo.listen(server, 80), gate)
    echo = EchoServer(topo.listen(server, 81))
    args = ["-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{svc}:80", "--protect",
            f"{svc}:81", "--data-path", path]
    old = topo.start(*args)
    maps = ("quads", "cut_socks") if path == "sockmap" else ("quads",)
    baseline = topo.held(old, maps)
    before = topo.counters(old)

    ports = []
    longs = [Thread(long_client, topo, server, ports, gate) for _ in range(LONG_CONNS)]
    for t in longs:
        t.start()
    stop = threading.Event()
    shorts = Thread(short_loop, topo, server, stop)
    shorts.start()
    time.sleep(1.0)

    t0 = time.monotonic()
    try:
        new = topo.start(*args)
        ready_s = time.monotonic() - t0
        old_rc = old.proc.wait(15)
        conns = topo.ctl(new, "conns").stdout
    finally:
        gate.set()
    assert old_rc == 0, old.text()
    old_text = old.text()
    assert "handed the listeners and" in old_text, old_text
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
        assert bad not in old_text, old_text
    live = [line for line in conns.splitlines()[1:] if ":80 " in line]
    assert len(live) == LONG_CONNS, conns

    results = [t.get(90) for t in longs]
    ok, failed = shorts.get(30)
    stop.set()
    for port, sent, (count, got) in results:
        assert count == LONG_BYTES and got == expected_digest(1000 + port), \
            f"port {port}: client got {count} bytes"
        deadline = time.monotonic() + 10
        while port not in long_srv.got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert port in long_srv.got, (
            f"port {port}: server never saw the end: read {long_srv.reading.get(port)} of "
            f"{LONG_BYTES} bytes; accepted {long_srv.accepted.count(port)} time(s) of "
            f"{long_srv.accepted}; errors {long_srv.errors}; its thread: "
            f"{long_srv.stack(port)}; server sockets: "
            f"{topo.sh(topo.server, 'ss', '-tani', check=False).stdout}; daemon: "
            f"{[ln for ln in new.text().splitlines() if f':{port} ' in ln]}")
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
    long_srv.close()


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
    peer.sendall(b"takeover %d\n" % HO_VERSION)
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


def wait_text(daemon, needle, timeout=15):
    deadline = time.monotonic() + timeout
    while needle not in daemon.text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert needle in daemon.text(), f"no '{needle}' after {timeout}s:\n{daemon.text()}"


def read_http(s):
    """One HTTP response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(4096)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = [int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
              if ln.lower().startswith(b"content-length:")]
    while length and len(body) < length[0]:
        more = s.recv(4096)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


def test_login_in_progress_at_takeover_is_finished_and_served(topo):
    """A client half-way through its request head when the takeover starts
    completes it afterwards: the old daemon checks the password and sends
    the connection on; the new one connects it to the server."""
    users = os.path.join(topo.tmp, "users")
    with open(users, "w") as f:
        f.write(htpasswd_bcrypt("alice", "wonder land") + "\n")
    web = HttpServer(topo.listen(SERVER4, 80))
    args = ["-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80", "--auth",
            f"http-basic:{users}"]
    old = topo.start(*args)
    s = topo.connect(SERVER4, 80, timeout=10)
    s.sendall(b"GET /half HTTP/1.1\r\nHost: svc\r\n")
    deadline = time.monotonic() + 5
    while "inspecting" not in topo.ctl(old, "conns").stdout and time.monotonic() < deadline:
        time.sleep(0.05)

    new = topo.start(*args)
    wait_text(old, "finishing the inspection of 1 connection(s)")
    assert old.proc.poll() is None, "the old daemon left before finishing the login"
    cred = base64.b64encode(b"alice:wonder land").decode()
    s.sendall(f"Authorization: Basic {cred}\r\n\r\n".encode())
    answer = read_http(s)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert len(web.requests) == 1, web.requests
    assert web.requests[0]["path"] == "/half"
    assert web.requests[0]["peer"][0] == CLIENT4, "the server did not see the client's address"
    assert old.proc.wait(35) == 0, old.text()
    assert "more follow as the old daemon finishes inspecting them" in new.text(), new.text()
    s.sendall(b"GET /again HTTP/1.1\r\nHost: svc\r\n\r\n")  # cut through, on the new daemon
    assert read_http(s).startswith(b"HTTP/1.1 200")
    assert web.requests[-1]["path"] == "/again"
    s.close()
    new.assert_clean_exit()
    web.close()


class SelectEcho:
    """One thread echoing any number of connections (epoll)."""

    def __init__(self, lsock):
        self.lsock, self.sel, self.accepted = lsock, selectors.DefaultSelector(), 0
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            for key, _ in self.sel.select(0.2):
                if key.fileobj is self.lsock:
                    self.accept()
                else:
                    self.echo(key.fileobj)

    def accept(self):
        try:
            while True:
                conn, _ = self.lsock.accept()
                conn.setblocking(True)
                conn.settimeout(5)
                self.sel.register(conn, selectors.EVENT_READ)
                self.accepted += 1
        except BlockingIOError:
            return

    def echo(self, conn):
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if data:
            conn.sendall(data)
            return
        self.sel.unregister(conn)
        conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


IDLE_CONNS = 1500


def open_idle(topo, n):
    socks = []
    for i in range(n):
        s = topo.connect(SERVER4, 81, timeout=10)
        socks.append(s)
    return socks


@pytest.mark.parametrize("path", ["splice", "sockmap"])
def test_takeover_of_many_idle_connections(topo, path):
    """1 500 open, idle connections and 4 busy ones: every one survives the
    takeover (each echoes a byte afterwards), and the quads go back to the
    baseline once they are closed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * IDLE_CONNS + 200  # the client and server ends live in this process
    assert hard >= need, f"RLIMIT_NOFILE hard limit {hard} < {need}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    gate = threading.Event()
    long_srv = StreamServer(topo.listen(SERVER4, 80), gate)
    echo = SelectEcho(topo.listen(SERVER4, 81, backlog=4096))
    args = ["-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80", "--protect",
            f"{SERVER4}:81", "--data-path", path]
    old = topo.start(*args)
    maps = ("quads", "cut_socks") if path == "sockmap" else ("quads",)
    baseline = topo.held(old, maps)
    ports = []
    longs = [Thread(long_client, topo, SERVER4, ports, gate) for _ in range(LONG_CONNS)]
    for t in longs:
        t.start()
    idle = open_idle(topo, IDLE_CONNS)
    try:
        deadline = time.monotonic() + 30
        while echo.accepted < IDLE_CONNS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert echo.accepted == IDLE_CONNS, f"the server accepted {echo.accepted}"
        new = topo.start(*args)
        old_rc = old.proc.wait(30)
    finally:
        gate.set()
    assert old_rc == 0, old.text()
    handed = [ln for ln in old.text().splitlines() if "handed the listeners" in ln]
    took = [ln for ln in new.text().splitlines() if "took over the listeners" in ln]
    assert handed and took, old.text() + new.text()
    n = int(handed[0].split("listeners and ")[1].split()[0])
    assert n == IDLE_CONNS + LONG_CONNS, handed
    for i, s in enumerate(idle):
        byte = bytes([i % 256])
        s.sendall(byte)
        assert s.recv(1) == byte, f"idle connection {i} did not echo after the takeover"
    for port, sent, (count, got) in [t.get(90) for t in longs]:
        assert count == LONG_BYTES and got == expected_digest(1000 + port), f"port {port}"
    for s in idle:
        s.close()
    assert topo.wait_held(new, baseline, timeout=30) == baseline
    print(f"{path}: {IDLE_CONNS} idle + {LONG_CONNS} busy: {handed[0]}; {took[0]}")
    new.assert_clean_exit()
    echo.close()
    long_srv.close()


def notify_listener(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.settimeout(0.2)
    return s


def notify_messages(s, until, timeout=20):
    """(pid, text) of every datagram until until(messages) or timeout."""
    got, deadline = [], time.monotonic() + timeout
    while not until(got) and time.monotonic() < deadline:
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        pid = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
        got.append((pid, data.decode()))
    return got


def proc_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_sigusr2_restarts_in_place_and_names_the_new_main_pid(topo):
    """What systemctl kill -s USR2 does: the daemon starts its binary again,
    which takes over every connection and announces itself to systemd
    (MAINPID=, READY=1) before the old one exits 0."""
    path = os.path.join(topo.tmp, "notify")
    note = notify_listener(path)
    echo = EchoServer(topo.listen(SERVER4, 81))
    old = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:81",
                     env={"NOTIFY_SOCKET": path})
    first = notify_messages(note, lambda m: any("READY=1" in t for _, t in m))
    assert (old.proc.pid, "READY=1\nSTATUS=serving") in first, first
    live = echo_once(topo)
    new_pid = None
    try:
        os.kill(old.proc.pid, signal.SIGUSR2)
        assert old.proc.wait(30) == 0, old.text()
        line = [ln for ln in old.text().splitlines() if "restarting: pid" in ln]
        assert line, old.text()
        new_pid = int(line[0].split("restarting: pid ")[1].split()[0])
        msgs = notify_messages(
            note, lambda m: any(p == new_pid and "READY=1" in t for p, t in m), timeout=10)
        assert (old.proc.pid, f"MAINPID={new_pid}") in msgs, msgs
        assert (new_pid, f"MAINPID={new_pid}\nREADY=1\nSTATUS=serving") in msgs, msgs
        assert proc_alive(new_pid), old.text()
        with open(f"/proc/{new_pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[1:4] == [b"run", b"-i", topo.if_pc.encode()]
        echo_once(topo, live)  # opened before, served by the new process now
        echo_once(topo).close()
        assert topo.ctl(old, "status").returncode == 0
        live.close()
    finally:
        if new_pid and proc_alive(new_pid):
            os.kill(new_pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while proc_alive(new_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc_alive(new_pid):
                os.kill(new_pid, signal.SIGKILL)
    text = old.text()
    assert "received signal 15, stopping" in text, text
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
        assert bad not in text, text
    note.close()
    echo.close()


FIN_CONNS = 24  # at a time
FIN_BYTES = 256 << 10
FIN_TAKEOVERS = 3


def upload_then_fin(topo, addr, seed):
    """Uploads FIN_BYTES in small pieces, then FIN; the server answers with
    the count and digest of what it read up to the FIN, then FIN."""
    sock = topo.connect(addr, 82, timeout=20)
    digest = hashlib.sha256()
    for chunk in pattern_chunks(seed, FIN_BYTES):
        for off in range(0, len(chunk), 16 << 10):
            piece = chunk[off:off + (16 << 10)]
            digest.update(piece)
            sock.sendall(piece)
            time.sleep(0.002)
    sock.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        more = sock.recv(256)
        if not more:
            break
        answer += more
    sock.close()
    return answer.decode(), f"{FIN_BYTES} {digest.hexdigest()}"


class DigestServer(Acceptor):
    """Reads each connection to its FIN, answers "COUNT SHA256", closes."""

    def __init__(self, lsock):
        self.errors = []
        super().__init__(lsock)

    def handle(self, conn, peer):
        threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn):
        conn.settimeout(30)
        try:
            count, digest = recv_digest(conn)
            conn.sendall(f"{count} {digest}".encode())
        except OSError as e:
            self.errors.append(repr(e))
        conn.close()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_fins_around_repeated_takeovers_all_arrive(topo, family):
    """Uploads that end (FIN) while daemons take over from each other,
    sockmap: every server must see every byte and the end of each upload,
    wherever the FIN fell (before GO, between GO and the commit, after)."""
    server = SERVER4 if family == "ipv4" else SERVER6
    svc = server if family == "ipv4" else f"[{server}]"
    srv = DigestServer(topo.listen(server, 82))
    args = ["-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{svc}:82", "--data-path",
            "sockmap"]
    daemon = topo.start(*args)
    stop = threading.Event()
    results, seed = [], [0]

    def worker():
        while not stop.is_set():
            seed[0] += 1
            try:
                results.append(upload_then_fin(topo, server, seed[0]))
            except OSError as e:
                results.append((repr(e), f"upload {seed[0]}"))

    workers = [Thread(worker) for _ in range(FIN_CONNS)]
    for w in workers:
        w.start()
    try:
        for _ in range(FIN_TAKEOVERS):
            time.sleep(0.7)
            new = topo.start(*args)
            assert daemon.proc.wait(20) == 0, daemon.text()
            daemon = new
    finally:
        stop.set()
    for w in workers:
        w.get(60)
    bad = [(got, want) for got, want in results if got != want]
    assert not bad, f"{len(bad)} of {len(results)} uploads lost bytes or their end: {bad[:3]}"
    assert not srv.errors, srv.errors
    assert len(results) >= FIN_CONNS, results
    print(f"{family}: {len(results)} uploads ended around {FIN_TAKEOVERS} takeovers")
    daemon.assert_clean_exit()
    srv.close()
