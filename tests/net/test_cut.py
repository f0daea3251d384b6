# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What the kernel cut-through must get right beyond moving bytes: bytes
queued before the hand-off, slow readers, many connections and a clean
slate afterwards, and a sockmap that does not work."""
import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import time

import pytest

from peers import EchoServer, Thread, pattern_chunks, queue_seqs, recv_all, send_pattern
from topo import REPO, SERVER4, SERVER6, run

PATHS = ["copy", "splice", "sockmap"]
FAMILIES = [pytest.param(SERVER4, id="ipv4"), pytest.param(SERVER6, id="ipv6")]


def start(topo, path, *extra, env=None):
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   "--protect", f"[{SERVER6}]:80", "--data-path", path, *extra, env=env)
    assert f"data path {path}," in d.text(), d.text()
    return d


@pytest.mark.parametrize("server", FAMILIES)
@pytest.mark.parametrize("path", PATHS)
def test_bytes_sent_before_the_handoff_arrive(topo, path, server):
    """The client sends while the server leg is still connecting (the
    server drops the first SYN): those bytes wait in the client leg and must
    all come out once the legs are joined."""
    topo.sh(topo.server, "nft", "add table inet slow { chain in { type filter hook input "
            "priority 0; tcp dport 80 tcp flags syn drop; }; }")
    d = start(topo, path, "--connect-timeout", "5000")
    csock = topo.connect(server, 80, timeout=10)
    digest = send_pattern(csock, 7, 200000)  # fits in the client leg's queue
    csock.shutdown(socket.SHUT_WR)
    lsock = topo.listen(server, 80)
    topo.sh(topo.server, "nft", "delete table inet slow")
    lsock.settimeout(5)
    conn, _ = lsock.accept()
    conn.settimeout(10)
    assert recv_all(conn) == (200000, digest, None)
    conn.close()
    csock.close()
    d.assert_clean_exit()


class Upload:
    """The client sends size bytes of pattern seed through the proxy, then
    its FIN, from a thread; the server reads only when finish() says."""

    def __init__(self, topo, seed, size):
        self.size = size
        lsock = topo.listen(SERVER4, 80)
        self.csock = topo.connect(SERVER4, 80, timeout=30)
        self.conn, _ = lsock.accept()
        self.conn.settimeout(30)
        lsock.close()
        self.sender = Thread(lambda: self._send(seed))
        self.sender.start()

    def _send(self, seed):
        digest = send_pattern(self.csock, seed, self.size)
        self.csock.shutdown(socket.SHUT_WR)
        return digest

    def finish(self):
        """Reads it all; every byte must have arrived, in order."""
        assert recv_all(self.conn) == (self.size, self.sender.get(60), None)
        self.conn.close()
        self.csock.close()


@pytest.mark.parametrize("path", PATHS)
def test_reader_pausing_for_seconds_loses_nothing(topo, path):
    """...and with sockmap, the stats account for every byte: redirected by
    the kernel, or held while the server did not read and moved by the
    daemon (the pause must have held some)."""
    d = start(topo, path)
    upload = Upload(topo, 3, 96 << 20)
    time.sleep(3)  # the server reads nothing: every buffer on the way fills
    assert upload.sender.is_alive(), "the sender must be held back, not everything buffered"
    upload.finish()
    stats = json.loads(topo.ctl(d, "stats", "--json").stdout)
    cut = {k: v["bytes"] for k, v in stats["cut_verdicts"].items()}
    if path == "sockmap":
        assert cut["redirected"] + cut["held"] == 96 << 20, cut
        assert cut["held"] > 0 and stats["daemon"]["cut_paused"] >= 1, (cut, stats["daemon"])
        assert cut["redirected"] > 0, cut
    else:
        assert not any(cut.values()), cut
    d.assert_clean_exit()


def fast_upload(topo, total):
    """total bytes from client to server as fast as both ends go: the
    reader is a process of its own, and neither end makes a pattern or a
    checksum (other tests check the bytes). Returns what the server read."""
    lsock = topo.listen(SERVER4, 80)
    csock = topo.connect(SERVER4, 80, timeout=30)
    conn, _ = lsock.accept()
    lsock.close()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the reader
        got, buf = 0, bytearray(1 << 20)
        try:
            csock.close()
            conn.settimeout(30)
            while n := conn.recv_into(buf):
                got += n
        finally:
            os.write(wfd, struct.pack("=Q", got))
            os._exit(0)
    conn.close()
    try:
        chunk = memoryview(bytearray(1 << 20))
        for _ in range(total >> 20):
            csock.sendall(chunk)
        csock.shutdown(socket.SHUT_WR)
        got = struct.unpack("=Q", os.read(rfd, 8))[0]
    finally:
        csock.close()
        os.waitpid(pid, 0)
        os.close(rfd)
        os.close(wfd)
    return got


def test_sockmap_fast_reader_bytes_mostly_stay_in_the_kernel(topo):
    """A fast sender and a fast reader. When the peer leg falls behind, the
    verdict holds and the daemon moves the held bytes; it must consume them
    only after writing them, or the sender refills the window meanwhile and
    the hold goes on for as long as it keeps up. The daemon then moved 97
    and 98 % of these uploads itself in two runs, and at most 80 % in seven
    runs now (87 to 95 % of an iperf3 upload before, 51 to 58 % now)."""
    d = start(topo, "sockmap")
    total = 0
    for _ in range(3):
        total += 256 << 20
        assert fast_upload(topo, 256 << 20) == 256 << 20
    stats = json.loads(topo.ctl(d, "stats", "--json").stdout)
    cut = {k: v["bytes"] for k, v in stats["cut_verdicts"].items()}
    assert cut["redirected"] + cut["held"] == total, cut
    assert cut["held"] < 0.9 * total, (cut, stats["daemon"])
    d.assert_clean_exit()


def cpu_seconds(pid):
    """utime + stime of a process and its direct children."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


