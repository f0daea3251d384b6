# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The attacker's bench for the bypass hunt.

A Lab is one client -- router (cutthru) -- server topology (tests/net/topo.py)
with cutthru running, a real service listening on the protected ports, a raw
AF_PACKET socket on the client's veth (the attacker writes whole Ethernet
frames, so it controls every header from L2 up) and a tap on the server: an
AF_PACKET socket bound to every device of the server namespace (the veth and
any tunnel or VXLAN device a test adds), so a packet counts as "received by
the server" as soon as any device there delivers it, before IP even looks at
it. Decapsulated packets show up on their tunnel device a second time.

Frames are built with scapy (Debian's python3-scapy) in this process; only
the sockets live in the namespaces.
"""
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "net"))

from topo import CLIENT4, CLIENT6, SERVER4, SERVER6, run  # noqa: E402

from scapy.config import conf  # noqa: E402

conf.verb = 0
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

PROTECT = ["--protect", f"{SERVER4}:80", "--protect", f"[{SERVER6}]:80"]
CLIENTS = {CLIENT4, CLIENT6}
ETH_P_ALL = 0x0003
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
PACKET_OUTGOING = 4

# Every crafted TCP segment carries this sequence number (low bits vary),
# so a server-side packet can be told apart from a proxied one.
SEQ_MARK = 0x5EED0000
PAYLOAD_MARK = b"ADV-BYPASS-MARK!"

# How long the server side is watched after the last crafted frame: veth
# delivery takes microseconds, forwarding plus a tunnel's decapsulation well
# under a millisecond.
QUIET_S = 0.25


def link_mac(ns, dev):
    return json.loads(run("ip", "-j", "-n", ns, "link", "show", "dev", dev).stdout)[0]["address"]


@dataclass
class Seen:
    """One frame a device of the server namespace received (or sent)."""
    ifname: str
    proto: int
    pkttype: int
    data: bytes  # from the L3 header on (SOCK_DGRAM)

    @property
    def src(self):
        if self.proto == ETH_P_IP and len(self.data) >= 20:
            return socket.inet_ntop(socket.AF_INET, self.data[12:16])
        if self.proto == ETH_P_IPV6 and len(self.data) >= 40:
            return socket.inet_ntop(socket.AF_INET6, self.data[8:24])
        return None

    @property
    def dst(self):
        if self.proto == ETH_P_IP and len(self.data) >= 20:
            return socket.inet_ntop(socket.AF_INET, self.data[16:20])
        if self.proto == ETH_P_IPV6 and len(self.data) >= 40:
            return socket.inet_ntop(socket.AF_INET6, self.data[24:40])
        return None

    def packet(self):
        if self.proto == ETH_P_IP:
            return IP(self.data)
        if self.proto == ETH_P_IPV6:
            return IPv6(self.data)
        return Raw(self.data)

    def __str__(self):
        way = "sent" if self.pkttype == PACKET_OUTGOING else "received"
        return f"{self.ifname} {way}: {self.packet().summary()}"


class Tap:
    """Every frame of every device in a namespace, in arrival order."""

    def __init__(self, topo, ns):
        with topo.inside(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setblocking(False)

    def drain(self):
        out = []
        for _ in range(100000):  # bounded: far more than any case sends
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            out.append(Seen(addr[0], addr[1], addr[2], data))
        return out

    def close(self):
        self.sock.close()


@dataclass
class Shot:
    """What one case did: cutthru's counters (delta) and the server's view."""
    counted: dict
    seen: list = field(default_factory=list)

    @property
    def received(self):
        return [s for s in self.seen if s.pkttype != PACKET_OUTGOING]

    @property
    def sent(self):
        return [s for s in self.seen if s.pkttype == PACKET_OUTGOING]

    def from_client(self):
        """Frames the server namespace received with a client address as the
        (outer or, on a tunnel device, inner) source."""
        return [s for s in self.received if s.src in CLIENTS]

    def report(self):
        lines = [f"cutthru counted: {self.counted}"]
        lines += [f"  server {s}" for s in self.seen if s.src in CLIENTS or s.dst in CLIENTS]
        return "\n".join(lines)


class Lab:
    def __init__(self, topo, args=None, listen=True):
        self.topo = topo
        args = PROTECT if args is None else args
        self.daemon = topo.start("-i", topo.if_pc, "-i", topo.if_ps, *args)
        self.cdev, self.sdev = f"{topo.tag}c0", f"{topo.tag}s0"
        self.router_mac = link_mac(topo.proxy, topo.if_pc)
        self.router_s_mac = link_mac(topo.proxy, topo.if_ps)
        self.client_mac = link_mac(topo.client, self.cdev)
        self.server_mac = link_mac(topo.server, self.sdev)
        self.listeners = []
        if listen:
            for addr in (SERVER4, SERVER6):
                lsock = topo.listen(addr, 80)
                lsock.setblocking(False)
                self.listeners.append(lsock)
        with topo.inside(topo.client):
            self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.tx.bind((self.cdev, 0))
        self.tap = Tap(topo, topo.server)

    def eth(self, dst=None, type=None):  # noqa: A002 - scapy's field name
        e = Ether(src=self.client_mac, dst=dst or self.router_mac)
        if type is not None:
            e.type = type
        return e

    def counters(self):
        return self.topo.counters(self.daemon)

    def shoot(self, frames, reason=None, count=0, quiet=QUIET_S):
        """Sends the frames from the client's veth; waits until cutthru has
        counted `count` packets under `reason` (at most 2 s), then watches the
        server for `quiet` seconds more."""
        self.tap.drain()
        before = self.counters()
        for f in frames:
            self.tx.send(bytes(f))
        deadline = time.time() + 2
        while reason and time.time() < deadline:
            if self.counters().get(reason, 0) - before.get(reason, 0) >= count:
                break
            time.sleep(0.02)
        time.sleep(quiet)
        after = self.counters()
        counted = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        return Shot(counted, self.tap.drain())

    def accepted(self):
        """Connections the server's service accepted (and closes them)."""
        n = 0
        for lsock in self.listeners:
            for _ in range(100):
                try:
                    conn, _ = lsock.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
        return n

    def close(self):
        self.tap.close()
        self.tx.close()
        for lsock in self.listeners:
            lsock.close()
        self.daemon.assert_clean_exit()


def tcp_seg(flags, sport, seq_low=0, payload=b"", **kw):
    seg = TCP(sport=sport, dport=kw.pop("dport", 80), flags=flags, seq=SEQ_MARK | seq_low,
              window=kw.pop("window", 8192), **kw)
    return seg / Raw(payload) if payload else seg


def ip4(dst=SERVER4, src=CLIENT4, **kw):
    return IP(src=src, dst=dst, **kw)


def ip6(dst=SERVER6, src=CLIENT6, **kw):
    return IPv6(src=src, dst=dst, **kw)


def tcp_bytes(l3, seg):
    """A TCP segment's bytes with its checksum computed over the given
    addresses (for fragments and tunnels, where scapy cannot see both)."""
    return bytes(l3 / seg)[len(bytes(l3)):]


def path_mtu(sock):
    IP_MTU, IPV6_MTU = 14, 24
    if sock.family == socket.AF_INET6:
        return sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
    return sock.getsockopt(socket.IPPROTO_IP, IP_MTU)
