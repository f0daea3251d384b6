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

enum parse_result {
	PARSE_TCP, /* tuple, ports and flags are valid */
	PARSE_OTHER_L4, /* addresses valid, not TCP */
	PARSE_FRAGMENT, /* addresses valid, ports unknown */
	PARSE_UNPARSED, /* addresses valid, header chain not walked */
	PARSE_TRUNCATED_L4, /* addresses valid, TCP header cut short */
	PARSE_NOT_IP,
	PARSE_MALFORMED, /* no usable IP header */
};

struct packet {
	struct cutthru_quad tuple; /* as on the wire: saddr is the sender */
	__u32 l4_off;
	__u8 l4proto;
	__u8 tcp_flags; /* byte 13 of the TCP header */
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

static __always_inline enum parse_result parse_ipv4(struct __sk_buff *skb, struct packet *pkt)
{
	struct iphdr iph;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)) < 0)
		return PARSE_MALFORMED;
	if (iph.version != 4 || iph.ihl < 5)
		return PARSE_MALFORMED;
	if (ETH_HLEN + iph.ihl * 4 > skb->len)
		return PARSE_MALFORMED;

	pkt->tuple.family = AF_INET;
	pkt->tuple.saddr.v4 = iph.saddr;
	pkt->tuple.daddr.v4 = iph.daddr;
	pkt->l4proto = iph.protocol;
	pkt->l4_off = ETH_HLEN + iph.ihl * 4;

	/* Any fragment, first or not: the TCP header may be split or absent. */
	if (iph.frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PARSE_FRAGMENT;
	if (iph.protocol != IPPROTO_TCP)
		return PARSE_OTHER_L4;
	return parse_tcp(skb, pkt);
}

/* Walks hop-by-hop, routing, destination-options and AH headers to the
 * upper-layer header. */
static __always_inline enum parse_result parse_ipv6_chain(struct __sk_buff *skb, struct packet *pkt,
							  __u8 nexthdr)
{
	__u8 ext[2];
	int i;

	for (i = 0; i < IPV6_EXT_MAX; i++) {
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
			if (bpf_skb_load_bytes(skb, pkt->l4_off, ext, sizeof(ext)) < 0)
				return PARSE_UNPARSED;
			/* AH counts its length in 4-byte units minus 2. */
			if (nexthdr == IPPROTO_AH)
				pkt->l4_off += (ext[1] + 2) * 4;
			else
				pkt->l4_off += (ext[1] + 1) * 8;
			nexthdr = ext[0];
			pkt->l4proto = nexthdr;
			break;
		case IPPROTO_FRAGMENT:
			return PARSE_FRAGMENT;
		case IPPROTO_TCP:
			return parse_tcp(skb, pkt);
		case IPPROTO_ESP:
			return PARSE_UNPARSED;
		default:
			return PARSE_OTHER_L4;
		}
	}
	return PARSE_UNPARSED;
}

static __always_inline enum parse_result parse_ipv6(struct __sk_buff *skb, struct packet *pkt)
{
	struct ipv6hdr ip6h;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6h, sizeof(ip6h)) < 0)
		return PARSE_MALFORMED;
	if (ip6h.version != 6)
		return PARSE_MALFORMED;

	pkt->tuple.family = AF_INET6;
	__builtin_memcpy(pkt->tuple.saddr.bytes, &ip6h.saddr, 16);
	__builtin_memcpy(pkt->tuple.daddr.bytes, &ip6h.daddr, 16);
	pkt->l4proto = ip6h.nexthdr;
	pkt->l4_off = ETH_HLEN + sizeof(ip6h);
	return parse_ipv6_chain(skb, pkt, ip6h.nexthdr);
}

static __always_inline enum parse_result parse_packet(struct __sk_buff *skb, struct packet *pkt)
{
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, pkt);
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, pkt);
	return PARSE_NOT_IP;
}

#endif /* CUTTHRU_BPF_PARSE_H */
