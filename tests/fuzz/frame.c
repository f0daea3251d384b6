// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The structured mode (see frame.h). The input is read as a stream of
 * choices; once it runs out every choice is 0, which builds the most
 * ordinary frame (IPv4, TCP). Lengths and checksums are filled in, so that
 * only the choices that mean to break a header break it.
 */
#include <string.h>
#include <netinet/in.h>
#include "frame.h"

#define DEPTH_MAX 3 /* IP headers deep */

struct choices {
	const __u8 *p;
	size_t n;
	const struct frame_pools *pools;
};

struct out {
	__u8 *buf;
	size_t len, cap;
};

static __u8 take(struct choices *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static __u16 take16(struct choices *c)
{
	__u16 hi = take(c);

	return (__u16)(hi << 8 | take(c));
}

static unsigned int pick(struct choices *c, unsigned int n)
{
	return take(c) % n;
}

static void put(struct out *o, const void *src, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->buf + o->len, src, n);
	o->len += n;
}

static void put8(struct out *o, unsigned int v)
{
	__u8 b = (__u8)v;

	put(o, &b, 1);
}

static void put16(struct out *o, unsigned int v)
{
	put8(o, v >> 8);
	put8(o, v);
}

static void put32(struct out *o, __u32 v)
{
	put16(o, v >> 16);
	put16(o, v & 0xffff);
}

static void fill(struct out *o, __u8 byte, size_t n)
{
	while (n-- && o->len < o->cap)
		o->buf[o->len++] = byte;
}

/* Bytes straight from the input. */
static void put_taken(struct choices *c, struct out *o, size_t n)
{
	while (n--)
		put8(o, take(c));
}

static void set16(struct out *o, size_t at, unsigned int v)
{
	if (at + 2 <= o->len) {
		o->buf[at] = (__u8)(v >> 8);
		o->buf[at + 1] = (__u8)v;
	}
}

