# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The soak's load: clients and a server on one topology, in one process.

Every connection starts with a header from the client naming its scenario,
its seed and its sizes; both sides then know what the other sends. Every
byte received is compared with the sender's stream at its offset: a wrong,
missing or repeated byte is a Corruption that names where it happened and,
where it can, where the bytes came from.
"""
import random
import selectors
import socket
import struct
import threading
import time

from peers import Thread
from topo import CLIENT4, CLIENT6, SERVER4, SERVER6

# Sources on the client that are not admitted: their SYNs must be dropped.
REFUSED4, REFUSED6 = "198.18.1.3", "2001:db8:1::3"
PORT = 80

# The streams: seed s's byte at offset i is PATTERN[(s + i) % PERIOD]. The
# period is not a power of two, so a shifted copy of a stream never lines up
# with it again, and 4 MiB is longer than any repeat worth finding.
PERIOD = (4 << 20) + 4093
CHUNK = 256 << 10
_BASE = random.Random(0x50A4).randbytes(PERIOD)
PATTERN = _BASE + _BASE[:CHUNK]  # any CHUNK bytes from any offset, unwrapped
VIEW = memoryview(PATTERN)
DOWN_SEED = 0x9E3779B9  # the server's stream: seed ^ this

# Scenarios. Both sides end with "eof" unless the scenario is a reset.
(BOTH, REQUEST, BANNER, CLIENT_RESET, SERVER_RESET, SLOW_SERVER, SLOW_CLIENT,
 SLOW_BOTH) = range(8)
NAMES = ["both", "request", "banner", "client-reset", "server-reset", "slow-server",
         "slow-client", "slow-both"]
HEADER = struct.Struct("!4sBxxxIIII")  # magic, scenario, seed, up, down, arg
MAGIC = b"SOAK"

CONNECT_TIMEOUT = 10
IO_TIMEOUT = 60
MAX_CONNECTIONS = 10_000_000  # per lane: the deadline ends it long before
SLOW_READ = 64 << 10
SLOW_SLEEP = 0.004


class Corruption(Exception):
    pass


def stream(seed, offset, n):
    start = (seed + offset) % PERIOD
    return VIEW[start:start + n]


def send_stream(sock, seed, total):
    offset = 0
    while offset < total:
        n = min(CHUNK, total - offset)
        sock.sendall(stream(seed, offset, n))
        offset += n


def first_difference(buf, n, seed, offset):
    """The index of buf's first byte that is not the stream's (binary search
    on prefixes; buf[:n] is known to differ)."""
    lo, hi = 0, n  # buf[:lo] matches, buf[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if buf.startswith(stream(seed, offset, mid)):
            lo = mid
        else:
            hi = mid
    return lo


def origin(sample, seed, at):
    """Where in stream seed the bytes sample come from, as a distance from
    at (negative: repeated from earlier; positive: bytes skipped)."""
    pos = PATTERN.find(sample)
    if pos < 0 or len(sample) < 16:
        return "they are from no stream"
    residue = (pos - seed - at) % PERIOD
    delta = residue if residue < PERIOD // 2 else residue - PERIOD
    if delta < 0:
        return f"they repeat the stream's bytes from {-delta} bytes earlier (offset {at + delta})"
    if delta > 0:
        return f"they are the stream's bytes {delta} bytes later: {delta} bytes skipped"
    return "they match (mod the pattern period)"


def check(buf, n, seed, offset, total, what):
    """Raises Corruption unless buf[:n] is the stream seed at offset."""
    good = min(n, max(total - offset, 0))
    if not buf.startswith(stream(seed, offset, good)):
        i = first_difference(buf, good, seed, offset)
        sample = bytes(buf[i:min(n, i + 64)])
        raise Corruption(f"{what}: byte {offset + i} of {total} differs; "
                         f"{origin(sample, seed, offset + i)}")
    if good < n:
        sample = bytes(buf[good:min(n, good + 64)])
        raise Corruption(f"{what}: {offset + n - total}+ bytes more than the {total} sent; "
                         f"{origin(sample, seed, total)}")


def recv_stream(sock, seed, total, stats, what, slow=False):
    """Reads until end of stream or an error, checking every byte. Returns
    (count, ending): ending is "eof" or the exception. Bounded: more than
    total bytes is a Corruption, and every read has the socket's timeout."""
    buf = bytearray(CHUNK)
    got = 0
    try:
        while True:
            n = sock.recv_into(buf, SLOW_READ if slow else CHUNK)
            if n == 0:
                return got, "eof"
            check(buf, n, seed, got, total, what)
            got += n
            stats.add(verified=n)
            if slow:
                time.sleep(SLOW_SLEEP)
    except OSError as e:
        return got, e


