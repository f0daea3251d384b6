# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Crafted packets with no connection behind them, aimed at the protected
services (198.19.2.2:80, [2001:db8:2::2]:80) from the client's veth.

Each case sends its frames, reads what cutthru counted and what every
device of the server namespace received. A case passes when (1) cutthru
counted the crafted packets under the expected reason and (2) the server
namespace received no packet from a client address (outer or decapsulated)
and its service accepted nothing.

One topology and one cutthru run serve the whole module: no case here leaves
state behind on the server (the cases that do have their own topology, in
test_bypass.py), and counters are read as deltas.
"""
import pytest

from scapy.layers.inet import (ICMP, IP, TCP, IPOption_LSRR, IPOption_NOP, IPOption_RR,
                               IPOption_SSRR, IPOption_Timestamp)
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6PacketTooBig, IPv6,
                                IPv6ExtHdrSegmentRouting)
from scapy.layers.l2 import GRE, LLC, SNAP, Dot1AD, Dot1Q, Dot3
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Raw

from adv import PAYLOAD_MARK, ip4, ip6, tcp_bytes, tcp_seg
from topo import CLIENT4, CLIENT6, PROXY_C4, PROXY_C6, SERVER4, SERVER6

# IPv6 next-header numbers.
HOP, ROUTING, FRAG, ESP_NH, AH_NH, DST, TCP_NH = 0, 43, 44, 50, 51, 60, 6


# -- helpers that build the frames -------------------------------------------

def seg_bytes(family, seg, dst=None):
    """TCP bytes, checksummed for the final destination."""
    if family == 4:
        return tcp_bytes(IP(src=CLIENT4, dst=dst or SERVER4), seg)
    return tcp_bytes(IPv6(src=CLIENT6, dst=dst or SERVER6), seg)


def plain(family, seg):
    return ip4() / seg if family == 4 else ip6() / seg


def ext(nh, kind, body=b""):
    """One IPv6 extension header (hop-by-hop, routing, destination options)
    with nh as its next header, padded to a multiple of 8 bytes."""
    if kind == ROUTING:  # type 0, segments left 0, no addresses
        raw = bytes([nh, 0, 0, 0]) + b"\0" * 4
    else:
        raw = bytes([nh, 0]) + b"\x01\x04\0\0\0\0"  # PadN over 6 bytes
    raw += body
    pad = (-len(raw)) % 8
    raw += b"\0" * pad
    return bytes([raw[0], len(raw) // 8 - 1]) + raw[2:]


def ah(nh):
    """An AH header with a 12-byte ICV (length field: 32-bit words - 2)."""
    return bytes([nh, 4, 0, 0]) + b"\0\0\x10\x01" + b"\0\0\0\x01" + b"\0" * 12


def v6_chain(kinds, seg):
    """IPv6 with the given extension headers before the TCP segment."""
    nhs = list(kinds) + [TCP_NH]
    body = b""
    for kind, nh in zip(kinds, nhs[1:]):
        body += ah(nh) if kind == AH_NH else ext(nh, kind)
    body += seg_bytes(6, seg)
    return ip6(nh=nhs[0]) / Raw(body)


def v4_frags(seg, cuts, order=None, ident=0x4242, opts=None):
    """IPv4 fragments of a TCP segment, cut at the given byte offsets
    (multiples of 8), sent in the given order."""
    data = seg_bytes(4, seg)
    bounds = [0] + list(cuts) + [len(data)]
    pieces = []
    for i in range(len(bounds) - 1):
        lo, hi = bounds[i], bounds[i + 1]
        pieces.append((lo, data[lo:hi], hi < len(data)))
    if order:
        pieces = [pieces[i] for i in order]
    out = []
    for off, chunk, more in pieces:
        kw = {"options": opts} if opts else {}
        out.append(ip4(proto=6, id=ident, flags="MF" if more else 0, frag=off // 8, **kw) /
                   Raw(chunk))
    return out


def v6_frags(seg, cuts, ident=0x4242, pre=()):
    """IPv6 fragments (fragment header after the `pre` headers)."""
    data = seg_bytes(6, seg)
    bounds = [0] + list(cuts) + [len(data)]
    pieces = [(bounds[i], data[bounds[i]:bounds[i + 1]], bounds[i + 1] < len(data))
              for i in range(len(bounds) - 1)]
    out = []
    for off, chunk, more in pieces:
        nhs = list(pre) + [FRAG]
        body = b""
        for kind, nh in zip(pre, nhs[1:]):
            body += ext(nh, kind)
        body += bytes([TCP_NH, 0]) + ((off // 8) << 3 | int(more)).to_bytes(2, "big") + \
            ident.to_bytes(4, "big") + chunk
        out.append(ip6(nh=nhs[0]) / Raw(body))
    return out


# -- the cases ---------------------------------------------------------------

# name: (frames builder (lab) -> [frames], expected reason(s), crafted count)
CASES = {}


def case(name, reason, count=1):
    def reg(fn):
        CASES[name] = (fn, reason, count)
        return fn
    return reg


# No connection: every flag combination but a pure SYN or a plain ACK is
# dropped. A pure SYN goes to cutthru's listener (the client's kernel then
# resets the SYN-ACK, since no socket of its own sent the SYN); so does an
# ACK without SYN or RST, which the listener answers with a reset, as the
# server would (steer_no_conn). Neither reaches the server.
FLAGS = {
    "ack": "A", "rst": "R", "rst-ack": "RA", "fin": "F", "fin-ack": "FA", "urg": "U",
    "no-flags": "", "psh-ack-data": "PA", "syn-ack": "SA", "syn-fin": "SF", "syn-rst": "SR",
    "xmas": "FPU", "all-flags": "FSRPAUEC",
}
for fam in (4, 6):
    for i, (label, flags) in enumerate(FLAGS.items()):
        def build(lab, fam=fam, flags=flags, i=i):
            payload = PAYLOAD_MARK if "P" in flags else b""
            urgptr = 1 if "U" in flags else 0
            seg = tcp_seg(flags, 40100 + i, i, payload, ack=0x1000 if "A" in flags else 0,
                          urgptr=urgptr)
            return [lab.eth() / plain(fam, seg)]
        answered = "A" in flags and not set("SR") & set(flags)
        CASES[f"v{fam}-{label}"] = (build, "steer_no_conn" if answered else "drop_no_conn", 1)

    def syn_data(lab, fam=fam):
        return [lab.eth() / plain(fam, tcp_seg("S", 40200, 1, PAYLOAD_MARK))]
    CASES[f"v{fam}-syn-with-data"] = (syn_data, "steer_syn", 1)

    def syn_psh_urg_data(lab, fam=fam):
        return [lab.eth() / plain(fam, tcp_seg("SPUEC", 40201, 2, PAYLOAD_MARK, urgptr=4))]
    CASES[f"v{fam}-syn-psh-urg-ece-cwr-data"] = (syn_psh_urg_data, "steer_syn", 1)


# IPv4 fragments: dropped whatever they carry, since the server would
# reassemble them.
@case("v4-frag-tcp-header-split", "drop_fragment", 2)
def _(lab):
    return [lab.eth() / f for f in v4_frags(tcp_seg("S", 40300, 1, PAYLOAD_MARK), [8])]


@case("v4-frag-header-fragment-sent-last", "drop_fragment", 3)
def _(lab):
    return [lab.eth() / f for f in v4_frags(tcp_seg("PA", 40301, 2, PAYLOAD_MARK * 2, ack=1),
                                            [16, 32], order=[2, 1, 0])]


@case("v4-frag-header-only-in-later-fragment", "drop_fragment", 2)
def _(lab):
    # The offset-0 fragment is 8 bytes of junk; the TCP header of a SYN to
    # :80 sits at the start of the second fragment (offset 8), where a parser
    # reading every fragment's payload as TCP would find it.
    seg = seg_bytes(4, tcp_seg("S", 40302, 3))
    return [lab.eth() / ip4(proto=6, id=0x4343, flags="MF", frag=0) / Raw(b"\0" * 8),
            lab.eth() / ip4(proto=6, id=0x4343, frag=1) / Raw(seg)]


@case("v4-frag-overlap-rewrites-port", "drop_fragment", 3)
def _(lab):
    # First a header to :8080 (unprotected), then an overlapping fragment at
    # offset 0 with the header of a SYN to :80, then the tail.
    harmless = seg_bytes(4, tcp_seg("S", 40303, 4, PAYLOAD_MARK, dport=8080))
    evil = seg_bytes(4, tcp_seg("S", 40303, 4, PAYLOAD_MARK))
    return [lab.eth() / ip4(proto=6, id=0x4444, flags="MF", frag=0) / Raw(harmless[:24]),
            lab.eth() / ip4(proto=6, id=0x4444, flags="MF", frag=0) / Raw(evil[:24]),
            lab.eth() / ip4(proto=6, id=0x4444, frag=3) / Raw(evil[24:])]


@case("v4-frag-overlap-rewrites-flags", "drop_fragment", 2)
def _(lab):
    ack = seg_bytes(4, tcp_seg("A", 40304, 5, ack=1))
    syn = seg_bytes(4, tcp_seg("S", 40304, 5))
    return [lab.eth() / ip4(proto=6, id=0x4545, flags="MF", frag=0) / Raw(ack[:16]),
            lab.eth() / ip4(proto=6, id=0x4545, frag=1) / Raw(syn[8:])]


@case("v4-frag-lone-tail-looks-like-tcp", "drop_fragment", 1)
def _(lab):
    return [lab.eth() / ip4(proto=6, id=0x4646, frag=3) /
            Raw(seg_bytes(4, tcp_seg("S", 40305, 6)))]


@case("v4-frag-with-options", "drop_fragment", 2)
def _(lab):
    return [lab.eth() / f for f in v4_frags(tcp_seg("S", 40306, 7), [8],
                                            opts=[IPOption_NOP()] * 4)]


# IPv4 options are walked to the TCP header.
@case("v4-options-nop-syn", "steer_syn")
def _(lab):
    return [lab.eth() / ip4(options=[IPOption_NOP()] * 8) / tcp_seg("S", 40400, 1)]


@case("v4-options-record-route-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / ip4(options=[IPOption_RR(routers=["0.0.0.0"] * 3)]) /
            tcp_seg("A", 40401, 2, ack=1)]


@case("v4-options-40-bytes-timestamp-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / ip4(options=[IPOption_Timestamp(flg=0, timestamp=[0] * 9)]) /
            tcp_seg("A", 40402, 3, ack=1)]


@case("v4-options-lsrr-to-server-ack", "drop_no_conn")
def _(lab):
    return [lab.eth() / ip4(options=[IPOption_LSRR(routers=[PROXY_C4], pointer=8)]) /
            tcp_seg("A", 40403, 4, ack=1)]


@case("v4-options-lsrr-via-router-syn", "drop_unparsed")
def _(lab):
    # To the router's own address, loose source route on to the server: the
    # router's stack refuses it (accept_source_route is 0 by default); see
    # test_bypass.py for a router that accepts source routes.
    seg = seg_bytes(4, tcp_seg("S", 40404, 5))
    return [lab.eth() / IP(src=CLIENT4, dst=PROXY_C4, proto=6,
                           options=[IPOption_LSRR(routers=[SERVER4])]) / Raw(seg)]


@case("v4-options-ssrr-via-router-syn", "drop_unparsed")
def _(lab):
    seg = seg_bytes(4, tcp_seg("S", 40405, 6))
    return [lab.eth() / IP(src=CLIENT4, dst=PROXY_C4, proto=6,
                           options=[IPOption_SSRR(routers=[SERVER4])]) / Raw(seg)]


@case("v4-ihl-beyond-packet", "drop_malformed")
def _(lab):
    return [lab.eth(type=0x0800) / Raw(bytes(ip4(ihl=15, proto=6, len=28) / Raw(b"\0" * 8)))]


@case("v4-ihl-below-5", "drop_malformed")
def _(lab):
    return [lab.eth(type=0x0800) / Raw(bytes(ip4(ihl=4) / tcp_seg("S", 40406, 7)))]


@case("v4-tcp-header-truncated", "drop_malformed")
def _(lab):
    return [lab.eth() / ip4(proto=6) / Raw(seg_bytes(4, tcp_seg("S", 40407, 8))[:12])]


@case("v4-tcp-doff-below-5", "drop_malformed")
def _(lab):
    return [lab.eth() / ip4() / tcp_seg("S", 40408, 9, dataofs=4)]


@case("v4-ethertype-but-ipv6-inside", "drop_malformed")
def _(lab):
    return [lab.eth(type=0x0800) / ip6() / tcp_seg("S", 40409, 10)]


@case("v6-ethertype-but-ipv4-inside", "drop_malformed")
def _(lab):
    return [lab.eth(type=0x86DD) / ip4() / tcp_seg("S", 40410, 11)]


# IPsec. IPv6 walks AH to the TCP header and drops ESP to a protected
# network (README, Verdicts); IPv4 is checked the same way here.
@case("v4-ah-syn", ("steer_syn", "drop_unparsed"))
def _(lab):
    return [lab.eth() / ip4(proto=51) / Raw(ah(TCP_NH) + seg_bytes(4, tcp_seg("S", 40411, 12)))]


@case("v4-ah-ack", ("drop_no_conn", "drop_unparsed"))
def _(lab):
    return [lab.eth() / ip4(proto=51) / Raw(ah(TCP_NH) +
                                            seg_bytes(4, tcp_seg("A", 40412, 13, ack=1)))]


@case("v4-esp", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip4(proto=50) / Raw(b"\0\0\x10\x01\0\0\0\x01" +
                                            seg_bytes(4, tcp_seg("S", 40413, 14)))]


# IPv6 extension chains before TCP.
@case("v6-hop-by-hop-syn", "steer_syn")
def _(lab):
    return [lab.eth() / v6_chain([HOP], tcp_seg("S", 40500, 1))]


@case("v6-hop-by-hop-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / v6_chain([HOP], tcp_seg("A", 40501, 2, ack=1))]


@case("v6-routing-type0-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / v6_chain([ROUTING], tcp_seg("A", 40502, 3, ack=1))]


@case("v6-dstopt-routing-dstopt-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / v6_chain([DST, ROUTING, DST], tcp_seg("A", 40503, 4, ack=1))]


@case("v6-hop-routing-dstopt-ah-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / v6_chain([HOP, ROUTING, DST, AH_NH], tcp_seg("A", 40504, 5, ack=1))]


@case("v6-hop-by-hop-not-first-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / v6_chain([DST, HOP], tcp_seg("A", 40505, 6, ack=1))]


@case("v6-chain-of-5-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / v6_chain([HOP, DST, DST, ROUTING, DST], tcp_seg("A", 40506, 7, ack=1))]


# README: "an extension chain longer than 6" is unparsed; the walk gives up
# after 6 headers, so a chain of exactly 6 is unparsed too. Either drop is
# fail-closed.
@case("v6-chain-of-6-ack", ("drop_unparsed", "drop_no_conn"))
def _(lab):
    return [lab.eth() / v6_chain([HOP] + [DST] * 5, tcp_seg("A", 40507, 8, ack=1))]


@case("v6-chain-of-8-syn", "drop_unparsed")
def _(lab):
    return [lab.eth() / v6_chain([HOP] + [DST] * 7, tcp_seg("S", 40508, 9))]


@case("v6-esp", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip6(nh=ESP_NH) / Raw(b"\0\0\x10\x01\0\0\0\x01" +
                                            seg_bytes(6, tcp_seg("S", 40509, 10)))]


@case("v6-dstopt-length-beyond-packet", "drop_malformed")
def _(lab):
    return [lab.eth() / ip6(nh=DST) / Raw(bytes([TCP_NH, 255]) + b"\x01\x04\0\0\0\0" +
                                          seg_bytes(6, tcp_seg("S", 40510, 11)))]


@case("v6-srh-via-router-syn", "drop_unparsed")
def _(lab):
    # To the router, segment routing header on to the server: refused by the
    # router's stack (seg6_enabled is 0 by default); see test_bypass.py.
    seg = seg_bytes(6, tcp_seg("S", 40511, 12))
    return [lab.eth() / IPv6(src=CLIENT6, dst=PROXY_C6) /
            IPv6ExtHdrSegmentRouting(addresses=[SERVER6, PROXY_C6], segleft=1, lastentry=1,
                                     nh=TCP_NH) / Raw(seg)]


# IPv6 fragments, including an atomic fragment (offset 0, no more fragments:
# the server would take it whole).
@case("v6-frag-tcp-header-split", "drop_fragment", 2)
def _(lab):
    return [lab.eth() / f for f in v6_frags(tcp_seg("S", 40600, 1, PAYLOAD_MARK), [8])]


@case("v6-frag-atomic-syn", "drop_fragment")
def _(lab):
    return [lab.eth() / f for f in v6_frags(tcp_seg("S", 40601, 2), [])]


@case("v6-frag-atomic-ack", "drop_fragment")
def _(lab):
    return [lab.eth() / f for f in v6_frags(tcp_seg("A", 40602, 3, ack=1), [])]


@case("v6-frag-after-hop-and-dstopt", "drop_fragment", 2)
def _(lab):
    return [lab.eth() / f for f in v6_frags(tcp_seg("S", 40603, 4), [8], pre=[HOP, DST])]


@case("v6-frag-overlap-rewrites-flags", "drop_fragment", 2)
def _(lab):
    syn = seg_bytes(6, tcp_seg("S", 40604, 5))
    first = v6_frags(tcp_seg("A", 40604, 5, ack=1), [16])[0]
    return [lab.eth() / first,
            lab.eth() / ip6(nh=FRAG) / Raw(bytes([TCP_NH, 0]) + (1 << 3).to_bytes(2, "big") +
                                           (0x4242).to_bytes(4, "big") + syn[8:])]


# 802.1Q and QinQ. The router has no VLAN devices. The kernel strips the
# outer tag before TC ingress, so cutthru classifies singly tagged frames
# like untagged ones; a frame whose VLAN id is not 0 is then dropped by the
# router's stack (no device for it). Double tags with a non-zero id are
# dropped the same way. (Two zero tags: test_bypass.py.)
@case("vlan0-syn", "steer_syn")
def _(lab):
    return [lab.eth() / Dot1Q(vlan=0) / ip4() / tcp_seg("S", 40700, 1)]


@case("vlan0-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / Dot1Q(vlan=0) / ip4() / tcp_seg("A", 40701, 2, ack=1)]


@case("vlan0-v6-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / Dot1Q(vlan=0) / ip6() / tcp_seg("A", 40702, 3, ack=1)]


@case("vlan7-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / Dot1Q(vlan=7) / ip4() / tcp_seg("A", 40703, 4, ack=1)]


@case("vlan7-unprotected-port-dropped-by-router", "pass_unprotected")
def _(lab):
    return [lab.eth() / Dot1Q(vlan=7) / ip4() / tcp_seg("S", 40704, 5, dport=8080)]


@case("dot1ad0-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / Dot1AD(vlan=0) / ip4() / tcp_seg("A", 40705, 6, ack=1)]


@case("qinq-7-0-ack", "steer_no_conn")
def _(lab):
    return [lab.eth() / Dot1AD(vlan=7) / Dot1Q(vlan=0) / ip4() / tcp_seg("A", 40706, 7, ack=1)]


@case("qinq-0-7-syn", "steer_syn")
def _(lab):
    return [lab.eth() / Dot1AD(vlan=0) / Dot1Q(vlan=7) / ip4() / tcp_seg("S", 40707, 8)]


@case("llc-snap-ipv4-syn", "pass_not_ip")
def _(lab):
    return [Dot3(src=lab.client_mac, dst=lab.router_mac) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) /
            SNAP(OUI=0, code=0x0800) / ip4() / tcp_seg("S", 40708, 9)]


@case("pppoe-session-ipv4-syn", "pass_not_ip")
def _(lab):
    return [lab.eth() / PPPoE(sessionid=1) / PPP(proto=0x0021) / ip4() /
            tcp_seg("S", 40709, 10)]


# Frames to the server veth's MAC, injected on the client side. The client's
# veth is a point-to-point link to the router's if_pc: there is no L2 path to
# the server at all (the router routes, it does not bridge). if_pc receives
# such a frame as PACKET_OTHERHOST; TC ingress still classifies it, and the
# router's IP layer then drops it whatever cutthru said (see the unprotected
# port: passed by cutthru, still never forwarded).
@case("server-mac-syn", "steer_syn")
def _(lab):
    return [lab.eth(dst=lab.server_mac) / ip4() / tcp_seg("S", 40800, 1)]


@case("server-mac-ack", "steer_no_conn")
def _(lab):
    return [lab.eth(dst=lab.server_mac) / ip4() / tcp_seg("A", 40801, 2, ack=1)]


@case("server-mac-v6-ack", "steer_no_conn")
def _(lab):
    return [lab.eth(dst=lab.server_mac) / ip6() / tcp_seg("A", 40802, 3, ack=1)]


@case("server-mac-unprotected-port", "pass_unprotected")
def _(lab):
    return [lab.eth(dst=lab.server_mac) / ip4() / tcp_seg("S", 40803, 4, dport=8080)]


@case("router-server-side-mac-unprotected-port", "pass_unprotected")
def _(lab):
    return [lab.eth(dst=lab.router_s_mac) / ip4() / tcp_seg("S", 40804, 5, dport=8080)]


@case("broadcast-mac-unprotected-port", "pass_unprotected")
def _(lab):
    return [lab.eth(dst="ff:ff:ff:ff:ff:ff") / ip4() / tcp_seg("S", 40805, 6, dport=8080)]


# Tunnels to the protected address (the server has no tunnel devices here;
# test_bypass.py adds them): dropped because the outer destination is a
# protected network.
@case("ipip-syn", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip4(proto=4) / ip4() / tcp_seg("S", 40900, 1)]


@case("gre-ipv4-syn", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip4() / GRE(proto=0x0800) / ip4() / tcp_seg("S", 40901, 2)]


@case("sit-ipv6-syn", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip4(proto=41) / ip6() / tcp_seg("S", 40902, 3)]


@case("ip6ip6-syn", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip6(nh=41) / ip6() / tcp_seg("S", 40903, 4)]


@case("ipip6-syn", "drop_unparsed")
def _(lab):
    return [lab.eth() / ip6(nh=4) / ip4() / tcp_seg("S", 40904, 5)]


@case("ip6-dstopt-gre-syn", "drop_unparsed")
def _(lab):
    inner = bytes(GRE(proto=0x86DD) / ip6() / tcp_seg("S", 40905, 6))
    return [lab.eth() / ip6(nh=DST) / Raw(ext(47, DST) + inner)]


# ICMP errors quoting a protected quad (a segment from the service to the
# client, as the server would have sent it). cutthru does not look into
# ICMP: they reach the server, whose TCP looks the quad up (see
# test_bypass.py for what it does with one quoting a live connection).
@case("icmp-frag-needed-quoting-protected-quad", "drop_no_conn")
def _(lab):
    quote = bytes(IP(src=SERVER4, dst=CLIENT4, flags="DF") /
                  TCP(sport=80, dport=41000, flags="SA", seq=0x5EED0001))[:28]
    return [lab.eth() / ip4() / ICMP(type=3, code=4, nexthopmtu=576) / Raw(quote)]


@case("icmp-port-unreach-quoting-protected-quad", "drop_no_conn")
def _(lab):
    quote = bytes(IP(src=SERVER4, dst=CLIENT4) /
                  TCP(sport=80, dport=41001, flags="SA", seq=0x5EED0002))[:28]
    return [lab.eth() / ip4() / ICMP(type=3, code=3) / Raw(quote)]


@case("icmpv6-too-big-quoting-protected-quad", "drop_no_conn")
def _(lab):
    quote = bytes(IPv6(src=SERVER6, dst=CLIENT6) /
                  TCP(sport=80, dport=41002, flags="SA", seq=0x5EED0003))
    return [lab.eth() / ip6() / ICMPv6PacketTooBig(mtu=1280) / Raw(quote)]


@case("icmpv6-unreach-quoting-protected-quad", "drop_no_conn")
def _(lab):
    quote = bytes(IPv6(src=SERVER6, dst=CLIENT6) /
                  TCP(sport=80, dport=41003, flags="SA", seq=0x5EED0004))
    return [lab.eth() / ip6() / ICMPv6DestUnreach(code=4) / Raw(quote)]


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_packet_never_reaches_the_server(shared_lab, name):
    build, reason, count = CASES[name]
    reasons = reason if isinstance(reason, tuple) else (reason,)
    shot = shared_lab.shoot(build(shared_lab), reasons[0], count)
    leaked = shot.from_client()
    assert not leaked, (f"BYPASS {name}: the server namespace received {len(leaked)} "
                        f"packet(s) (expected verdict {'/'.join(reasons)})\n{shot.report()}")
    counted = sum(shot.counted.get(r, 0) for r in reasons)
    assert counted == count, (f"{name}: expected {count} x {'/'.join(reasons)}\n"
                              f"{shot.report()}")
    assert shared_lab.accepted() == 0, f"{name}: the service accepted a connection"


@pytest.mark.parametrize("family", [4, 6])
def test_control_unprotected_port_does_reach_the_server(shared_lab, family):
    """The harness itself: the same crafted SYN to an unprotected port is
    forwarded, and the server's tap sees it."""
    shot = shared_lab.shoot([shared_lab.eth() / plain(family, tcp_seg("S", 40999, family,
                                                                       dport=8080))],
                            "pass_unprotected", 1)
    assert shot.counted.get("pass_unprotected", 0) >= 1, shot.report()
    assert len(shot.from_client()) == 1, shot.report()
