/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Ethernet frames for the intercept tests, built from a declarative spec.
 * Headers are assembled in local structs and copied into the frame, so no
 * field is ever written through a misaligned pointer. Checksums are right
 * even though the program under test never looks at them.
 */
#ifndef CUTTHRU_TESTS_PACKETS_H
#define CUTTHRU_TESTS_PACKETS_H

#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/types.h>

#define FRAME_MAX 512

#define PKT_IP_MF 0x2000
#define PKT_IP_DF 0x4000
#define PKT_IP_OFFSET 0x1fff

#define PKT_FIN 0x01
#define PKT_SYN 0x02
#define PKT_RST 0x04
#define PKT_PSH 0x08
#define PKT_ACK 0x10

struct pkt_spec {
	const char *src; /* text address, of the builder's family */
	const char *dst;
	__u8 proto; /* upper-layer protocol, after any extension header */
	__u8 tcp_flags; /* byte 13 of the TCP header */
	__u8 doff; /* TCP header words; 0 means 5, extra words are NOPs */
	__u8 ihl; /* IPv4 header words; 0 means 5, extra words are NOPs */
	__u16 sport; /* host order */
	__u16 dport;
	__u16 frag; /* PKT_IP_MF | offset in 8-byte units (IPv4 and IPv6) */
	__u16 vlan; /* 802.1Q tag before the ethertype; 0 means untagged */
	__u8 ext[8]; /* IPv6 extension headers, in order */
	__u8 n_ext;
	__u16 l3_keep; /* cut the frame this many bytes into L3; 0 keeps all */
	__u16 l4_keep; /* cut the frame this many bytes into L4; 0 keeps all */
	__u16 payload; /* data bytes after the L4 header */
	__u8 segs_left; /* of an IPv6 routing header in ext */
	/* ICMP and ICMPv6 with icmp_type set: an error quoting the TCP segment
	 * its receiver sent, dst:dport -> src:sport, behind quote_ext. */
	__u8 icmp_type;
	__u8 quote_ext[8];
	__u8 n_quote_ext;
};

/* Spec fragments for the test tables. */
#define TCP(s, d, sp, dp, fl)                                                       \
	.src = (s), .dst = (d), .proto = IPPROTO_TCP, .sport = (sp), .dport = (dp), \
	.tcp_flags = (fl)
#define UDP(s, d, sp, dp) .src = (s), .dst = (d), .proto = IPPROTO_UDP, .sport = (sp), .dport = (dp)
#define EXT(...) .ext = { __VA_ARGS__ }, .n_ext = sizeof((__u8[]){ __VA_ARGS__ })
#define ICMP_ERROR(l4, type, s, d, sp, dp) \
	.src = (s), .dst = (d), .proto = (l4), .icmp_type = (type), .sport = (sp), .dport = (dp)
#define QUOTE_EXT(...) .quote_ext = { __VA_ARGS__ }, .n_quote_ext = sizeof((__u8[]){ __VA_ARGS__ })

typedef size_t (*pkt_builder)(const struct pkt_spec *spec, __u8 *frame);

static __u32 csum_add(__u32 sum, const void *data, size_t len)
{
	const __u8 *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	return sum;
}

static __be16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((__u16)~sum);
}

static void pkt_addr(int family, const char *text, void *out)
{
	/* The tables are constant: a typo there is a bug in the test. */
	if (inet_pton(family, text, out) != 1)
		memset(out, 0xee, family == AF_INET ? 4 : 16);
}

/* The destination is lo's address, so frames injected on lo are PACKET_HOST. */
static size_t put_eth(const struct pkt_spec *s, __u8 *p, __u16 ethertype)
{
	static const __u8 dst[ETH_ALEN] = { 0 };
	static const __u8 src[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };
	__be16 type = htons(ethertype);
	size_t off = 2 * ETH_ALEN;

	memcpy(p, dst, ETH_ALEN);
	memcpy(p + ETH_ALEN, src, ETH_ALEN);
	if (s->vlan) {
		__be16 tpid = htons(ETH_P_8021Q), tci = htons(s->vlan);

		memcpy(p + off, &tpid, 2);
		memcpy(p + off + 2, &tci, 2);
		off += 4;
	}
	memcpy(p + off, &type, 2);
	return off + 2;
}

static size_t put_tcp(const struct pkt_spec *s, __u8 *p)
{
	size_t words = s->doff > 5 ? s->doff : 5;
	struct tcphdr th = {
		.source = htons(s->sport),
		.dest = htons(s->dport),
		.seq = htonl(1000),
		.ack_seq = htonl(s->tcp_flags & PKT_ACK ? 2000 : 0),
		.doff = s->doff ? s->doff : 5,
		.window = htons(65535),
	};

	memcpy(p, &th, sizeof(th));
	p[13] = s->tcp_flags;
	memset(p + sizeof(th), 1, words * 4 - sizeof(th));
	return words * 4;
}