static __u16 csum(const __u8 *p, size_t len)
{
	__u32 sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static void put_addr(struct choices *c, struct out *o, int family)
{
	const struct frame_pools *pl = c->pools;
	int n = family == AF_INET ? pl->n_v4 : pl->n_v6;
	unsigned int i = pick(c, (unsigned int)n + 2);
	size_t alen = family == AF_INET ? 4 : 16;

	if (i < (unsigned int)n) {
		put(o, family == AF_INET ? pl->v4[i] : pl->v6[i], alen);
	} else if (i == (unsigned int)n) { /* a neighbour of the first (the service) */
		put(o, family == AF_INET ? pl->v4[0] : pl->v6[0], alen - 1);
		put8(o, take(c));
	} else {
		put_taken(c, o, alen);
	}
}

static __u16 take_port(struct choices *c)
{
	unsigned int i = pick(c, (unsigned int)c->pools->n_ports + 1);

	return i < (unsigned int)c->pools->n_ports ? c->pools->ports[i] : take16(c);
}

static void gen_ether(struct choices *c, struct out *o, int depth);
static void gen_ip(struct choices *c, struct out *o, int family, int depth);
static void gen_l4(struct choices *c, struct out *o, int family, __u8 proto, int depth);

/* --- Upper layers. ------------------------------------------------------- */

static void gen_tcp(struct choices *c, struct out *o)
{
	static const __u8 flags[] = { 0x02, 0x02, 0x10, 0x12, 0x04, 0x11, 0x18, 0x00, 0x03, 0x06 };
	unsigned int doff = 5, k = pick(c, 8);
	__u8 fl;

	if (k == 0)
		doff = pick(c, 16);
	else if (k == 1)
		doff = 5 + pick(c, 11);
	put16(o, take_port(c));
	put16(o, take_port(c));
	put32(o, 1000);
	put32(o, 0);
	fl = (__u8)pick(c, sizeof(flags) + 1);
	fl = fl < sizeof(flags) ? flags[fl] : take(c);
	put8(o, doff << 4);
	put8(o, fl);
	put16(o, 65535);
	put32(o, 0); /* checksum (not looked at), urgent pointer */
	if (doff > 5)
		fill(o, 1, (doff - 5) * 4);
	fill(o, 'x', pick(c, 4) * 8);
}

/* The inner packet of a tunnel, by ethertype (0x6558: an Ethernet frame). */
static void gen_inner(struct choices *c, struct out *o, unsigned int type, int depth)
{
	if (depth >= DEPTH_MAX)
		put_taken(c, o, 8);
	else if (type == 0x6558)
		gen_ether(c, o, depth);
	else if (type == 0x0800 || type == 0x86dd)
		gen_ip(c, o, type == 0x0800 ? AF_INET : AF_INET6, depth);
	else
		put_taken(c, o, 8);
}

static const unsigned int inner_types[] = { 0x0800, 0x86dd, 0x6558 };

static unsigned int take_inner_type(struct choices *c)
{
	unsigned int i = pick(c, 4);

	return i < 3 ? inner_types[i] : take16(c);
}

static void gen_udp_tunnel(struct choices *c, struct out *o, __u16 port, int depth)
{
	unsigned int type = 0x6558, opt_words = 0;

	if (port == 4790) { /* VXLAN-GPE: flags, next protocol (1 IPv4, 2 IPv6, 3 Ethernet) */
		unsigned int next = pick(c, 5);

		put32(o, 0x0c000000 | next);
		type = next == 1 ? 0x0800 : next == 2 ? 0x86dd : next == 3 ? 0x6558 : 0;
	} else if (port == 6081) { /* Geneve: option length, protocol type */
		opt_words = pick(c, 3);
		type = take_inner_type(c);
		put16(o, opt_words << 8);
		put16(o, type);
	} else { /* VXLAN: the I flag */
		put32(o, 0x08000000);
	}
	put32(o, 0x00004200); /* VNI 0x42 */
	fill(o, 0, opt_words * 4);
	gen_inner(c, o, type, depth + 1);
}

static void gen_udp(struct choices *c, struct out *o, int depth)
{
	size_t start = o->len;
	__u16 dport;

	put16(o, take_port(c));
	dport = take_port(c);
	put16(o, dport);
	put32(o, 0); /* length, checksum */
	if (dport == 4789 || dport == 8472 || dport == 4790 || dport == 6081)
		gen_udp_tunnel(c, o, dport, depth);
	else
		fill(o, 'u', 8);
	set16(o, start + 4, (unsigned int)(o->len - start));
}

/* An ICMP error and the packet it quotes, cut where errors cut it or not. */
static void gen_icmp(struct choices *c, struct out *o, int family, int depth)
{
	static const __u8 types4[] = { 3, 3, 11, 12, 4, 5, 0, 8 };
	static const __u8 types6[] = { 1, 2, 3, 4, 5, 100, 127, 128, 129, 137 };
	const __u8 *types = family == AF_INET ? types4 : types6;
	unsigned int n = family == AF_INET ? sizeof(types4) : sizeof(types6);
	unsigned int t = pick(c, n + 1), quote_family = family;
	size_t start = o->len;

	put8(o, t < n ? types[t] : take(c));
	put8(o, pick(c, 5));
	put16(o, 0); /* checksum */
	put32(o, 1280); /* unused / next-hop MTU */
	if (pick(c, 8) == 0)
		quote_family = family == AF_INET ? AF_INET6 : AF_INET;
	gen_inner(c, o, quote_family == AF_INET ? 0x0800 : 0x86dd, depth + 1);
	if (pick(c, 4) == 0) { /* an error quotes little of a long packet */
		size_t cut = start + 8 + pick(c, 64);

		o->len = cut < o->len ? cut : o->len;
	}
	set16(o, start + 2, csum(o->buf + start, o->len - start));
}

static void gen_gre(struct choices *c, struct out *o, int depth)
{
	static const unsigned int flag_sets[] = { 0, 0x2000, 0x8000, 0x1000, 0xb000, 0x2001 };
	unsigned int k = pick(c, sizeof(flag_sets) / sizeof(flag_sets[0]) + 1);
	unsigned int flags = k < sizeof(flag_sets) / sizeof(flag_sets[0]) ? flag_sets[k] :
									    take16(c);
	unsigned int type = take_inner_type(c);

	put16(o, flags);
	put16(o, type);
	fill(o, 0,
	     ((flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0)));
	gen_inner(c, o, type, depth + 1);
}

static const __u8 protos4[] = { IPPROTO_TCP, IPPROTO_TCP,  IPPROTO_TCP,	 IPPROTO_UDP,
				IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_IPV6,
				IPPROTO_GRE, IPPROTO_ESP,  IPPROTO_AH,	 IPPROTO_ICMPV6 };
static const __u8 protos6[] = { IPPROTO_TCP,  IPPROTO_TCP,    IPPROTO_TCP,    IPPROTO_UDP,
				IPPROTO_UDP,  IPPROTO_ICMPV6, IPPROTO_ICMPV6, IPPROTO_IPIP,
				IPPROTO_IPV6, IPPROTO_GRE,    IPPROTO_ESP,    IPPROTO_NONE };

static __u8 take_proto(struct choices *c, int family)
{
	const __u8 *protos = family == AF_INET ? protos4 : protos6;
	unsigned int i = pick(c, sizeof(protos4) + 1);

	return i < sizeof(protos4) ? protos[i] : take(c);
}

static void gen_l4(struct choices *c, struct out *o, int family, __u8 proto, int depth)
{
	switch (proto) {
	case IPPROTO_TCP:
		gen_tcp(c, o);
		break;
	case IPPROTO_UDP:
		gen_udp(c, o, depth);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		gen_icmp(c, o, family, depth);
		break;
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
		gen_inner(c, o, proto == IPPROTO_IPIP ? 0x0800 : 0x86dd, depth + 1);
		break;
	case IPPROTO_GRE:
		gen_gre(c, o, depth);
		break;
	case IPPROTO_AH: { /* IPv4 AH: next header, length, SPI, sequence, ICV */
		__u8 next = take_proto(c, family);
		unsigned int words = 1 + pick(c, 4);

		put8(o, next);
		put8(o, words);
		put16(o, 0);
		put32(o, 0x100);
		put32(o, 1);
		fill(o, 0, (words - 1) * 4);
		gen_l4(c, o, family, next, depth);
		break;
	}
	default: /* ESP and the rest: opaque */
		put32(o, 0x100);
		put32(o, 1);
		put_taken(c, o, pick(c, 3) * 8);
		break;
	}
}

/* --- IP. -------------------------------------------------------------------- */

/* IPv4 options: a source route, record route, or bytes from the input. */
static void gen_ipv4_options(struct choices *c, struct out *o)
{
	size_t start = o->len, n;
	unsigned int k = pick(c, 8), i;

	if (k == 4 || k == 5) { /* LSRR, SSRR through 1 or 2 addresses */
		n = 1 + pick(c, 2);
		put8(o, 1); /* a no-op first, as senders align it */
		put8(o, k == 4 ? 0x83 : 0x89);
		put8(o, 3 + 4 * n);
		put8(o, 4);
		for (i = 0; i < n; i++)
			put_addr(c, o, AF_INET);
	} else if (k == 6) { /* record route, one slot */
		put8(o, 7);
		put8(o, 7);
		put8(o, 4);
		fill(o, 0, 4);
	} else if (k == 7) {
		put_taken(c, o, pick(c, 11) * 4);
	}
	fill(o, 0, (4 - (o->len - start) % 4) % 4);
}

static void gen_ipv4(struct choices *c, struct out *o, int depth)
{
	static const unsigned int frags[] = { 0, 0, 0, 0, 0x4000, 0x2000 };
	size_t start = o->len, hlen;
	unsigned int k = pick(c, 8), frag = k < 6 ? frags[k] : take16(c) & 0x1fff;
	__u8 proto = take_proto(c, AF_INET);
	int version = pick(c, 32) ? 4 : pick(c, 16);

	if (k == 7)
		frag |= 0x2000;
	put8(o, 0); /* version and ihl, once the options are known */
	put8(o, 0);
	put16(o, 0); /* total length */
	put16(o, 0x4354);
	put16(o, frag);
	put8(o, 64);
	put8(o, proto);
	put16(o, 0);
	put_addr(c, o, AF_INET);
	put_addr(c, o, AF_INET);
	gen_ipv4_options(c, o);
	hlen = o->len - start;
	if (start < o->len)
		o->buf[start] = (__u8)(version << 4 | (pick(c, 16) ? hlen / 4 : pick(c, 16)));
	set16(o, start + 10, csum(o->buf + start, o->len - start));
	if (!(frag & 0x1fff) || pick(c, 2))
		gen_l4(c, o, AF_INET, proto, depth);
	else
		put_taken(c, o, 8 * (1 + pick(c, 3)));
	set16(o, start + 2, (unsigned int)(o->len - start));
}

/* One IPv6 extension header; the next header byte is patched later. */
static void gen_ipv6_ext(struct choices *c, struct out *o, __u8 type)
{
	unsigned int i, n;

	put8(o, 0);
	switch (type) {
	case 43: { /* routing: type 0, 2, 3 or 4 (segment routing) */
		static const __u8 kinds[] = { 0, 2, 3, 4 };
		unsigned int sl = pick(c, 4);

		n = pick(c, 3);
		put8(o, n * 2);
		put8(o, kinds[pick(c, 4)]);
		put8(o, sl == 0 ? 0 : sl == 1 ? 1 : sl == 2 ? n : take(c));
		put32(o, 0);
		for (i = 0; i < n; i++)
			put_addr(c, o, AF_INET6);
		break;
	}
	case 44: /* fragment: offset 0 or not, more fragments or not */
		put8(o, 0);
		put16(o, (pick(c, 2) ? (take16(c) & 0x1fff) << 3 : 0) | pick(c, 2));
		put32(o, 0x4354);
		break;
	case 51: /* AH: length in 4-byte words minus 2 */
		n = 1 + pick(c, 4);
		put8(o, n);
		put16(o, 0);
		put32(o, 0x100);
		put32(o, 1);
		fill(o, 0, (n - 1) * 4);
		break;
	default: /* hop-by-hop, destination options: one PadN */
		n = pick(c, 3);
		put8(o, n);
		put8(o, 1);
		put8(o, n * 8 + 4);
		fill(o, 0, n * 8 + 4);
		break;
	}
}

static void gen_ipv6(struct choices *c, struct out *o, int depth)
{
	static const __u8 exts[] = { 0, 60, 43, 44, 51, 60 };
	unsigned int k = pick(c, 16), n_ext = k < 8 ? 0 : k < 12 ? 1 : k < 14 ? 2 : 3 + pick(c, 8);
	size_t start = o->len, next_at = start + 6;
	__u8 proto;
	unsigned int i;

	put32(o, (pick(c, 32) ? 6u : pick(c, 16)) << 28);
	put16(o, 0); /* payload length */
	put8(o, 0); /* next header, patched below */
	put8(o, 64);
	put_addr(c, o, AF_INET6);
	put_addr(c, o, AF_INET6);
	for (i = 0; i < n_ext; i++) {
		__u8 type = exts[pick(c, sizeof(exts))];

		if (next_at < o->len)
			o->buf[next_at] = type;
		next_at = o->len;
		gen_ipv6_ext(c, o, type);
	}
	proto = take_proto(c, AF_INET6);
	if (next_at < o->len)
		o->buf[next_at] = proto;
	gen_l4(c, o, AF_INET6, proto, depth);
	set16(o, start + 4, (unsigned int)(o->len - start - 40));
}

static void gen_ip(struct choices *c, struct out *o, int family, int depth)
{
	if (family == AF_INET)
		gen_ipv4(c, o, depth);
	else
		gen_ipv6(c, o, depth);
}

/* --- Ethernet. ------------------------------------------------------------ */

static void gen_ether(struct choices *c, struct out *o, int depth)
{
	static const __u8 macs[12] = { 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0x02 };
	unsigned int tags = pick(c, 10), kind = pick(c, 8), i;

	put(o, macs, sizeof(macs));
	for (i = 0; tags < 7 && i < tags; i++) {
		put16(o, pick(c, 3) ? 0x8100 : 0x88a8);
		put16(o, pick(c, 2) ? 0 : take16(c) & 0x0fff);
	}
	if (kind < 4) {
		put16(o, 0x0800);
		gen_ipv4(c, o, depth);
	} else if (kind < 7) {
		put16(o, 0x86dd);
		gen_ipv6(c, o, depth);
	} else {
		put16(o, take16(c));
		put_taken(c, o, 28);
	}
}

size_t frame_build(const struct frame_pools *pools, const __u8 *data, size_t size, __u8 *frame,
		   size_t cap)
{
	struct choices c = { .p = data, .n = size, .pools = pools };
	struct out o = { .buf = frame, .cap = cap };
	size_t cut;

	gen_ether(&c, &o, 0);
	/* A cut anywhere: truncated headers of every layer. */
	if (pick(&c, 8) == 0) {
		cut = take16(&c) % (o.len + 1);
		o.len = cut;
	}
	return o.len;
}