def send_and_shut(sock, seed, total):
    send_stream(sock, seed, total)
    sock.shutdown(socket.SHUT_WR)


def both_ways(sock, send_seed, send_total, recv_seed, recv_total, stats, what, pause=0.0):
    """Sends and receives at once, each side half-closing when done; with
    a pause, the receiver first waits that long, then reads slowly."""
    sender = Thread(send_and_shut, sock, send_seed, send_total)
    sender.start()
    time.sleep(pause)
    got, ending = recv_stream(sock, recv_seed, recv_total, stats, what, pause > 0)
    problem = expect(ending, "eof", got, recv_total)
    try:
        sender.get(IO_TIMEOUT)
    except (OSError, AssertionError) as e:
        problem = problem or f"sending {send_total} bytes: {e!r}"
    return problem


def reset_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:  # bounded: at most n reads that return data
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"end of stream after {len(data)} of {n} header bytes")
        data += chunk
    return data


def play_out(stats, log, sock, side, describe, part):
    """Runs one side's part of a connection, closes its socket and counts
    how it ended: as it should, not (logged), or corrupted (logged)."""
    try:
        problem = part()
    except Corruption as e:
        sock.close()
        stats.add(corrupt=1, failed=1)
        log("CORRUPTION", str(e))
        return
    except OSError as e:
        problem = repr(e)
    sock.close()
    if problem:
        stats.add(failed=1)
        log(side, f"{describe()}: {problem}")
    else:
        stats.add(**{"ok" if side == "client" else "server_ok": 1})


class Stats:
    """Counters of one worker, in shared memory the soak reads."""
    FIELDS = ("connections", "ok", "failed", "corrupt", "verified", "refused", "server_ok")

    def __init__(self, shared, index):
        self.shared = shared
        self.base = index * len(self.FIELDS)
        self.lock = threading.Lock()

    def add(self, **counts):
        with self.lock:
            for name, n in counts.items():
                self.shared[self.base + self.FIELDS.index(name)] += n

    @classmethod
    def read(cls, shared, index):
        base = index * len(cls.FIELDS)
        return {f: shared[base + i] for i, f in enumerate(cls.FIELDS)}


class Log:
    """Failures, one line each, to a file the soak prints from."""

    def __init__(self, path, label):
        self.file = open(path, "a", buffering=1)
        self.label = label
        self.lock = threading.Lock()

    def __call__(self, kind, text):
        with self.lock:
            self.file.write(f"{time.strftime('%H:%M:%S')} {self.label} {kind}: {text}\n")


def expect(ending, want, got, total):
    """None if a side ended as it should, else what went wrong."""
    if want == "eof":
        if ending == "eof" and got == total:
            return None
        return f"ended with {ending!r} after {got} of {total} bytes"
    if isinstance(ending, ConnectionResetError):
        return None
    return f"expected a reset, got {ending!r} after {got} bytes"


# -- the server -------------------------------------------------------------

