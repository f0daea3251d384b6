/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Header parsing for the intercepting controller. Headers are copied out with
 * bpf_skb_load_bytes() rather than read in place: it works the same whether
 * the headers are in the linear part of the skb or not, and a read past the
 * end of the packet is simply an error, which is what "truncated" means.
 */
#ifndef CUTTHRU_BPF_PARSE_H
#define CUTTHRU_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "cutthru/abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
/* IPv6 extension headers walked before giving up on a packet. */
#define IPV6_EXT_MAX 6
/*
 * VLAN tags still in the frame that are walked. The kernel strips one tag
 * before TC; a frame whose next tag is VLAN 0 is then stripped again and
 * delivered as plain IP after TC, so tags must be looked through here.
 */
#define VLAN_TAGS_MAX 4

enum parse_result {
	PARSE_TCP, /* tuple, ports and flags are valid */
	PARSE_OTHER_L4, /* addresses valid, not TCP (UDP: ports valid) */
	PARSE_FRAGMENT, /* addresses valid, ports unknown */
	PARSE_UNPARSED, /* addresses valid, header chain not walked */
	PARSE_TRUNCATED_L4, /* addresses valid, TCP or IPv6 extension header cut short */
	PARSE_NOT_IP,
	PARSE_MALFORMED, /* no usable IP header */
	PARSE_TOO_MANY_TAGS, /* more VLAN tags than VLAN_TAGS_MAX */
};

struct packet {
	struct cutthru_quad tuple; /* as on the wire: saddr is the sender */
	__u32 l3_off; /* after the Ethernet header and any VLAN tags */
	__u32 l4_off;
	__u8 l4proto;
	__u8 tcp_flags; /* byte 13 of the TCP header */
	__u8 source_routed; /* IPv4 LSRR/SSRR, IPv6 routing header not done */
	__u8 fragment; /* IPv6: a fragment header (offset 0) was walked past */
	__u8 chain_unwalked; /* IPv6: the header chain's end was not reached */
	__u32 gen; /* the policy generation this packet is judged by */
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* A connection request: SYN without ACK, RST or FIN. */
static __always_inline int is_pure_syn(const struct packet *pkt)
{
	return (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)) ==
	       TCP_FLAG_SYN;
}

static __always_inline enum parse_result parse_tcp(struct __sk_buff *skb, struct packet *pkt)
{
	struct tcphdr th;

	if (bpf_skb_load_bytes(skb, pkt->l4_off, &th, sizeof(th)) < 0)
		return PARSE_TRUNCATED_L4;
	if (th.doff < 5)
		return PARSE_TRUNCATED_L4;
	pkt->tuple.sport = th.source;
	pkt->tuple.dport = th.dest;
	/* Flags live in the byte after the data offset. */
	pkt->tcp_flags = ((__u8 *)&th)[13];
	return PARSE_TCP;
}

/* UDP: its ports (tunnels are told by port). Others: nothing more. */
static __always_inline enum parse_result parse_other(struct __sk_buff *skb, struct packet *pkt)
{
	__be16 ports[2];

	if (pkt->l4proto == IPPROTO_UDP &&
	    bpf_skb_load_bytes(skb, pkt->l4_off, ports, sizeof(ports)) == 0) {
		pkt->tuple.sport = ports[0];
		pkt->tuple.dport = ports[1];
	}
	return PARSE_OTHER_L4;
}

static __always_inline int icmp_is_error(const struct packet *pkt, __u8 type)
{
	if (pkt->l4proto == IPPROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	/* icmpv6_rcv() hands every type below 128 without a handler of its own
	 * ("an error of unknown type") to the quoted protocol as well. */
	return pkt->l4proto == IPPROTO_ICMPV6 && type < 128;
}

static __always_inline int is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_AH || nexthdr == IPPROTO_FRAGMENT;
}

enum quote_result {
	QUOTE_NONE, /* not an error the kernel gives to TCP */
	QUOTE_TCP, /* quote holds the quoted segment's tuple */
	QUOTE_UNWALKED, /* addresses valid; more extension headers than walked */
};

/*
 * The quoted IPv6 packet's extension headers, skipped as icmpv6_notify()
 * skips them (ipv6_skip_exthdr()): a later fragment, no next header, or a
 * header past the end gives the error to no protocol. *off: the quoted
 * upper-layer header on QUOTE_TCP.
 */
static __always_inline enum quote_result skip_quoted_ipv6_ext(struct __sk_buff *skb, __u32 *off,
							      __u8 nexthdr)
{
	__u8 ext[4];
	int i;

	for (i = 0; i < IPV6_EXT_MAX; i++) {
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT:
			if (bpf_skb_load_bytes(skb, *off, ext, sizeof(ext)) < 0)
				return QUOTE_NONE;
			if (nexthdr == IPPROTO_FRAGMENT) {
				if (((__u16)ext[2] << 8 | ext[3]) & ~7)
					return QUOTE_NONE;
				*off += 8;
			} else if (nexthdr == IPPROTO_AH) {
				*off += (ext[1] + 2) * 4;
			} else {
				*off += (ext[1] + 1) * 8;
			}
			nexthdr = ext[0];
			break;
		case IPPROTO_TCP:
			return QUOTE_TCP;
		default:
			return QUOTE_NONE;
		}
	}
	if (nexthdr == IPPROTO_TCP)
		return QUOTE_TCP;
	return is_ipv6_ext(nexthdr) ? QUOTE_UNWALKED : QUOTE_NONE;
}

