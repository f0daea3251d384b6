// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fuzzer's oracle (see oracle.h). Every read is bounds-checked against
 * the bytes that are there; nothing here trusts a length field.
 *
 * Where the answer is not certain it leans to "exposed", as the security
 * model does ("what cutthru cannot look into is dropped when it touches a
 * protected network"): IPv4 and IPv6 length fields are ignored, so the
 * oracle sees at least what the program sees; every source-route option is
 * taken as valid; a chain of IPv6 headers is walked to its end however long.
 *
 * Two judgements of the model are written down here, because the oracle
 * would otherwise call them bypasses:
 * - A tunnel addressed to an unprotected host is decapsulated there, and
 *   what comes out is routed from there: in the model it reaches a
 *   protected server only through an interface cutthru is attached to. Its
 *   inner packet is walked (for the innermost destination) but not judged.
 * - A packet to the router's own address is the local stack's. A tunnel
 *   ending on the router comes out of a tunnel device, which is "an
 *   interface clients are reached through" and so is to be attached too.
 *   What is not judged again is a packet the router source-routes onward.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "oracle.h"

#define ETH_HDR 14
#define TAG_LEN 4
#define IPV4_MIN 20
#define IPV6_LEN 40
#define ORACLE_DEPTH_MAX 4 /* IP headers deep: tunnels in tunnels */

#define NH_HOPOPTS 0
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_AH 51
#define NH_NONE 59
#define NH_DSTOPTS 60

struct walk {
	const struct oracle_config *cfg;
	struct oracle_result *res;
	int depth; /* IP headers entered */
};

/* What an IP header said, for the layers above it. */
struct ip_layer {
	int family;
	const __u8 *daddr;
	int protected_net; /* daddr lies in a protected network */
};

static __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static void path_add(struct walk *w, const char *fmt, ...)
{
	size_t used = strlen(w->res->path);
	va_list ap;

	if (used + 2 >= sizeof(w->res->path))
		return;
	if (used)
		w->res->path[used++] = ' ';
	va_start(ap, fmt);
	vsnprintf(w->res->path + used, sizeof(w->res->path) - used, fmt, ap);
	va_end(ap);
}

static int in_prefix(const struct oracle_prefix *pfx, int family, const __u8 *addr)
{
	int full = pfx->plen / 8, rest = pfx->plen % 8;

	if (pfx->family != family || memcmp(pfx->addr, addr, full))
		return 0;
	return !rest || ((pfx->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

static int in_any(const struct oracle_prefix *pfx, int n, int family, const __u8 *addr)
{
	int i;

	for (i = 0; i < n; i++)
		if (in_prefix(&pfx[i], family, addr))
			return 1;
	return 0;
}

static int is_local(const struct walk *w, int family, const __u8 *addr)
{
	return in_any(w->cfg->locals, w->cfg->n_locals, family, addr);
}

static int in_protected_net(const struct walk *w, int family, const __u8 *addr)
{
	return in_any(w->cfg->services, w->cfg->n_services, family, addr);
}

static int is_service(const struct walk *w, int family, const __u8 *addr, __u16 port)
{
	int i;

	for (i = 0; i < w->cfg->n_services; i++)
		if (w->cfg->services[i].port == port &&
		    in_prefix(&w->cfg->services[i], family, addr))
			return 1;
	return 0;
}

static void set_dest(struct walk *w, int family, const __u8 *addr)
{
	struct oracle_dest *d = &w->res->inner;

	memset(d, 0, sizeof(*d));
	d->family = (__u8)family;
	memcpy(d->addr, addr, family == AF_INET ? 4 : 16);
	d->port = -1;
}

static enum oracle_rule judge_ether(struct walk *w, const __u8 *p, size_t len);
static enum oracle_rule judge_ipv4(struct walk *w, const __u8 *p, size_t len);
static enum oracle_rule judge_ipv6(struct walk *w, const __u8 *p, size_t len);

/* --- Tunnels: only walked, for the innermost destination. ---------------- */

static void walk_inner(struct walk *w, int ethertype, const __u8 *p, size_t len)
{
	if (w->depth >= ORACLE_DEPTH_MAX)
		return;
	if (ethertype == 0x0800)
		judge_ipv4(w, p, len);
	else if (ethertype == 0x86dd)
		judge_ipv6(w, p, len);
	else if (ethertype == 0x6558)
		judge_ether(w, p, len);
}

static void walk_gre(struct walk *w, const __u8 *p, size_t len)
{
	size_t hlen = 4;
	__u16 flags;

	if (len < 4)
		return;
	flags = rd16(p);
	/* Checksum, key and sequence number, each 4 bytes when present. */
	hlen += (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
	path_add(w, "gre/%#x", rd16(p + 2));
	if (len >= hlen)
		walk_inner(w, rd16(p + 2), p + hlen, len - hlen);
}

/* The UDP tunnels of the model: the payload after their header. */
static int is_udp_tunnel(__u16 port)
{
	return port == 4789 || port == 8472 || port == 4790 || port == 6081;
}

/* UDP tunnels whose inner packet the model does not walk (L2TP, ESP-in-UDP,
 * MPLS-in-UDP, GUE): a protected server decapsulates them all the same. */
static int is_opaque_udp_tunnel(__u16 port)
{
	return port == 1701 || port == 4500 || port == 6635 || port == 6080;
}

static void walk_udp_tunnel(struct walk *w, __u16 port, const __u8 *p, size_t len)
{
	static const int gpe_next[] = { 0, 0x0800, 0x86dd, 0x6558 };
	size_t hlen = 8;

	if (len < hlen)
		return;
	if (port == 4790) { /* VXLAN-GPE: next protocol in byte 3 */
		path_add(w, "vxlan-gpe");
		walk_inner(w, p[3] < 4 ? gpe_next[p[3]] : 0, p + hlen, len - hlen);
	} else if (port == 6081) { /* Geneve: options, then a protocol type */
		hlen += (size_t)(p[0] & 0x3f) * 4;
		path_add(w, "geneve");
		if (len >= hlen)
			walk_inner(w, rd16(p + 2), p + hlen, len - hlen);
	} else {
		path_add(w, "vxlan");
		walk_inner(w, 0x6558, p + hlen, len - hlen);
	}
}

static enum oracle_rule tunnel(const struct ip_layer *ip)
{
	return ip->protected_net ? ORACLE_TUNNEL_PROTECTED : ORACLE_TUNNEL;
}

/* --- Upper layers. ------------------------------------------------------- */

static enum oracle_rule judge_tcp(struct walk *w, const struct ip_layer *ip, const __u8 *p,
				  size_t len)
{
	__u16 dport;

	path_add(w, "tcp");
	w->res->inner.proto = IPPROTO_TCP;
	if (len < 4)
		return ip->protected_net ? ORACLE_TCP_NO_PORTS : ORACLE_TCP;
	dport = rd16(p + 2);
	w->res->inner.port = dport;
	return is_service(w, ip->family, ip->daddr, dport) ? ORACLE_TCP_SERVICE : ORACLE_TCP;
}

static enum oracle_rule judge_udp(struct walk *w, const struct ip_layer *ip, const __u8 *p,
				  size_t len)
{
	__u16 dport;

	path_add(w, "udp");
	w->res->inner.proto = IPPROTO_UDP;
	if (len < 4)
		return ORACLE_OTHER;
	dport = rd16(p + 2);
	w->res->inner.port = dport;
	if (is_opaque_udp_tunnel(dport)) {
		path_add(w, "udp-tunnel/%u", dport);
		return tunnel(ip);
	}
	if (!is_udp_tunnel(dport))
		return ORACLE_OTHER;
	if (len >= 8)
		walk_udp_tunnel(w, dport, p + 8, len - 8);
	return tunnel(ip);
}

/*
 * The socket an ICMP error about a TCP segment is given to: the segment's
 * sender, (source address, source port) of the quote, looked up on the
 * host the error is addressed to, whichever of its addresses that is. A
 * protected service's socket is hit when the quoted sender is the service
 * and the error goes to a protected host.
 */
static enum oracle_rule quoted_sender(struct walk *w, const struct ip_layer *ip, const __u8 *saddr,
				      const __u8 *tcp)
{
	__u16 sport = rd16(tcp);

	set_dest(w, ip->family, saddr);
	w->res->inner.proto = IPPROTO_TCP;
	w->res->inner.port = sport;
	path_add(w, "quote-tcp");
	if (ip->protected_net && is_service(w, ip->family, saddr, sport))
		return ORACLE_ICMP_SERVICE;
	return ORACLE_ICMP;
}

/* As icmp_unreach() and icmp_socket_deliver(): the quoted IPv4 header (its
 * version is not looked at) and 8 bytes of what follows it. */
static enum oracle_rule quote_v4(struct walk *w, const struct ip_layer *ip, const __u8 *q,
				 size_t len)
{
	size_t ihl;

	if (len < IPV4_MIN || (q[0] & 0xf) < 5)
		return ORACLE_ICMP;
	ihl = (size_t)(q[0] & 0xf) * 4;
	if (len < ihl + 8 || q[9] != IPPROTO_TCP)
		return ORACLE_ICMP;
	return quoted_sender(w, ip, q + 12, q + ihl);
}

/* As icmpv6_notify() with ipv6_skip_exthdr(): extension headers skipped, a
 * first fragment's header too; a later fragment goes to no protocol. */
static enum oracle_rule quote_v6(struct walk *w, const struct ip_layer *ip, const __u8 *q,
				 size_t len)
{
	size_t off = IPV6_LEN;
	__u8 nh;

	if (len < IPV6_LEN)
		return ORACLE_ICMP;
	nh = q[6];
	while (nh == NH_HOPOPTS || nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_AH ||
	       nh == NH_DSTOPTS) {
		size_t hlen;

		if (off + 2 > len)
			return ORACLE_ICMP;
		if (nh == NH_FRAGMENT) {
			if (off + 4 > len || (rd16(q + off + 2) & ~7))
				return ORACLE_ICMP;
			hlen = 8;
		} else if (nh == NH_AH) {
			hlen = ((size_t)q[off + 1] + 2) * 4;
		} else {
			hlen = ((size_t)q[off + 1] + 1) * 8;
		}
		nh = q[off];
		off += hlen;
	}
	if (nh != IPPROTO_TCP || off + 8 > len)
		return ORACLE_ICMP;
	return quoted_sender(w, ip, q + 8, q + off);
}

static int icmp_is_error(int family, __u8 type)
{
	if (family == AF_INET)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	/* icmpv6_rcv(): any type below 128 without a handler of its own is
	 * "an error of unknown type" and goes to the quoted protocol too. */
	return type < 128;
}

static enum oracle_rule judge_icmp(struct walk *w, const struct ip_layer *ip, const __u8 *p,
				   size_t len)
{
	path_add(w, ip->family == AF_INET ? "icmp" : "icmp6");
	w->res->inner.proto = ip->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	if (len < 8 || !icmp_is_error(ip->family, p[0]))
		return ORACLE_ICMP;
	path_add(w, "error/%u", p[0]);
	if (ip->family == AF_INET)
		return quote_v4(w, ip, p + 8, len - 8);
	return quote_v6(w, ip, p + 8, len - 8);
}

static enum oracle_rule judge_upper(struct walk *w, const struct ip_layer *ip, __u8 proto,
				    const __u8 *p, size_t len)
{
	w->res->inner.proto = proto;
	switch (proto) {
	case IPPROTO_TCP:
		return judge_tcp(w, ip, p, len);
	case IPPROTO_UDP:
		return judge_udp(w, ip, p, len);
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* Each family's stack knows only its own ICMP. */
		if ((proto == IPPROTO_ICMP) == (ip->family == AF_INET))
			return judge_icmp(w, ip, p, len);
		break;
	case IPPROTO_IPIP:
		path_add(w, "ipip");
		walk_inner(w, 0x0800, p, len);
		return tunnel(ip);
	case IPPROTO_IPV6:
		path_add(w, "ip6in");
		walk_inner(w, 0x86dd, p, len);
		return tunnel(ip);
	case IPPROTO_GRE:
		walk_gre(w, p, len);
		return tunnel(ip);
	case IPPROTO_ESP:
	case IPPROTO_AH: /* in IPv4 (IPv6 walks AH with its other headers) */
		path_add(w, proto == IPPROTO_ESP ? "esp" : "ah");
		return tunnel(ip);
	case 97: /* EtherIP */
	case 115: /* L2TPv3 */
	case 137: /* MPLS */
	case 143: /* Ethernet in IPv6 */
		path_add(w, "tunnel/%u", proto);
		return tunnel(ip);
	}
	path_add(w, "proto/%u", proto);
	return ORACLE_OTHER;
}

/* --- IPv4. ----------------------------------------------------------------- */

/*
 * Does the option list carry a source route? Read as ip_options_compile()
 * reads it, except that an LSRR/SSRR is taken at its type byte even where
 * the kernel would find it malformed and drop the packet.
 */
static int ipv4_source_routed(const __u8 *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		__u8 type = opt[i];

		if (type == 0) /* end of list */
			return 0;
		if (type == 1) { /* no-op */
			i++;
			continue;
		}
		if (type == 0x83 || type == 0x89) /* LSRR, SSRR */
			return 1;
		if (i + 2 > len || opt[i + 1] < 2 || opt[i + 1] > len - i)
			return 0; /* the kernel drops it */
		i += opt[i + 1];
	}
	return 0;
}

static enum oracle_rule judge_ipv4(struct walk *w, const __u8 *p, size_t len)
{
	struct ip_layer ip = { .family = AF_INET };
	enum oracle_rule upper;
	size_t ihl;
	int local, fragment;

	w->depth++;
	path_add(w, "ipv4");
	if (len < IPV4_MIN || p[0] >> 4 != 4 || (p[0] & 0xf) < 5)
		return ORACLE_KERNEL_DROPS;
	ihl = (size_t)(p[0] & 0xf) * 4;
	if (ihl > len)
		return ORACLE_KERNEL_DROPS;
	ip.daddr = p + 16;
	ip.protected_net = in_protected_net(w, AF_INET, ip.daddr);
	set_dest(w, AF_INET, ip.daddr);
	local = is_local(w, AF_INET, ip.daddr);
	fragment = (rd16(p + 6) & 0x3fff) != 0; /* more fragments, or an offset */
	if (fragment)
		path_add(w, "frag/%u", (rd16(p + 6) & 0x1fff) * 8);
	/* A later fragment carries no upper-layer header: nothing to walk. */
	upper = rd16(p + 6) & 0x1fff ? ORACLE_OTHER : judge_upper(w, &ip, p[9], p + ihl, len - ihl);
	if (local)
		return ipv4_source_routed(p + IPV4_MIN, ihl - IPV4_MIN) ?
			       ORACLE_LOCAL_SOURCE_ROUTED :
			       ORACLE_LOCAL;
	if (fragment)
		return ip.protected_net ? ORACLE_FRAGMENT_PROTECTED : ORACLE_FRAGMENT;
	return upper;
}

/* --- IPv6. ----------------------------------------------------------------- */

struct chain {
	__u8 nexthdr; /* where the walk stopped: upper layer, or a fragment header */
	size_t off; /* and at what offset */
	int routed; /* a routing header with segments left */
	int fragment; /* 0: none; 1: first fragment (offset 0); 2: later fragment */
	int cut; /* the chain goes on past the bytes there are */
	int nested; /* a fragment header after a fragment header */
};

static int ipv6_ext(__u8 nh)
{
	return nh == NH_HOPOPTS || nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_AH ||
	       nh == NH_DSTOPTS;
}

/* Walks every extension header there is (the kernel sets no limit either). */
static void walk_chain(struct walk *w, const __u8 *p, size_t len, struct chain *c)
{
	size_t hlen;

	for (c->nexthdr = p[6], c->off = IPV6_LEN; ipv6_ext(c->nexthdr); c->off += hlen) {
		const __u8 *h = p + c->off;

		if (c->off + 8 > len) { /* every extension header is 8 bytes or more */
			if (c->nexthdr == NH_ROUTING && c->off + 4 <= len && h[3])
				c->routed = 1;
			c->cut = 1;
			return;
		}
		if (c->nexthdr == NH_FRAGMENT) {
			int later = (rd16(h + 2) & 0xfff8) != 0;

			path_add(w, "frag6/%u", rd16(h + 2) & 0xfff8);
			c->nested |= c->fragment != 0;
			c->fragment = c->fragment ? c->fragment : 1 + later;
			if (later)
				return;
			hlen = 8;
		} else if (c->nexthdr == NH_AH) {
			path_add(w, "ah");
			hlen = ((size_t)h[1] + 2) * 4;
		} else {
			if (c->nexthdr == NH_ROUTING)
				path_add(w, "rh/%u", h[3]);
			else
				path_add(w, "opts");
			c->routed |= c->nexthdr == NH_ROUTING && h[3];
			hlen = ((size_t)h[1] + 1) * 8;
		}
		if (c->off + hlen > len) {
			c->cut = 1;
			return;
		}
		c->nexthdr = h[0];
	}
}

static enum oracle_rule judge_ipv6_local(const struct chain *c)
{
	if (c->routed)
		return ORACLE_LOCAL_SOURCE_ROUTED;
	/* A first fragment's headers may go on in the next fragment; the
	 * reassembled packet is walked again, routing header and all. */
	if (c->fragment == 1 && (c->cut || c->nested))
		return ORACLE_LOCAL_FRAGMENT_CHAIN;
	return ORACLE_LOCAL;
}

static enum oracle_rule judge_ipv6(struct walk *w, const __u8 *p, size_t len)
{
	struct ip_layer ip = { .family = AF_INET6 };
	enum oracle_rule upper = ORACLE_OTHER;
	struct chain c = { 0 };

	w->depth++;
	path_add(w, "ipv6");
	if (len < IPV6_LEN || p[0] >> 4 != 6)
		return ORACLE_KERNEL_DROPS;
	ip.daddr = p + 24;
	ip.protected_net = in_protected_net(w, AF_INET6, ip.daddr);
	set_dest(w, AF_INET6, ip.daddr);
	walk_chain(w, p, len, &c);
	if (!c.cut && c.fragment != 2 && c.nexthdr != NH_NONE)
		upper = judge_upper(w, &ip, c.nexthdr, p + c.off, len - c.off);
	if (is_local(w, AF_INET6, ip.daddr))
		return judge_ipv6_local(&c);
	if (c.fragment)
		return ip.protected_net ? ORACLE_FRAGMENT_PROTECTED : ORACLE_FRAGMENT;
	if (c.cut)
		return ip.protected_net ? ORACLE_CHAIN_PROTECTED : ORACLE_KERNEL_DROPS;
	return upper;
}

/* --- Ethernet. ------------------------------------------------------------- */

/* Every 802.1Q and 802.1ad tag is looked through: the kernel strips tags of
 * VLAN 0 one after the other, and a tag of a VLAN device leads to that
 * device's own ingress with the rest of the frame. */
static enum oracle_rule judge_ether(struct walk *w, const __u8 *p, size_t len)
{
	size_t off = ETH_HDR - 2;
	__u16 type;

	path_add(w, "eth");
	for (;;) {
		if (off + 2 > len)
			return ORACLE_NOT_IP;
		type = rd16(p + off);
		if (type != 0x8100 && type != 0x88a8)
			break;
		path_add(w, "vlan");
		off += TAG_LEN;
	}
	off += 2;
	if (type == 0x0800)
		return judge_ipv4(w, p + off, len - off);
	if (type == 0x86dd)
		return judge_ipv6(w, p + off, len - off);
	path_add(w, "type/%#06x", type);
	return ORACLE_NOT_IP;
}

void oracle_judge(const struct oracle_config *cfg, const __u8 *frame, size_t len,
		  struct oracle_result *res)
{
	struct walk w = { .cfg = cfg, .res = res };
	enum oracle_rule rule;

	memset(res, 0, sizeof(*res));
	res->inner.port = -1;
	rule = judge_ether(&w, frame, len);
	res->rule = rule;
	res->exposed = rule >= ORACLE_EXPOSED;
}

const char *oracle_rule_text(enum oracle_rule rule)
{
	static const char *const text[ORACLE_RULES] = {
		[ORACLE_NOT_IP] = "not IP",
		[ORACLE_KERNEL_DROPS] = "an IP header the kernel refuses",
		[ORACLE_LOCAL] = "to the router itself",
		[ORACLE_FRAGMENT] = "a fragment to an unprotected host",
		[ORACLE_TCP] = "TCP to no protected service",
		[ORACLE_TUNNEL] = "a tunnel to an unprotected host",
		[ORACLE_ICMP] = "ICMP about no protected service",
		[ORACLE_OTHER] = "neither TCP nor a tunnel",
		[ORACLE_TCP_SERVICE] = "TCP to a protected service",
		[ORACLE_TCP_NO_PORTS] = "TCP without ports to a protected network",
		[ORACLE_FRAGMENT_PROTECTED] = "a fragment to a protected network",
		[ORACLE_TUNNEL_PROTECTED] = "a tunnel (or ESP/AH) to a protected network",
		[ORACLE_CHAIN_PROTECTED] = "an IPv6 header chain cut short, to a protected network",
		[ORACLE_ICMP_SERVICE] = "an ICMP error to a protected host for a service's socket",
		[ORACLE_LOCAL_SOURCE_ROUTED] = "source-routed on from the router itself",
		[ORACLE_LOCAL_FRAGMENT_CHAIN] =
			"a first fragment to the router whose headers go on past it",
	};

	return rule < ORACLE_RULES && text[rule] ? text[rule] : "?";
}

void oracle_format_dest(const struct oracle_dest *dest, char *buf, size_t len)
{
	static const char *const protos[256] = { [IPPROTO_TCP] = "tcp",
						 [IPPROTO_UDP] = "udp",
						 [IPPROTO_ICMP] = "icmp",
						 [IPPROTO_ICMPV6] = "icmp6" };
	char addr[INET6_ADDRSTRLEN] = "?", proto[16];

	if (!dest->family) {
		snprintf(buf, len, "none");
		return;
	}
	inet_ntop(dest->family, dest->addr, addr, sizeof(addr));
	if (protos[dest->proto])
		snprintf(proto, sizeof(proto), "%s", protos[dest->proto]);
	else
		snprintf(proto, sizeof(proto), "proto %u", dest->proto);
	if (dest->port < 0)
		snprintf(buf, len, "%s%s%s/%s", dest->family == AF_INET6 ? "[" : "", addr,
			 dest->family == AF_INET6 ? "]" : "", proto);
	else
		snprintf(buf, len, "%s%s%s:%d/%s", dest->family == AF_INET6 ? "[" : "", addr,
			 dest->family == AF_INET6 ? "]" : "", dest->port, proto);
}