class Server:
    """Accepts on both families; one thread per connection plays the
    server's part of the scenario its header names."""

    def __init__(self, topo, stats, log, deadline):
        self.topo, self.stats, self.log = topo, stats, log
        self.stop_at = deadline
        self.listeners = [topo.listen(SERVER4, PORT), topo.listen(SERVER6, PORT)]
        self.handlers = []
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        sel = selectors.DefaultSelector()
        for lsock in self.listeners:
            lsock.setblocking(False)
            sel.register(lsock, selectors.EVENT_READ)
        while time.monotonic() < self.stop_at:
            for key, _ in sel.select(0.2):
                try:
                    conn, peer = key.fileobj.accept()
                except OSError:
                    continue
                handler = threading.Thread(target=self.serve, args=(conn, peer), daemon=True)
                handler.start()
                self.handlers = [h for h in self.handlers if h.is_alive()] + [handler]

    def close(self, timeout):
        """Stops accepting; waits for the connections still being served."""
        self.stop_at = 0
        self.thread.join(timeout)
        for lsock in self.listeners:
            lsock.close()
        deadline = time.monotonic() + timeout
        for handler in self.handlers:
            handler.join(max(deadline - time.monotonic(), 0.01))
        return sum(h.is_alive() for h in self.handlers)

    def serve(self, conn, peer):
        conn.setblocking(True)
        conn.settimeout(IO_TIMEOUT)
        about = {"what": f"port={peer[1]}, before the header"}
        play_out(self.stats, self.log, conn, "server", lambda: about["what"],
                 lambda: self.play(conn, peer, about))

    def play(self, conn, peer, about):
        """The server's part; returns what went wrong, or None."""
        if peer[0] not in (CLIENT4, CLIENT6):
            return f"the server saw {peer[0]}, not the client's address"
        magic, scenario, seed, up, down, arg = HEADER.unpack(recv_exact(conn, HEADER.size))
        if magic != MAGIC:
            raise Corruption(f"header {magic!r}: not a soak header")
        what = (f"{NAMES[scenario]} IPv{6 if ':' in peer[0] else 4} seed={seed} up={up} "
                f"down={down} port={peer[1]}, the upload")
        about["what"] = what
        down_seed = seed ^ DOWN_SEED
        if scenario in (BOTH, SLOW_BOTH):
            pause = arg / 1000 if scenario == SLOW_BOTH else 0
            return both_ways(conn, down_seed, down, seed, up, self.stats, what, pause)
        if scenario in (REQUEST, SLOW_SERVER):
            slow = scenario == SLOW_SERVER
            if slow:
                time.sleep(arg / 1000)  # the reader pauses: every buffer fills
            got, ending = recv_stream(conn, seed, up, self.stats, what, slow)
            problem = expect(ending, "eof", got, up)
            if not problem:
                send_stream(conn, down_seed, down)  # then close: a FIN
            return problem
        if scenario in (BANNER, SLOW_CLIENT):
            send_and_shut(conn, down_seed, down)
            got, ending = recv_stream(conn, seed, up, self.stats, what)
            return expect(ending, "eof", got, up)
        if scenario == CLIENT_RESET:
            conn.sendall(b"!")  # the header is here: the client may reset now
            got, ending = recv_stream(conn, seed, arg, self.stats, what)
            return expect(ending, "reset", got, arg)
        if scenario == SERVER_RESET:
            send_stream(conn, down_seed, arg)
            reset_close(conn)
            return None
        raise Corruption(f"header names scenario {scenario}")


# -- the clients ------------------------------------------------------------

class Client:
    """Plays the client's part of one scenario per call."""

    def __init__(self, topo, stats, log):
        self.topo, self.stats, self.log = topo, stats, log

    def run(self, scenario, family, up, down, arg):
        seed = random.getrandbits(32)
        addr = SERVER6 if family == 6 else SERVER4
        name = f"{NAMES[scenario]} IPv{family} seed={seed} up={up} down={down}"
        self.stats.add(connections=1)
        try:
            sock = self.topo.connect(addr, PORT, timeout=CONNECT_TIMEOUT)
        except OSError as e:
            self.fail(name, f"connect: {e!r}")
            return
        name += f" port={sock.getsockname()[1]}"  # as the daemon's log names it

        def part():
            sock.settimeout(IO_TIMEOUT)
            sock.sendall(HEADER.pack(MAGIC, scenario, seed, up, down, arg))
            return self.play(sock, scenario, seed, up, down, arg, name)
        play_out(self.stats, self.log, sock, "client", lambda: name, part)

    def fail(self, name, problem):
        self.stats.add(failed=1)
        self.log("client", f"{name}: {problem}")

    def play(self, sock, scenario, seed, up, down, arg, name):
        what = f"{name}, the download"
        down_seed = seed ^ DOWN_SEED
        if scenario in (BOTH, SLOW_BOTH):
            return both_ways(sock, seed, up, down_seed, down, self.stats, what)
        if scenario in (REQUEST, SLOW_SERVER):
            send_and_shut(sock, seed, up)
            got, ending = recv_stream(sock, down_seed, down, self.stats, what)
            return expect(ending, "eof", got, down)
        if scenario in (BANNER, SLOW_CLIENT):
            if scenario == SLOW_CLIENT:
                time.sleep(arg / 1000)
            got, ending = recv_stream(sock, down_seed, down, self.stats, what,
                                      scenario == SLOW_CLIENT)
            problem = expect(ending, "eof", got, down)
            if not problem:
                send_stream(sock, seed, up)  # then close: a FIN
            return problem
        if scenario == CLIENT_RESET:
            if recv_exact(sock, 1) != b"!":
                raise Corruption(f"{name}: the server's go-ahead byte differs")
            send_stream(sock, seed, arg)
            reset_close(sock)
            return None
        if scenario == SERVER_RESET:
            got, ending = recv_stream(sock, down_seed, arg, self.stats, what)
            return expect(ending, "reset", got, arg)
        raise ValueError(scenario)

    def refused(self):
        """A connection from a source that is not admitted: its SYN must be
        dropped, so connect() times out and the server accepts nothing."""
        family = random.choice((4, 6))
        src, dst = (REFUSED6, SERVER6) if family == 6 else (REFUSED4, SERVER4)
        with self.topo.inside(self.topo.client):
            sock = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET)
        sock.settimeout(0.5)
        try:
            sock.bind((src, 0))
            sock.connect((dst, PORT))
            self.fail(f"refused IPv{family}", "a source not admitted got connected")
        except socket.timeout:
            self.stats.add(refused=1)
        except OSError as e:
            self.fail(f"refused IPv{family}", f"expected no answer at all, got {e!r}")
        finally:
            sock.close()


