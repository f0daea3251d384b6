// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP prefilter (--xdp): the intercepting controller's drops that need
 * no socket, made before the kernel allocates an skb, on the interfaces the
 * TC program (intercept.bpf.c) sits on, with the same maps.
 *
 * It judges only a pure SYN to a protected service in a plain frame: one
 * Ethernet header, IPv4 without options or fragmentation or IPv6 with TCP
 * right after the fixed header, the whole TCP header in the first buffer.
 * Such a SYN is dropped, with the TC program's reason, when its source is
 * blocked after failed logins, not admitted, or over its prefix's SYN rate.
 * Everything else (other frames, other packets, the proxy's own addresses,
 * a SYN on the 4-tuple of a connection in the quad list, which may have a
 * socket) goes on to TC unchanged, which decides as it would without XDP.
 *
 * Only drops are counted, in xdp_counters; TC counts what reaches it.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "cutthru/abi.h"
#include "maps.h"
#include "parse.h"
#include "prefilter.h"

/* The TCP header of a plain frame, or NULL: then TC decides. */
static __always_inline struct tcphdr *plain_tcp(struct xdp_md *ctx, struct packet *pkt)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *th;

	if ((void *)(eth + 1) > end)
		return NULL;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > end || iph->version != 4 || iph->ihl != 5 ||
		    iph->protocol != IPPROTO_TCP || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			return NULL;
		pkt->tuple.family = AF_INET;
		pkt->tuple.saddr.v4 = iph->saddr;
		pkt->tuple.daddr.v4 = iph->daddr;
		th = (void *)(iph + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > end || ip6h->version != 6 || ip6h->nexthdr != IPPROTO_TCP)
			return NULL;
		pkt->tuple.family = AF_INET6;
		__builtin_memcpy(pkt->tuple.saddr.bytes, &ip6h->saddr, 16);
		__builtin_memcpy(pkt->tuple.daddr.bytes, &ip6h->daddr, 16);
		th = (void *)(ip6h + 1);
	} else {
		return NULL;
	}
	if ((void *)(th + 1) > end || th->doff < 5)
		return NULL;
	return th;
}

/* A SYN on the 4-tuple of a connection in the quad list may belong to its
 * socket (a retransmission, or a port reused through TIME_WAIT): only TC,
 * which sees the socket table, can judge it. */
static __always_inline int in_quad_list(const struct packet *pkt)
{
	return bpf_map_lookup_elem(&quads, &pkt->tuple) != NULL;
}

static __always_inline int judge_syn(const struct packet *pkt, const struct cutthru_service *svc)
{
	int reason = refuse_syn(pkt, svc);

	if (reason)
		return reason;
	if (syn_over_rate(pkt, SYN_LOOK) && !in_quad_list(pkt))
		return CUTTHRU_DROP_SYN_RATE;
	return 0;
}

static __always_inline int classify_syn(struct xdp_md *ctx)
{
	struct packet pkt = {};
	struct cutthru_service *svc;
	struct tcphdr *th;

	th = plain_tcp(ctx, &pkt);
	if (!th)
		return 0;
	pkt.tuple.sport = th->source;
	pkt.tuple.dport = th->dest;
	pkt.tcp_flags = ((__u8 *)th)[13];
	if (!is_pure_syn(&pkt))
		return 0;
	pkt.gen = active_gen();
	svc = find_service(pkt.gen, pkt.tuple.family, &pkt.tuple.daddr, pkt.tuple.dport);
	/* The proxy's own addresses are the local stack's (TC passes them
	 * first); only a service whose prefix holds one can be addressed so. */
	if (!svc || ((svc->flags & CUTTHRU_SVC_HOLDS_LOCAL) && is_local_addr(&pkt)))
		return 0;
	return judge_syn(&pkt, svc);
}

/*
 * Not "xdp.frags": on 6.18 a frags-capable program in generic mode has
 * the kernel rebuild the skb in a way that leaves TC reading the frame at
 * the wrong offset (every packet counted pass_not_ip and forwarded around
 * the proxy). A plain program gets linear frames in both modes.
 */
SEC("xdp")
int cutthru_xdp(struct xdp_md *ctx)
{
	int reason = classify_syn(ctx);
	struct cutthru_counter *c;
	__u32 key = reason;

	if (!reason)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&xdp_counters, &key);
	if (c) {
		c->packets++;
		/* Linear (see above): no bpf_xdp_get_buff_len() call. */
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