/*
 * An ICMP or ICMPv6 error quoting a TCP segment: fills quote with the
 * quoted segment's tuple (saddr: who sent it).
 */
static __always_inline enum quote_result
parse_icmp_quote(struct __sk_buff *skb, const struct packet *pkt, struct cutthru_quad *quote)
{
	__u32 off = pkt->l4_off + 8; /* type, code, checksum, 4 more */
	__be16 ports[2];
	__u8 type;

	if (bpf_skb_load_bytes(skb, pkt->l4_off, &type, 1) < 0 || !icmp_is_error(pkt, type))
		return QUOTE_NONE;
	quote->family = pkt->tuple.family;
	if (pkt->l4proto == IPPROTO_ICMP) {
		struct iphdr iph;

		if (bpf_skb_load_bytes(skb, off, &iph, sizeof(iph)) < 0 ||
		    iph.protocol != IPPROTO_TCP || iph.ihl < 5)
			return QUOTE_NONE;
		quote->saddr.v4 = iph.saddr;
		quote->daddr.v4 = iph.daddr;
		off += iph.ihl * 4;
	} else {
		enum quote_result res;
		struct ipv6hdr ip6h;

		if (bpf_skb_load_bytes(skb, off, &ip6h, sizeof(ip6h)) < 0)
			return QUOTE_NONE;
		__builtin_memcpy(quote->saddr.bytes, &ip6h.saddr, 16);
		__builtin_memcpy(quote->daddr.bytes, &ip6h.daddr, 16);
		off += sizeof(ip6h);
		res = skip_quoted_ipv6_ext(skb, &off, ip6h.nexthdr);
		if (res != QUOTE_TCP)
			return res;
	}
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
		return QUOTE_NONE;
	quote->sport = ports[0];
	quote->dport = ports[1];
	return QUOTE_TCP;
}

#define IPV4_OPTS_MAX 40

/* Does the IPv4 option list carry a source route (its next hop is elsewhere)? */
static __always_inline int ipv4_source_routed(struct __sk_buff *skb, __u32 off, __u64 len)
{
	__u8 opts[IPV4_OPTS_MAX];
	__u32 i = 0;
	int n;

	/* Hide what the compiler knows of len (ihl > 5) so that the test the
	 * verifier needs (a non-zero size) stays in the program. It is a range
	 * test, len < 4 (len counts 4-byte words): from len == 0 the verifier
	 * of 6.1 learns nothing on the other branch and refuses the load
	 * ("invalid zero-sized read"). */
	asm volatile("" : "+r"(len));
	if (len < 4 || len > IPV4_OPTS_MAX || bpf_skb_load_bytes(skb, off, opts, len) < 0)
		return 0;
	for (n = 0; n < IPV4_OPTS_MAX && i < len && i < IPV4_OPTS_MAX - 1; n++) {
		__u8 type = opts[i];

		if (type == IPOPT_EOL)
			break;
		if (type == IPOPT_NOP) {
			i++;
			continue;
		}
		if (type == IPOPT_LSRR || type == IPOPT_SSRR)
			return 1;
		if (opts[i + 1] < 2)
			break;
		i += opts[i + 1];
	}
	return 0;
}