CAP_SYS_RESOURCE = 24


def test_splice_pipe_smaller_than_asked_waits_instead_of_spinning(topo):
    """--buffer-size beyond fs.pipe-max-size: without CAP_SYS_RESOURCE the
    daemon's pipes stay smaller than asked. With the server not reading and
    such a pipe full, the daemon must wait for the server (and say once
    that its pipes are smaller), not try the full pipe again and again;
    every byte still arrives."""
    with open("/proc/sys/fs/pipe-max-size") as f:
        asked = min(64 << 20, 4 * int(f.read()))
    d = start(topo, "splice", "--buffer-size", str(asked))
    with open(f"/proc/{d.proc.pid}/status") as f:
        cap_eff = int(next(ln for ln in f if ln.startswith("CapEff:")).split()[1], 16)
    assert not cap_eff & (1 << CAP_SYS_RESOURCE), "premise: the daemon keeps CAP_SYS_RESOURCE"
    upload = Upload(topo, 5, 32 << 20)
    time.sleep(1)  # the server reads nothing: the queues and the pipe fill
    cpu0 = cpu_seconds(d.proc.pid)
    time.sleep(2)
    busy = cpu_seconds(d.proc.pid) - cpu0
    assert upload.sender.is_alive(), "the sender must be held back, not everything buffered"
    assert busy < 0.5, f"the daemon used {busy:.2f} CPU-s in 2 s with nothing to do"
    upload.finish()
    assert "splice: a pipe of" in d.text(), d.text()
    d.assert_clean_exit()