# -- the lanes: what each client thread does until the deadline ------------

MIB = 1 << 20


def bulk_case(rng):
    scenario = rng.choices((BOTH, REQUEST, BANNER, CLIENT_RESET, SERVER_RESET),
                           (4, 2, 2, 1, 1))[0]
    up, down = rng.randint(1, 32 * MIB), rng.randint(1, 32 * MIB)
    if rng.random() < 0.25:
        up, down = (0, down) if rng.random() < 0.5 else (up, 0)
    return scenario, up, down, rng.randint(0, 8 * MIB)


def short_case(rng):
    scenario = rng.choices((BOTH, REQUEST, BANNER, CLIENT_RESET, SERVER_RESET),
                           (4, 3, 3, 1, 1))[0]
    return scenario, rng.randint(0, 4096), rng.randint(0, 4096), rng.randint(0, 4096)


def slow_case(rng):
    scenario = rng.choice((SLOW_SERVER, SLOW_CLIENT, SLOW_BOTH))
    size = rng.randint(4 * MIB, 16 * MIB)
    return scenario, size, size, rng.randint(500, 2000)  # pause ms


LANES = {"bulk": (2, bulk_case), "short": (4, short_case), "slow": (1, slow_case)}


def lane(client, case, deadline, seed):
    rng = random.Random(seed)
    for _ in range(MAX_CONNECTIONS):
        if time.monotonic() >= deadline:
            return
        scenario, up, down, arg = case(rng)
        client.run(scenario, rng.choice((4, 6)), up, down, arg)


def refused_lane(client, deadline):
    for _ in range(MAX_CONNECTIONS):
        if time.monotonic() >= deadline:
            return
        client.refused()
        time.sleep(0.5)


def worker(topo, shared, index, label, log_path, deadline, grace):
    """One topology's load until deadline; the body of a child process."""
    stats, log = Stats(shared, index), Log(log_path, label)
    server = Server(topo, stats, log, deadline + grace)
    client = Client(topo, stats, log)
    threads = [threading.Thread(target=refused_lane, args=(client, deadline), daemon=True)]
    for name, (count, case) in LANES.items():
        for i in range(count):
            threads.append(threading.Thread(target=lane, daemon=True,
                                            args=(client, case, deadline, f"{label}{name}{i}")))
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(deadline + grace - time.monotonic(), 0.1))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        log("worker", f"{stuck} client lane(s) still running {grace}s after the deadline")
        stats.add(failed=stuck)
    serving = server.close(IO_TIMEOUT + 5)
    if serving:
        log("worker", f"{serving} server connection(s) still running after the clients ended")
        stats.add(failed=serving)
    return 1 if stuck or serving else 0