static size_t put_udp(const struct pkt_spec *s, __u8 *p)
{
	struct udphdr uh = {
		.source = htons(s->sport),
		.dest = htons(s->dport),
		.len = htons(sizeof(uh) + s->payload),
	};

	memcpy(p, &uh, sizeof(uh));
	return sizeof(uh);
}

/* ESP and the like: an SPI and a sequence number, then opaque bytes. */
static size_t put_opaque(__u8 *p)
{
	static const __u8 spi_seq[8] = { 0, 0, 1, 0, 0, 0, 0, 1 };

	memcpy(p, spi_seq, sizeof(spi_seq));
	return sizeof(spi_seq);
}

static size_t put_ipv4(const struct pkt_spec *s, __u8 *p, size_t *l4_off);

/* IP-in-IP: the inner packet is the same spec as TCP, without options. */
static size_t put_inner_ipv4(const struct pkt_spec *s, __u8 *p)
{
	struct pkt_spec inner = *s;
	size_t l4_off;

	inner.proto = IPPROTO_TCP;
	inner.ihl = 0;
	inner.frag = 0;
	inner.payload = 0;
	return put_ipv4(&inner, p, &l4_off);
}

static size_t put_ipv6(const struct pkt_spec *s, __u8 *p);

/* The segment an ICMP error quotes: sent by its receiver to its sender. */
static size_t put_quote(const struct pkt_spec *s, __u8 *p)
{
	struct pkt_spec seg = {
		.src = s->dst,
		.dst = s->src,
		.proto = IPPROTO_TCP,
		.tcp_flags = PKT_ACK,
		.sport = s->dport,
		.dport = s->sport,
		.n_ext = s->n_quote_ext,
	};
	size_t l4_off;

	memcpy(seg.ext, s->quote_ext, sizeof(seg.ext));
	if (s->proto == IPPROTO_ICMP)
		return put_ipv4(&seg, p, &l4_off);
	return put_ipv6(&seg, p);
}

/* An ICMP or ICMPv6 error: type, code 0, checksum, 4 bytes (an MTU), quote. */
static size_t put_icmp_error(const struct pkt_spec *s, __u8 *p)
{
	__be32 mtu = htonl(1280);

	p[0] = s->icmp_type;
	p[1] = 0;
	memset(p + 2, 0, 2);
	memcpy(p + 4, &mtu, 4);
	return 8 + put_quote(s, p + 8);
}

static int is_icmp_error(const struct pkt_spec *s)
{
	return (s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6) && s->icmp_type;
}

/* Writes the upper-layer header and payload; returns their length. */
static size_t put_l4(const struct pkt_spec *s, __u8 *p)
{
	size_t hlen;

	if (is_icmp_error(s))
		return put_icmp_error(s, p);
	switch (s->proto) {
	case IPPROTO_TCP:
		hlen = put_tcp(s, p);
		break;
	case IPPROTO_UDP:
		hlen = put_udp(s, p);
		break;
	case IPPROTO_IPIP:
		hlen = put_inner_ipv4(s, p);
		break;
	default:
		hlen = put_opaque(p);
		break;
	}
	memset(p + hlen, 'x', s->payload);
	return hlen + s->payload;
}

/* The TCP, UDP or ICMPv6 checksum (sum holds the pseudo-header's
 * addresses), or ICMP's, which has no pseudo-header. */
static void put_l4_csum(const struct pkt_spec *s, __u8 *p, size_t len, __u32 sum)
{
	size_t at = 2; /* ICMP and ICMPv6 */
	__be16 c;

	if (s->proto == IPPROTO_TCP)
		at = offsetof(struct tcphdr, check);
	else if (s->proto == IPPROTO_UDP)
		at = offsetof(struct udphdr, check);
	else if (!is_icmp_error(s))
		return;
	sum = s->proto == IPPROTO_ICMP ? 0 : sum + s->proto + len;
	c = csum_fold(csum_add(sum, p, len));
	memcpy(p + at, &c, 2);
}

