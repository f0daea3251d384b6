// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The cut-through (claim 20): once a connection is allowed, both of its
 * sockets sit in a sockhash and every segment received on one leg is
 * redirected to the send side of the other, without reaching user space.
 *
 * The hook is the sk_skb verdict program (BPF_SK_SKB_VERDICT), which sees
 * what a socket *receives*; sk_msg would only see what someone sends with
 * sendmsg(), and nobody does once the daemon stops relaying. FIN and RST are
 * not carried: the daemon sees them on the legs and passes them on.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "cutthru/abi.h"

/* Both legs of every cut-through connection, keyed by socket cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, CUTTHRU_CUT_SOCKS_MAX);
	__type(key, __u64);
	__type(value, __u64);
} cut_socks SEC(".maps");

/* Each leg's peer and flow: socket cookie -> struct cutthru_cut_leg. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CUTTHRU_CUT_SOCKS_MAX);
	__type(key, __u64);
	__type(value, struct cutthru_cut_leg);
} cut_peers SEC(".maps");

/* Flow control per direction, shared with the daemon through mmap(). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CUTTHRU_CUT_SOCKS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cutthru_cut_flow);
} cut_flows SEC(".maps");

/* Flows that redirected another CUTTHRU_CUT_REPORT_BYTES. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} cut_events SEC(".maps");

/* Packets and bytes by enum cutthru_cut_reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CUTTHRU_CUT_REASONS);
	__type(key, __u32);
	__type(value, struct cutthru_counter);
} cut_counters SEC(".maps");

static __always_inline void count(__u32 reason, __u32 len)
{
	struct cutthru_counter *c = bpf_map_lookup_elem(&cut_counters, &reason);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* SK_PASS keeps the bytes in this leg's own receive queue, charged to its
 * receive buffer: the TCP window closes and the sender slows down. */
static __always_inline int hold(struct cutthru_cut_flow *flow, __u32 len)
{
	flow->held += len;
	count(CUTTHRU_CUT_HELD, len);
	return SK_PASS;
}

static __always_inline void report(__u32 flow_slot)
{
	struct cutthru_cut_event ev = { .flow_slot = flow_slot };

	/* A full ring only delays the look; the next report comes. */
	bpf_ringbuf_output(&cut_events, &ev, sizeof(ev), 0);
}

/* Plain "sk_skb": libbpf 1.1 does not know "sk_skb/verdict"; the attach
 * type (BPF_SK_SKB_VERDICT) is given at bpf_prog_attach(). */
SEC("sk_skb")
int cutthru_cut_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct cutthru_cut_flow *flow;
	struct cutthru_cut_leg *leg;
	__u64 before;

	/*
	 * The segment that carried a FIN reaches us empty. Redirected, the
	 * peer's transmit work would send zero bytes, take that for a broken
	 * pipe and raise EPIPE on the peer socket. The FIN itself is passed on
	 * by the daemon, after the bytes before it.
	 */
	if (!skb->len) {
		count(CUTTHRU_CUT_EMPTY, 0);
		return SK_DROP;
	}
	leg = bpf_map_lookup_elem(&cut_peers, &cookie);
	flow = leg ? bpf_map_lookup_elem(&cut_flows, &leg->flow_slot) : NULL;
	if (!leg || !flow) {
		count(CUTTHRU_CUT_NO_PEER, skb->len);
		return SK_DROP;
	}
	if (flow->paused) {
		if (!flow->may_resume || flow->held > flow->relayed)
			return hold(flow, skb->len);
		/* Every held byte is with the peer and its queue is empty. */
		flow->may_resume = 0;
		flow->paused = 0;
	}
	before = flow->redirected;
	flow->redirected += skb->len;
	if (before / CUTTHRU_CUT_REPORT_BYTES != flow->redirected / CUTTHRU_CUT_REPORT_BYTES)
		report(leg->flow_slot);
	count(CUTTHRU_CUT_REDIRECTED, skb->len);
	/* Flags 0: onto the peer's transmit path, not its receive queue. */
	return bpf_sk_redirect_hash(skb, &cut_socks, &leg->peer_cookie, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
