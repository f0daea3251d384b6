# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The bypass hunt, cases that need a topology of their own: a live proxied
connection to inject into, decapsulating devices on the server, router
settings, or packets that do reach the server (and leave state there).

A test here FAILS when something reached the server namespace that no
proxied connection carried; its message names the packet, what the server
received (and answered) and what cutthru counted.
"""
import time
import warnings
from socket import AF_INET6, inet_pton

import pytest

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_LSRR
from scapy.layers.inet6 import (ICMPv6PacketTooBig, ICMPv6Unknown, IPv6, IPv6ExtHdrDestOpt,
                                IPv6ExtHdrSegmentRouting)
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from adv import PAYLOAD_MARK, ip4, ip6, link_mac, path_mtu, tcp_bytes, tcp_seg
from peers import queue_seqs  # tests/net, on the path adv set
from topo import CLIENT4, CLIENT6, PROXY_C4, PROXY_C6, SERVER4, SERVER6

def addr(family):
    return SERVER4 if family == 4 else SERVER6


def l3(family, **kw):
    return ip4(**kw) if family == 4 else ip6(**kw)


def answered(shot, sport):
    """SYN-ACKs the server's service sent to the client port: proof that the
    crafted SYN reached the service itself."""
    out = []
    for s in shot.sent:
        p = s.packet()
        if TCP in p and p[TCP].sport == 80 and p[TCP].dport == sport and \
                p[TCP].flags & 0x12 == 0x12:
            out.append(s)
    return out


def proxied_connection(lab, family):
    """A real connection through cutthru: (client socket, server socket)."""
    c = lab.topo.connect(addr(family), 80, timeout=3)
    lsock = lab.listeners[0 if family == 4 else 1]
    srv = None
    for _ in range(150):  # up to 3 s
        try:
            srv, _ = lsock.accept()
            break
        except BlockingIOError:
            time.sleep(0.02)
    assert srv is not None, "the proxied connection never reached the server"
    srv.setblocking(True)
    srv.settimeout(3)
    c.sendall(b"hello")
    assert srv.recv(100) == b"hello"
    srv.sendall(b"world")
    assert c.recv(100) == b"world"
    return c, srv


# -- QinQ with two zero VLAN ids --------------------------------------------

@pytest.mark.parametrize("family,outer", [(4, "802.1ad"), (4, "802.1q"), (6, "802.1ad")])
def test_qinq_zero_zero_syn(lab, family, outer):
    """Two VLAN tags, both with id 0 (priority tags). The kernel strips the
    outer tag before TC ingress; after TC the receive path strips the
    remaining id-0 tag itself (net/core/dev.c, "Outer header is 802.1P with
    vlan 0") and delivers the frame as plain IP. cutthru therefore walks the
    tags still in the frame and judges the inner packet: the SYN goes to its
    listener (steer_syn), never to the server."""
    sport = 42000 + family
    tag = Dot1AD(vlan=0) if outer == "802.1ad" else Dot1Q(vlan=0)
    frame = lab.eth() / tag / Dot1Q(vlan=0) / l3(family) / tcp_seg("S", sport, 1)
    shot = lab.shoot([frame], "steer_syn", 1)
    assert shot.counted.get("steer_syn", 0) >= 1, shot.report()
    leaked = shot.from_client()
    assert not leaked, (
        f"BYPASS: {outer} id 0 + 802.1Q id 0 + IPv{family} SYN to {addr(family)}:80 from the "
        f"client's veth; cutthru counted it as pass_not_ip, the router forwarded it and the "
        f"server received it ({len(answered(shot, sport))} SYN-ACK from its service)\n"
        f"{shot.report()}")


# -- a live proxied 4-tuple, out-of-window segments --------------------------

@pytest.mark.parametrize("family", [4, 6])
def test_out_of_window_segments_on_a_live_quad(lab, family):
    """Segments with the 4-tuple of a live proxied connection are steered to
    cutthru's socket for it (steer_flow), which discards what is out of
    window: the server sees none, and the connection goes on."""
    c, srv = proxied_connection(lab, family)
    snd, rcv = queue_seqs(c)
    sport = c.getsockname()[1]
    wild = (snd + 0x80000000) & 0xFFFFFFFF
    to_server = l3(family)
    # A "reply from the server" arriving on the client side: cutthru's
    # socket lookup is by 4-tuple, so it is steered to the server leg.
    from_server = l3(family, src=addr(family), dst=CLIENT4 if family == 4 else CLIENT6)
    segs = {
        "data, sequence 2^31 away": to_server / TCP(
            sport=sport, dport=80, flags="PA", seq=wild, ack=rcv) / Raw(PAYLOAD_MARK),
        "RST, sequence 2^31 away": to_server / TCP(sport=sport, dport=80, flags="R", seq=wild),
        "FIN, sequence 2^31 away": to_server / TCP(
            sport=sport, dport=80, flags="FA", seq=wild, ack=rcv),
        "SYN on the live 4-tuple": to_server / TCP(
            sport=sport, dport=80, flags="S", seq=(snd + 0x40000000) & 0xFFFFFFFF),
        "old data, ack 1 GiB ahead": to_server / TCP(
            sport=sport, dport=80, flags="PA", seq=(snd - 100000) & 0xFFFFFFFF,
            ack=(rcv + 0x40000000) & 0xFFFFFFFF) / Raw(PAYLOAD_MARK),
        "spoofed server RST from the client side": from_server / TCP(
            sport=80, dport=sport, flags="R", seq=wild),
    }
    injected = {bytes(s[TCP])[4:8] for s in segs.values()}
    failures = []
    for name, pkt in segs.items():
        shot = lab.shoot([lab.eth() / pkt], "steer_flow", 1)
        if shot.counted.get("steer_flow", 0) < 1:
            failures.append(f"{name}: not steer_flow\n{shot.report()}")
        for seen in shot.from_client() + [x for x in shot.received if x.src == addr(family)]:
            p = seen.packet()
            if PAYLOAD_MARK in seen.data or TCP in p and bytes(p[TCP])[4:8] in injected:
                failures.append(f"BYPASS {name}: the server received it\n{shot.report()}")
    c.sendall(b"after")
    got = srv.recv(100)
    c.close()
    srv.close()
    assert not failures, "\n".join(failures)
    assert got == b"after", f"the server's application read {got!r}"


# -- ICMP errors quoting a live proxied quad ---------------------------------

@pytest.mark.parametrize("family", [4, 6])
def test_icmp_error_quoting_a_live_quad(lab, family):
    """An ICMP 'fragmentation needed' (ICMPv6 'packet too big') sent from the
    client side, quoting the server's own segment of a live proxied
    connection (server -> client, with the server's current sequence
    number). The server's segments of that connection only ever go to
    cutthru, so no such error can be genuine on the client side. cutthru
    looks into ICMP errors: one quoting a proxied flow goes to the proxy's
    own socket of that flow (steer_icmp), never to the server."""
    c, srv = proxied_connection(lab, family)
    s_snd, _ = queue_seqs(srv)
    port = c.getsockname()[1]
    before = path_mtu(srv)
    seg = TCP(sport=80, dport=port, flags="A", seq=s_snd)
    if family == 4:
        quote = bytes(IP(src=SERVER4, dst=CLIENT4, flags="DF") / seg)[:28]
        err = ip4() / ICMP(type=3, code=4, nexthopmtu=600) / Raw(quote)
    else:
        quote = bytes(IPv6(src=SERVER6, dst=CLIENT6) / seg)
        err = ip6() / ICMPv6PacketTooBig(mtu=1280) / Raw(quote)
    shot = lab.shoot([lab.eth() / err], "steer_icmp", 1)
    after = path_mtu(srv)
    c.close()
    srv.close()
    assert shot.counted.get("steer_icmp", 0) >= 1, shot.report()
    leaked = shot.from_client()
    assert not leaked, (
        f"BYPASS: a forged ICMP{'v6' if family == 6 else ''} error quoting the live quad "
        f"{addr(family)}:80 -> client:{port} (sequence = the server's snd_nxt) reached the server; "
        f"its path MTU for the connection went {before} -> {after}\n{shot.report()}")


# -- tunnels the server decapsulates ----------------------------------------

TUNNELS = {
    # name: (outer family, ip link arguments, frame builder)
    "ipip": (4, ["type", "ipip", "local", SERVER4, "remote", CLIENT4],
             lambda: ip4(proto=4) / ip4() / tcp_seg("S", 42100, 1)),
    "gre": (4, ["type", "gre", "local", SERVER4, "remote", CLIENT4],
            lambda: ip4() / GRE(proto=0x0800) / ip4() / tcp_seg("S", 42101, 2)),
    "sit": (4, ["type", "sit", "local", SERVER4, "remote", CLIENT4],
            lambda: ip4(proto=41) / ip6() / tcp_seg("S", 42102, 3)),
    "ip6tnl-ipip6": (6, ["type", "ip6tnl", "mode", "ipip6", "local", SERVER6, "remote", CLIENT6],
                     lambda: ip6(nh=4) / ip4() / tcp_seg("S", 42103, 4)),
    "ip6tnl-ip6ip6": (6, ["type", "ip6tnl", "mode", "ip6ip6", "local", SERVER6,
                          "remote", CLIENT6],
                      lambda: ip6(nh=41) / ip6() / tcp_seg("S", 42104, 5)),
    "ip6gre": (6, ["type", "ip6gre", "local", SERVER6, "remote", CLIENT6],
               lambda: ip6() / GRE(proto=0x0800) / ip4() / tcp_seg("S", 42105, 6)),
}


@pytest.mark.parametrize("kind", list(TUNNELS))
def test_tunnel_to_protected_address(lab, kind):
    """TCP to the service inside a tunnel whose far end is the server, with a
    matching tunnel device up on the server (so it would decapsulate). The
    outer destination is a protected address: cutthru drops it as
    drop_unparsed. Where this kernel lacks the tunnel type, the device
    cannot be made; the test then shows only that the outer packet never
    reaches the server (a warning says so)."""
    family, link, build = TUNNELS[kind]
    topo = lab.topo
    made = topo.sh(topo.server, "ip", "link", "add", "advtun", *link, check=False)
    if made.returncode == 0:
        topo.sh(topo.server, "ip", "link", "set", "advtun", "up")
        topo.sh(topo.server, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.advtun.rp_filter=0")
    else:
        warnings.warn(f"{kind}: this kernel cannot make the tunnel device "
                      f"({made.stderr.strip()}); decapsulation not exercised")
    frame = lab.eth() / build()
    sport = frame[TCP].sport
    shot = lab.shoot([frame], "drop_unparsed", 1)
    assert shot.counted.get("drop_unparsed", 0) == 1, shot.report()
    assert not shot.from_client() and not answered(shot, sport), (
        f"BYPASS {kind}: the server received the tunnel\n{shot.report()}")


# -- VXLAN (a UDP tunnel) the server decapsulates ----------------------------

@pytest.mark.parametrize("family", [4, 6])
def test_vxlan_to_protected_address(lab, family):
    """TCP SYN to the service inside VXLAN (UDP 4789) to the protected
    address, the server running a VXLAN device (an overlay: container and
    Kubernetes nodes do) with VNI 42. cutthru drops the usual UDP tunnels
    (VXLAN, Geneve) to protected networks as not looked into
    (drop_unparsed), so the server never decapsulates the inner SYN.
    """
    topo = lab.topo
    local = SERVER4 if family == 4 else SERVER6
    topo.sh(topo.server, "ip", "link", "add", "advvx", "type", "vxlan", "id", "42", "dstport",
            "4789", "local", local, "dev", lab.sdev)
    topo.sh(topo.server, "ip", "addr", "add", "198.19.9.2/24", "dev", "advvx")
    topo.sh(topo.server, "ip", "link", "set", "advvx", "up")
    vx_mac = link_mac(topo.server, "advvx")
    sport = 42200 + family
    inner = Ether(src="02:00:5e:00:53:01", dst=vx_mac) / l3(family) / tcp_seg("S", sport, 1)
    frame = lab.eth() / l3(family) / UDP(sport=49152, dport=4789) / VXLAN(vni=42, flags=0x08) / \
        inner
    shot = lab.shoot([frame], "drop_unparsed", 1)
    assert shot.counted.get("drop_unparsed", 0) >= 1, shot.report()
    inside = [s for s in shot.received if s.ifname == "advvx" and s.src in (CLIENT4, CLIENT6)]
    syn_acks = answered(shot, sport)
    assert not inside and not syn_acks, (
        f"BYPASS: IPv{family}/UDP:4789/VXLAN vni 42/Ether/IPv{family} SYN to {local}:80; cutthru "
        f"counted pass_not_tcp, the server decapsulated it ({len(inside)} inner packet(s) on "
        f"advvx) and its service answered {len(syn_acks)} SYN-ACK(s)\n{shot.report()}")


# -- source routing through the router's own address --------------------------

def test_lsrr_via_router_that_accepts_source_routes(lab):
    """A SYN to the router's own address with a loose source route on to the
    server. cutthru drops source-routed packets to its own addresses
    (drop_unparsed): the route would take them past its judgement. Without
    that, with the router's default
    accept_source_route=0 its stack drops it (test_crafted.py), but on a
    router with net.ipv4.conf.{all,IFACE}.accept_source_route=1 the stack
    rewrites the destination to the server and forwards it: the server's
    namespace gets the SYN without cutthru having seen a packet to a
    protected service. (A server with default settings then drops it for its
    source route; one that accepts source routes too answers, with a SYN-ACK
    source-routed back through the router's own address, which cutthru also
    passes as pass_local: a whole handshake around the proxy.)"""
    topo = lab.topo
    topo.sh(topo.proxy, "sysctl", "-qw", "net.ipv4.conf.all.accept_source_route=1",
            f"net.ipv4.conf.{topo.if_pc}.accept_source_route=1")
    seg = tcp_bytes(IP(src=CLIENT4, dst=SERVER4), tcp_seg("S", 42300, 1))
    frame = lab.eth() / IP(src=CLIENT4, dst=PROXY_C4, proto=6,
                           options=[IPOption_LSRR(routers=[SERVER4])]) / Raw(seg)
    shot = lab.shoot([frame], "drop_unparsed", 1)
    assert shot.counted.get("drop_unparsed", 0) >= 1, shot.report()
    leaked = shot.from_client()
    assert not leaked, (
        f"BYPASS (router with accept_source_route=1): IPv4 LSRR [{SERVER4}] SYN to "
        f"{PROXY_C4}; cutthru counted pass_local, the server received it and answered "
        f"{len(answered(shot, 42300))} SYN-ACK(s)\n{shot.report()}")


def test_srh_via_router_with_seg6_enabled(lab):
    """The IPv6 counterpart: a SYN to the router's own address with a segment
    routing header whose next segment is the server; dropped like the IPv4
    source route (drop_unparsed). With the default
    seg6_enabled=0 the router drops it (test_crafted.py); with
    net.ipv6.conf.{all,IFACE}.seg6_enabled=1 it forwards it to the server.
    (A server with default settings drops a segment routing header; one with
    seg6_enabled=1 too answers the SYN.)"""
    topo = lab.topo
    topo.sh(topo.proxy, "sysctl", "-qw", "net.ipv6.conf.all.seg6_enabled=1",
            f"net.ipv6.conf.{topo.if_pc}.seg6_enabled=1")
    seg = tcp_bytes(IPv6(src=CLIENT6, dst=SERVER6), tcp_seg("S", 42301, 2))
    frame = lab.eth() / IPv6(src=CLIENT6, dst=PROXY_C6) / \
        IPv6ExtHdrSegmentRouting(addresses=[SERVER6, PROXY_C6], segleft=1, lastentry=1, nh=6) / \
        Raw(seg)
    shot = lab.shoot([frame], "drop_unparsed", 1)
    assert shot.counted.get("drop_unparsed", 0) >= 1, shot.report()
    leaked = shot.from_client()
    assert not leaked, (
        f"BYPASS (router with seg6_enabled=1): IPv6 SRH [{PROXY_C6}, {SERVER6}] SYN to "
        f"{PROXY_C6}; cutthru counted pass_local, the server received it and answered "
        f"{len(answered(shot, 42301))} SYN-ACK(s)\n{shot.report()}")


def hidden_srh(before):
    """A SYN to the router's own address whose segment routing header (next
    segment: the server) comes after `before`, bytes the cutthru walk does
    not look past. seg6 takes the routing header to follow the IPv6 header
    directly: it forwards from (its offset - 40), so the 40 bytes before it,
    the data of an unknown option (skipped) in a destination-options
    header, are sent as the IPv6 header: ours, client -> server, its next
    header the routing header read as destination options, then the SYN."""
    syn = tcp_bytes(IPv6(src=CLIENT6, dst=SERVER6), tcp_seg("S", 42302, 3))
    # Segments left 1, last entry 0, flags 0x16 and tag (17, 0): at the
    # server, options (0x04 len 0, pad, 0x16 len 17) that skip segment 0;
    # segment 1 is one more option to skip.
    seg1 = bytes([0x16, 14]) + b"\xaa" * 14
    rh = bytes([6, 4, 4, 1, 0, 0x16, 17, 0]) + inet_pton(AF_INET6, SERVER6) + seg1
    inner = rh[:3] + b"\0" + rh[4:] + syn  # as forwarded: segments left 0
    ours = bytes(IPv6(src=CLIENT6, dst=SERVER6, nh=60, plen=len(inner)))
    opts = bytes([43, 5, 0x1e, 44, 0, 0, 0, 0]) + ours
    return before(opts) + rh + syn


SRH_HIDDEN = {
    # name: (next header of the IPv6 header, what comes before the options)
    "behind-atomic-fragment": (44, lambda opts: bytes([60, 0, 0, 0, 0, 0, 0x43, 0x54]) + opts),
    "seventh-header": (60, lambda opts: bytes([60, 0, 1, 4, 0, 0, 0, 0]) * 5 + opts),
}


@pytest.mark.parametrize("where", sorted(SRH_HIDDEN))
def test_srh_hidden_from_the_walk_via_router_with_seg6_enabled(lab, where):
    """The routing header behind a fragment header or as the seventh
    extension header (found by tests/fuzz): cutthru counted these pass_local
    and a router with seg6_enabled=1 processed the routing header and sent
    the packet on to the server. (Sent from (its offset - 40): frames
    injected on a router's lo arrived as the SYN crafted there, which the
    server answered; through this topology's veth they arrived zeroed.)
    Dropped now (drop_unparsed): a chain to the router's own address is
    walked past first fragments' headers, and one not walked to its end is
    not passed."""
    topo = lab.topo
    topo.sh(topo.proxy, "sysctl", "-qw", "net.ipv6.conf.all.seg6_enabled=1",
            f"net.ipv6.conf.{topo.if_pc}.seg6_enabled=1")
    nh, before = SRH_HIDDEN[where]
    frame = lab.eth() / IPv6(src=CLIENT6, dst=PROXY_C6, nh=nh) / Raw(hidden_srh(before))
    shot = lab.shoot([frame], "drop_unparsed", 1)
    assert shot.counted.get("drop_unparsed", 0) >= 1, shot.report()
    leaked = shot.from_client()
    assert not leaked, (
        f"BYPASS (router with seg6_enabled=1): SRH {where} in a packet to {PROXY_C6}; the "
        f"server received {len(leaked)} packet(s) and its service answered "
        f"{len(answered(shot, 42302))} SYN-ACK(s)\n{shot.report()}")


@pytest.mark.parametrize("kind", ["unknown-type", "quote-behind-dstopts"])
def test_icmpv6_error_the_kernel_gives_tcp(lab, kind):
    """ICMPv6 errors the kernel gives to TCP besides types 1 to 4 with a bare
    quote (found by tests/fuzz): any type below 128 ("an error of unknown
    type"), and quotes with extension headers (icmpv6_notify skips them).
    cutthru counted these pass_not_tcp; quoting the server's segment of a
    live proxied connection they must go to the proxy's socket instead."""
    c, srv = proxied_connection(lab, 6)
    s_snd, _ = queue_seqs(srv)
    port = c.getsockname()[1]
    seg = TCP(sport=80, dport=port, flags="A", seq=s_snd)
    if kind == "unknown-type":
        quote = bytes(IPv6(src=SERVER6, dst=CLIENT6) / seg)
        err = ip6() / ICMPv6Unknown(type=5, msgbody=b"\0\0\0\0" + quote)
    else:
        quote = bytes(IPv6(src=SERVER6, dst=CLIENT6) / IPv6ExtHdrDestOpt() / seg)
        err = ip6() / ICMPv6PacketTooBig(mtu=1280) / Raw(quote)
    shot = lab.shoot([lab.eth() / err], "steer_icmp", 1)
    c.close()
    srv.close()
    assert shot.counted.get("steer_icmp", 0) >= 1, shot.report()
    leaked = shot.from_client()
    assert not leaked, (
        f"BYPASS: an ICMPv6 error ({kind}) quoting the live quad {SERVER6}:80 -> client:{port} "
        f"reached the server\n{shot.report()}")

