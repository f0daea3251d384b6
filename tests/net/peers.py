# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Servers and clients the namespace tests talk through cutthru with."""
import hashlib
import random
import socket
import struct
import threading

CHUNK = 1 << 20


def pattern_chunks(seed, total):
    """Deterministic pseudo-random data, total bytes, in 1 MiB chunks."""
    rng = random.Random(seed)
    left = total
    while left:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def send_pattern(sock, seed, total):
    digest = hashlib.sha256()
    for chunk in pattern_chunks(seed, total):
        digest.update(chunk)
        sock.sendall(chunk)
    return digest.hexdigest()


def recv_all(sock, limit=None):
    """Reads to end of stream; returns (bytes, sha256, error)."""
    digest = hashlib.sha256()
    count = 0
    try:
        while True:
            data = sock.recv(CHUNK)
            if not data:
                return count, digest.hexdigest(), None
            digest.update(data)
            count += len(data)
    except OSError as e:
        return count, digest.hexdigest(), e


def reset_close(sock):
    """Close with RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Thread(threading.Thread):
    """A thread that keeps its target's result or exception."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # noqa: B902 - handed to the test
            self.error = e

    def get(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), f"{self.fn.__name__} still running after {timeout}s"
        if self.error:
            raise self.error
        return self.result


class Acceptor:
    """Accepts on lsock in a thread of its own and hands each connection to
    self.handle(conn, peer). A subclass sets its own attributes before
    calling __init__: the thread starts there."""

    def __init__(self, lsock):
        self.lsock = lsock
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, peer = self.lsock.accept()
            except OSError:
                return
            self.handle(conn, peer)

    def handle(self, conn, peer):
        raise NotImplementedError

    def close(self):
        """Stops accepting for good. shutdown() wakes the accept() blocked in
        serve(); a bare close() leaves that thread behind, and with it the
        next test in the process lost connections on its own listener: the
        sockmap IPv6 takeover case after the IPv4 one failed 4 times in 10
        ("server never saw the end", the port never accepted by this server,
        yet in TIME_WAIT in its namespace), alone 0 in 6, with this 0 in 10."""
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.lsock.close()


class EchoServer(Acceptor):
    """Echoes each connection until EOF, then closes (server closes last)."""

    def __init__(self, lsock):
        self.peers = []
        super().__init__(lsock)

    def handle(self, conn, peer):
        self.peers.append(peer)
        threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    @staticmethod
    def echo(conn):
        conn.settimeout(30)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        conn.close()


def queue_seqs(sock):
    """(snd_nxt, rcv_nxt) of a connected TCP socket, read in repair mode."""
    TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
    TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
    sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        snd = sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ) & 0xFFFFFFFF
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
        rcv = sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ) & 0xFFFFFFFF
    finally:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
    return snd, rcv