def test_splice_bulk_flow_pipe_grows_and_short_ones_do_not(topo):
    """A pipe that a bulk flow fills grows (to 1 MiB; bench/ shows why),
    one per direction that carries the bulk; request-and-reply connections
    never fill theirs. Every byte arrives either way."""
    d = start(topo, "splice")
    echo = EchoServer(topo.listen(SERVER4, 80))
    try:
        for i in range(20):
            with topo.connect(SERVER4, 80) as s:
                s.sendall(b"ping %d" % i)
                assert s.recv(100) == b"ping %d" % i
        daemon = json.loads(topo.ctl(d, "stats", "--json").stdout)["daemon"]
        assert daemon["pipes_grown"] == 0, daemon
    finally:
        echo.close()
    Upload(topo, 9, 48 << 20).finish()
    daemon = json.loads(topo.ctl(d, "stats", "--json").stdout)["daemon"]
    assert daemon["pipes_grown"] == 1, daemon
    d.assert_clean_exit()


@pytest.mark.parametrize("path", PATHS)
def test_1000_connections_leave_nothing_behind(topo, path):
    d = start(topo, path, "-q")
    maps = ("quads", "cut_socks", "cut_peers") if path == "sockmap" else ("quads",)
    baseline = topo.held(d, maps)
    server = EchoServer(topo.listen(SERVER4, 80, backlog=2048))
    socks = [topo.connect(SERVER4, 80, timeout=10) for _ in range(1000)]
    for i, s in enumerate(socks):
        s.sendall(b"%06d" % i)
    for i, s in enumerate(socks):
        assert s.recv(6) == b"%06d" % i
    if path == "sockmap":
        assert topo.map_entries(d, "cut_socks") == 2000
    for s in socks:
        s.close()
    assert topo.wait_held(d, baseline) == baseline, \
        "every socket closed, every quad and sockhash entry removed"
    server.close()
    d.assert_clean_exit()
    assert d.text().count("close=done") == 0  # -q: no line per connection


def test_broken_sockmap_is_detected_and_splice_used(topo):
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   "--data-path", "sockmap", env={"CUTTHRU_TEST_BREAK_SOCKMAP": "1"})
    text = d.text()
    assert "sockmap cut-through unavailable, using splice" in text
    assert "data path splice," in text
    server = EchoServer(topo.listen(SERVER4, 80))
    s = topo.connect(SERVER4, 80)
    s.sendall(b"still served")
    assert s.recv(100) == b"still served"
    s.close()
    server.close()
    d.assert_clean_exit()


@pytest.mark.parametrize("path", PATHS)
def test_daemon_killed_mid_transfer_resets_client_and_restart_serves(topo, path):
    """SIGKILL while bytes flow: the client hears of it at once (no hang),
    the service stays closed until a restart, and the restart serves."""
    d = start(topo, path)
    lsock = topo.listen(SERVER4, 80)
    csock = topo.connect(SERVER4, 80, timeout=10)
    conn, _ = lsock.accept()

    def upload():
        try:
            for _ in range(100000):  # bounded: ~6 GB at most
                csock.sendall(b"u" * 65536)
        except OSError as e:
            return e
        return None

    sender = Thread(upload)
    sender.start()
    time.sleep(0.5)
    d.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    err = sender.get(10)
    assert isinstance(err, (ConnectionResetError, BrokenPipeError)), f"client got {err!r}"
    assert time.monotonic() - killed_at < 3, "the client must hear of it promptly"
    conn.close()
    csock.close()

    with pytest.raises((socket.timeout, ConnectionError)):
        topo.connect(SERVER4, 80, timeout=1)  # the service stays closed
    lsock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        lsock.accept()  # and nothing got through to the server

    d2 = start(topo, path)
    server = EchoServer(lsock)
    s = topo.connect(SERVER4, 80)
    s.sendall(b"after restart")
    assert s.recv(100) == b"after restart"
    s.close()
    server.close()
    d2.assert_clean_exit()