static size_t put_ipv4(const struct pkt_spec *s, __u8 *p, size_t *l4_off)
{
	size_t hlen = (s->ihl ? s->ihl : 5) * 4, hbytes = hlen < 20 ? 20 : hlen;
	struct iphdr ip = {
		.version = 4,
		.ihl = s->ihl ? s->ihl : 5,
		.id = htons(0x4354),
		.frag_off = htons(s->frag),
		.ttl = 64,
		.protocol = s->proto,
	};
	size_t l4_len;

	pkt_addr(AF_INET, s->src, &ip.saddr);
	pkt_addr(AF_INET, s->dst, &ip.daddr);
	/* An ihl below 5 still gets a full fixed header on the wire. */
	memset(p + sizeof(ip), 1, hbytes - sizeof(ip));
	l4_len = put_l4(s, p + hbytes);
	ip.tot_len = htons(hbytes + l4_len);
	memcpy(p, &ip, sizeof(ip));
	ip.check = csum_fold(csum_add(0, p, hbytes));
	memcpy(p, &ip, sizeof(ip));
	put_l4_csum(s, p + hbytes, l4_len, csum_add(0, &ip.saddr, 8));
	*l4_off = hbytes;
	return hbytes + l4_len;
}

static size_t cut(const struct pkt_spec *s, size_t l3, size_t l4, size_t end)
{
	if (s->l3_keep)
		return l3 + s->l3_keep;
	if (s->l4_keep)
		return l4 + s->l4_keep;
	return end;
}

static size_t build_ipv4(const struct pkt_spec *s, __u8 *frame)
{
	size_t l3 = put_eth(s, frame, ETH_P_IP), l4_off;
	size_t len = put_ipv4(s, frame + l3, &l4_off);

	return cut(s, l3, l3 + l4_off, l3 + len);
}

/* One IPv6 extension header; returns its length. */
static size_t put_ext(const struct pkt_spec *s, __u8 type, __u8 next, __u8 *p)
{
	__be16 frag = htons((s->frag & PKT_IP_OFFSET) << 3 | !!(s->frag & PKT_IP_MF));

	memset(p, 0, 12);
	p[0] = next;
	switch (type) {
	case IPPROTO_AH:
		p[1] = 1; /* 12 bytes: (1 + 2) * 4, no ICV */
		p[7] = 1; /* SPI */
		return 12;
	case IPPROTO_FRAGMENT:
		memcpy(p + 2, &frag, 2);
		p[7] = 0x54; /* identification */
		return 8;
	case IPPROTO_ROUTING:
		p[2] = 4; /* segment routing without addresses: only the walk reads it */
		p[3] = s->segs_left;
		return 8;
	default: /* hop-by-hop, destination options: one PadN */
		p[2] = 1;
		p[3] = 4;
		return 8;
	}
}

/* The IPv6 header, extension headers and upper layer; *l4_off: where the
 * upper layer starts. Returns the packet's length. */
static size_t put_ipv6_at(const struct pkt_spec *s, __u8 *p, size_t *l4_off)
{
	size_t off = sizeof(struct ipv6hdr);
	struct ipv6hdr ip6 = {
		.version = 6,
		.nexthdr = s->n_ext ? s->ext[0] : s->proto,
		.hop_limit = 64,
	};
	size_t l4_len;
	int i;

	pkt_addr(AF_INET6, s->src, &ip6.saddr);
	pkt_addr(AF_INET6, s->dst, &ip6.daddr);
	for (i = 0; i < s->n_ext; i++)
		off += put_ext(s, s->ext[i], i + 1 < s->n_ext ? s->ext[i + 1] : s->proto, p + off);
	l4_len = put_l4(s, p + off);
	ip6.payload_len = htons(off - sizeof(ip6) + l4_len);
	memcpy(p, &ip6, sizeof(ip6));
	put_l4_csum(s, p + off, l4_len, csum_add(0, &ip6.saddr, 32));
	*l4_off = off;
	return off + l4_len;
}

static size_t put_ipv6(const struct pkt_spec *s, __u8 *p)
{
	size_t l4_off;

	return put_ipv6_at(s, p, &l4_off);
}

static size_t build_ipv6(const struct pkt_spec *s, __u8 *frame)
{
	size_t l3 = put_eth(s, frame, ETH_P_IPV6), l4_off;
	size_t len = put_ipv6_at(s, frame + l3, &l4_off);

	return cut(s, l3, l3 + l4_off, l3 + len);
}

/* An ARP request, who-has dst tell src (IPv4 text addresses). */
static size_t build_arp(const struct pkt_spec *s, __u8 *frame)
{
	static const __u8 head[8] = { 0, 1, 8, 0, 6, 4, 0, 1 }; /* Ethernet, IPv4, request */
	size_t l3 = put_eth(s, frame, ETH_P_ARP);
	__u8 *p = frame + l3;

	memcpy(p, head, sizeof(head));
	memset(p + 8, 0, 20);
	p[8] = 0x02;
	p[13] = 0x02;
	pkt_addr(AF_INET, s->src, p + 14);
	pkt_addr(AF_INET, s->dst, p + 24);
	return l3 + 28;
}

#endif /* CUTTHRU_TESTS_PACKETS_H */