static __always_inline enum parse_result parse_ipv4(struct __sk_buff *skb, struct packet *pkt)
{
	struct iphdr iph;

	if (bpf_skb_load_bytes(skb, pkt->l3_off, &iph, sizeof(iph)) < 0)
		return PARSE_MALFORMED;
	if (iph.version != 4 || iph.ihl < 5)
		return PARSE_MALFORMED;
	if (pkt->l3_off + iph.ihl * 4 > skb->len)
		return PARSE_MALFORMED;

	pkt->tuple.family = AF_INET;
	pkt->tuple.saddr.v4 = iph.saddr;
	pkt->tuple.daddr.v4 = iph.daddr;
	pkt->l4proto = iph.protocol;
	pkt->l4_off = pkt->l3_off + iph.ihl * 4;
	if (iph.ihl > 5)
		pkt->source_routed =
			ipv4_source_routed(skb, pkt->l3_off + sizeof(iph), (iph.ihl - 5) * 4);

	/* Any fragment, first or not: the TCP header may be split or absent. */
	if (iph.frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PARSE_FRAGMENT;
	if (iph.protocol != IPPROTO_TCP)
		return parse_other(skb, pkt);
	return parse_tcp(skb, pkt);
}

/*
 * After a fragment header: a later fragment has no upper-layer header; a
 * first one (offset 0) is walked on, since the reassembled packet's headers
 * are walked again by the kernel, routing header included. A second
 * fragment header is not walked into.
 */
static __always_inline int ipv6_fragment_header(struct __sk_buff *skb, struct packet *pkt,
						__u8 *nexthdr)
{
	__u8 frag[4];

	if (pkt->fragment || bpf_skb_load_bytes(skb, pkt->l4_off, frag, sizeof(frag)) < 0) {
		pkt->chain_unwalked = 1;
		return 0;
	}
	pkt->fragment = 1;
	if (((__u16)frag[2] << 8 | frag[3]) & ~7)
		return 0;
	*nexthdr = frag[0];
	pkt->l4_off += 8;
	return 1;
}

/* A fragment's upper-layer header may be cut or absent: ports are not read. */
static __always_inline enum parse_result upper_layer(struct __sk_buff *skb, struct packet *pkt,
						     __u8 nexthdr)
{
	pkt->l4proto = nexthdr;
	if (pkt->fragment)
		return PARSE_FRAGMENT;
	if (nexthdr == IPPROTO_TCP)
		return parse_tcp(skb, pkt);
	if (nexthdr == IPPROTO_ESP)
		return PARSE_UNPARSED;
	return parse_other(skb, pkt);
}

/*
 * One hop-by-hop, routing, destination-options or AH header, walked past.
 * Returns 0, or how the chain ends (never PARSE_TCP): PARSE_UNPARSED when
 * the header is not there, PARSE_TRUNCATED_L4 when it runs past the end.
 */
static __always_inline int ipv6_ext_header(struct __sk_buff *skb, struct packet *pkt, __u8 *nexthdr)
{
	__u8 ext[4];

	if (bpf_skb_load_bytes(skb, pkt->l4_off, ext, sizeof(ext)) < 0)
		return PARSE_UNPARSED;
	/* Segments left: the packet goes on to another address. */
	if (*nexthdr == IPPROTO_ROUTING && ext[3])
		pkt->source_routed = 1;
	/* AH counts its length in 4-byte units minus 2. */
	if (*nexthdr == IPPROTO_AH)
		pkt->l4_off += (ext[1] + 2) * 4;
	else
		pkt->l4_off += (ext[1] + 1) * 8;
	if (pkt->l4_off > skb->len)
		return PARSE_TRUNCATED_L4;
	*nexthdr = ext[0];
	pkt->l4proto = *nexthdr;
	return 0;
}

/* Walks hop-by-hop, routing, destination-options, AH and first-fragment
 * headers to the upper-layer header. */
static __always_inline enum parse_result parse_ipv6_chain(struct __sk_buff *skb, struct packet *pkt,
							  __u8 nexthdr)
{
	int i, end;

	for (i = 0; i < IPV6_EXT_MAX; i++) {
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
			end = ipv6_ext_header(skb, pkt, &nexthdr);
			if (end)
				goto unwalked;
			break;
		case IPPROTO_FRAGMENT:
			if (!ipv6_fragment_header(skb, pkt, &nexthdr))
				return PARSE_FRAGMENT;
			break;
		default:
			return upper_layer(skb, pkt, nexthdr);
		}
	}
	end = PARSE_UNPARSED;
unwalked:
	pkt->chain_unwalked = 1;
	return pkt->fragment ? PARSE_FRAGMENT : end;
}

static __always_inline enum parse_result parse_ipv6(struct __sk_buff *skb, struct packet *pkt)
{
	struct ipv6hdr ip6h;

	if (bpf_skb_load_bytes(skb, pkt->l3_off, &ip6h, sizeof(ip6h)) < 0)
		return PARSE_MALFORMED;
	if (ip6h.version != 6)
		return PARSE_MALFORMED;

	pkt->tuple.family = AF_INET6;
	__builtin_memcpy(pkt->tuple.saddr.bytes, &ip6h.saddr, 16);
	__builtin_memcpy(pkt->tuple.daddr.bytes, &ip6h.daddr, 16);
	pkt->l4proto = ip6h.nexthdr;
	pkt->l4_off = pkt->l3_off + sizeof(ip6h);
	return parse_ipv6_chain(skb, pkt, ip6h.nexthdr);
}

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* The ethertype after any VLAN tags in the frame (not skb->protocol, which
 * stops at the first tag left in it). */
static __always_inline enum parse_result parse_packet(struct __sk_buff *skb, struct packet *pkt)
{
	__be16 proto;
	int i;

	if (bpf_skb_load_bytes(skb, ETH_HLEN - 2, &proto, sizeof(proto)) < 0)
		return PARSE_NOT_IP;
	pkt->l3_off = ETH_HLEN;
	for (i = 0; i < VLAN_TAGS_MAX && is_vlan(proto); i++) {
		/* A tag: 2 bytes of TCI, then the next ethertype. */
		if (bpf_skb_load_bytes(skb, pkt->l3_off + 2, &proto, sizeof(proto)) < 0)
			return PARSE_MALFORMED;
		pkt->l3_off += 4;
	}
	if (is_vlan(proto))
		return PARSE_TOO_MANY_TAGS;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, pkt);
	return PARSE_NOT_IP;
}

#endif /* CUTTHRU_BPF_PARSE_H */