def test_quad_list_three_times_overfull_every_connection_works(topo):
    """A build whose quad list holds 16 entries, 48 live connections: the
    LRU evicts most of their quads, and steering by socket keeps every one
    of them working."""
    lru = os.path.join(REPO, "build-lru", "cutthru")
    assert os.path.exists(lru), "make check builds build-lru/ (a 16-entry quad list)"
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   binary=lru)
    show = json.loads(run("bpftool", "-j", "map", "show", "id", str(d.map_id("quads"))).stdout)
    assert show["max_entries"] == 16
    server = EchoServer(topo.listen(SERVER4, 80))
    socks = [topo.connect(SERVER4, 80) for _ in range(48)]
    assert topo.map_entries(d, "quads") <= 16, "the list is full, not larger"
    for rnd in range(3):
        for i, s in enumerate(socks):
            s.sendall(b"%02d%02d" % (rnd, i))
        for i, s in enumerate(socks):
            assert s.recv(4) == b"%02d%02d" % (rnd, i)
    for s in socks:
        s.close()
    server.close()
    d.assert_clean_exit()


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_tcp_segment(src, dst, seq, ack, payload):
    """An IPv4 packet with one TCP segment (ACK|PSH) from src to dst, both
    (address, port)."""
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, 0x18, 65535, 0, 0)
    pseudo = socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) + \
        struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64,
                     socket.IPPROTO_TCP, 0, socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp + payload


def recv_for(sock, seconds):
    """Everything sock receives until it has been quiet for `seconds`."""
    sock.settimeout(seconds)
    data = b""
    for _ in range(1000):  # bounded: a few hundred KB at most
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_sockmap_retransmission_over_received_bytes_passed_on_once(topo):
    """TCP queues a retransmitted segment that starts among bytes it has
    received already as it came (tcp_data_queue(), "partial packet"): its
    readers skip what they had by copied_seq, but the sockmap's
    tcp_read_skb() hands the verdict the whole skb. Held bytes make the
    client's window close and open, and its retransmissions then overlap
    like this (under bulk load, about one connection in five). Crafted here:
    after the client sent A, a segment repeating A's second half followed by
    new bytes B. The server must receive A then B, nothing twice."""
    d = start(topo, "sockmap")
    lsock = topo.listen(SERVER4, 80)
    csock = topo.connect(SERVER4, 80, timeout=10)
    conn, _ = lsock.accept()
    a, b = os.urandom(1000), os.urandom(900)  # one segment: 500 + 900 bytes
    csock.sendall(a)
    assert recv_for(conn, 1.0) == a
    assert topo.map_entries(d, "cut_socks") == 2, "the connection is cut through"
    snd, rcv = queue_seqs(csock)
    with topo.inside(topo.client):
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        raw.sendto(ipv4_tcp_segment(csock.getsockname(), (SERVER4, 80), (snd - 500) & 0xFFFFFFFF,
                                    rcv, a[500:] + b), (SERVER4, 0))
    finally:
        raw.close()
    got = recv_for(conn, 1.0)
    assert got == b, (f"server got {len(got)} bytes after A, not B's 900"
                      + (": A's last 500 again, then B" if got == a[500:] + b else ""))
    reset = struct.pack("ii", 1, 0)
    csock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
    csock.close()
    conn.close()
    d.assert_clean_exit()


# What one direction may keep in the router while its reader is behind
# (README, Data paths): 4 MiB redirected ahead of the peer leg (credit),
# the source leg's 4 MiB receive buffer, the peer leg's send queue.
ROUTER_BOUND = 12 << 20
SIOCINQ, SIOCOUTQ = 0x541B, 0x5411


def queue_bytes(sock, request):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0" * 4))[0]


class Sender(Thread):
    """Sends `total` pattern bytes and a FIN, counting what the kernel took."""

    def __init__(self, sock, total):
        super().__init__(self.send)
        self.sock, self.total, self.sent = sock, total, 0

    def send(self):
        digest = hashlib.sha256()
        for chunk in pattern_chunks(11, self.total):
            digest.update(chunk)
            self.sock.sendall(chunk)
            self.sent += len(chunk)
        self.sock.shutdown(socket.SHUT_WR)
        return digest.hexdigest()

    def in_router(self, receiver, read=0):
        """Bytes the router acknowledged to the sender that the receiver
        has neither read (`read`) nor queued: all of them sit in the
        router's kernel. (sendall may
        have given the kernel part of a chunk not counted yet: that only
        makes this smaller by less than a chunk.)"""
        return (self.sent - queue_bytes(self.sock, SIOCOUTQ) - queue_bytes(receiver, SIOCINQ)
                - read)


def cut_counter(topo, daemon, key):
    dump = json.loads(run("bpftool", "-j", "map", "dump", "id",
                          str(daemon.map_id("cut_counters"))).stdout)
    for entry in dump:
        entry = entry.get("formatted", entry)
        if entry["key"] == key:
            return sum(v["value"]["bytes"] for v in entry["values"])
    raise AssertionError(f"cut_counters has no key {key}")


def cut_pair(topo, way):
    """(sender, receiver) of a cut-through connection: the client uploads,
    or the server sends to the client."""
    lsock = topo.listen(SERVER4, 80)
    csock = topo.connect(SERVER4, 80, timeout=30)
    conn, _ = lsock.accept()
    lsock.close()
    for s in (csock, conn):
        s.settimeout(30)
    return (csock, conn) if way == "upload" else (conn, csock)


@pytest.mark.parametrize("way", ["upload", "download"])
def test_sockmap_peer_that_never_reads_queues_bounded_bytes(topo, way):
    """A receiver that reads nothing for 3 s: the sender is stopped by TCP
    once the router holds at most ROUTER_BOUND for the direction (it used
    to queue 32 to 42 MiB: the legs' receive buffers autotuned to
    tcp_rmem[2] and 16 MiB or more redirected ahead). Then the receiver
    reads, and every byte arrives in order."""
    size = 32 << 20
    d = start(topo, "sockmap")
    src, dst = cut_pair(topo, way)
    sender = Sender(src, size)
    sender.start()
    time.sleep(2)
    first = sender.in_router(dst)
    time.sleep(1)
    queued = sender.in_router(dst)
    assert sender.is_alive(), "the sender must be stopped, not everything buffered"
    assert queued == first, f"the sender must be stopped: {first} then {queued} bytes queued"
    assert 0 < queued <= ROUTER_BOUND, f"the router queues {queued / 2**20:.1f} MiB"
    assert cut_counter(topo, d, 1) > 0, "the verdict held bytes"
    assert recv_all(dst) == (size, sender.get(30), None)
    src.close()
    dst.close()
    d.assert_clean_exit()


def test_sockmap_reader_pausing_2s_repeatedly_gets_every_byte(topo):
    """The reader takes 8 MiB, stops for 2 s, three times, then reads the
    rest: each pause holds the direction (within the bound), each resume
    moves the held bytes on before the verdict redirects again."""
    size = 48 << 20
    d = start(topo, "sockmap")
    src, dst = cut_pair(topo, "upload")
    sender = Sender(src, size)
    sender.start()
    digest, got, peaks = hashlib.sha256(), 0, []
    for _ in range(3):
        want = got + (8 << 20)
        while got < want:
            chunk = dst.recv(min(1 << 20, want - got))
            assert chunk, f"end of stream after {got} bytes"
            digest.update(chunk)
            got += len(chunk)
        time.sleep(2)
        peaks.append(sender.in_router(dst, got))
    held = cut_counter(topo, d, 1)
    for _ in range(10000):  # bounded: the rest, 24 MiB
        chunk = dst.recv(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        got += len(chunk)
    assert held > 0, "each pause must have held bytes in the router"
    assert max(peaks) <= ROUTER_BOUND, f"queued in the router at each pause: {peaks}"
    assert (got, digest.hexdigest()) == (size, sender.get(30)), "the stream arrived whole"
    src.close()
    dst.close()
    d.assert_clean_exit()
