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
#include <bpf/bpf_core_read.h>
#include "cutthru/abi.h"

/* At most this many bytes per bpf_skb_adjust_room() call on an sk_skb. */
#define TRIM_STEP 4095
/* Steps to cut the head off a segment: 32 * 4095 bytes, more than any
 * segment TCP hands us (64 KiB, or 128 KiB with BIG TCP's GRO limit). */
#define TRIM_STEPS 32

/* The kernel's own structures, as far as we read them (CO-RE: the offsets
 * come from the running kernel's BTF at load time). */
struct sk_buff___cut {
	char cb[48];
	struct sock *sk;
} __attribute__((preserve_access_index));

struct tcp_sock___cut {
	__u32 copied_seq;
} __attribute__((preserve_access_index));

/* TCP_SKB_CB(skb): the first member of skb->cb while TCP owns the skb. */
struct tcp_skb_cb___cut {
	__u32 seq;
	__u32 end_seq;
};

/* 6.3 and later. Weak: on an older kernel only the plain verdict below is
 * loaded, and this is never called. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

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

static __always_inline void report(__u32 flow_slot)
{
	struct cutthru_cut_event ev = { .flow_slot = flow_slot };

	/* A full ring only delays the look; the next report comes. */
	bpf_ringbuf_output(&cut_events, &ev, sizeof(ev), 0);
}

/*
 * SK_PASS keeps the bytes in this leg's own receive queue (the psock's
 * ingress_msg), charged to its receive buffer, which the daemon fixed at
 * the hand-off: the TCP window closes and the sender stops. The first byte
 * of a hold is reported, so the daemon starts moving them.
 */
static __always_inline int hold(struct cutthru_cut_flow *flow, __u32 flow_slot, __u32 len)
{
	if (flow->held == flow->relayed)
		report(flow_slot);
	flow->held += len;
	count(CUTTHRU_CUT_HELD, len);
	return SK_PASS;
}

/* Cuts n bytes off the head of the segment. */
static __always_inline int trim_head(struct __sk_buff *skb, __u32 n)
{
	int i;

	for (i = 0; i < TRIM_STEPS && n; i++) {
		__u32 step = n < TRIM_STEP ? n : TRIM_STEP;

		if (bpf_skb_adjust_room(skb, -(__s32)step, 0, 0))
			return -1;
		n -= step;
	}
	return n ? -1 : 0;
}

/*
 * tcp_read_skb() hands us each skb of the receive queue whole, from its
 * first byte. But TCP queues a retransmission that overlaps bytes already
 * received as it came ("partial packet" in tcp_data_queue(), and the same
 * from the out-of-order queue), leaving it to the reader to skip what it had
 * (tcp_recvmsg() does, by copied_seq). The sockmap does not, so those bytes
 * would be passed on twice. They come when the window closes and opens
 * again, that is when a direction is held. So the verdict skips them itself:
 * it knows the sequence number of the next new byte of each leg.
 *
 * Returns 1 when the whole segment was received already (drop it), -1 when
 * its old head could not be cut off, else 0 (skb now starts with new bytes).
 */
static __always_inline int skip_old_bytes(struct __sk_buff *skb, struct cutthru_cut_leg *leg)
{
	struct sk_buff___cut *kskb = bpf_cast_to_kern_ctx(skb);
	struct tcp_skb_cb___cut tcb;
	__u32 len = skb->len, old;
	__s32 ahead;

	if (bpf_probe_read_kernel(&tcb, sizeof(tcb), &kskb->cb))
		return 0;
	if (!leg->seq_known) {
		/* The first segment since the hand-off: what the daemon read
		 * before it (copied_seq) is the only thing received already. */
		struct tcp_sock___cut *tp = (void *)BPF_CORE_READ(kskb, sk);

		if (!tp || bpf_core_read(&leg->next_seq, sizeof(leg->next_seq), &tp->copied_seq))
			return 0;
		leg->seq_known = 1;
	}
	ahead = (__s32)(tcb.seq + len - leg->next_seq);
	if (ahead <= 0) {
		count(CUTTHRU_CUT_OVERLAP, len);
		return 1;
	}
	old = (__u32)((__s32)(leg->next_seq - tcb.seq) > 0 ? leg->next_seq - tcb.seq : 0);
	leg->next_seq = tcb.seq + len;
	if (!old)
		return 0;
	if (trim_head(skb, old)) {
		count(CUTTHRU_CUT_OVERLAP_FAILED, old);
		return -1;
	}
	count(CUTTHRU_CUT_OVERLAP, old);
	return 0;
}

static __always_inline int verdict(struct __sk_buff *skb, int skip_old)
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
	/* Not passed on twice; one that cannot be cut is passed whole (the
	 * counter shows it) rather than losing the new bytes behind it. */
	if (skip_old && skip_old_bytes(skb, leg) > 0)
		return SK_DROP;
	/*
	 * Redirected only on credit: the peer's psock queue is not charged to
	 * anyone and has no bound of its own. And never past a held byte the
	 * daemon has not moved yet, so the order stays.
	 */
	if (flow->held != flow->relayed || flow->redirected >= flow->limit)
		return hold(flow, leg->flow_slot, skb->len);
	before = flow->redirected;
	flow->redirected += skb->len;
	if (before / CUTTHRU_CUT_REPORT_BYTES != flow->redirected / CUTTHRU_CUT_REPORT_BYTES)
		report(leg->flow_slot);
	count(CUTTHRU_CUT_REDIRECTED, skb->len);
	/* Flags 0: onto the peer's transmit path, not its receive queue. */
	return bpf_sk_redirect_hash(skb, &cut_socks, &leg->peer_cookie, 0);
}

/* Plain "sk_skb": libbpf 1.1 does not know "sk_skb/verdict"; the attach
 * type (BPF_SK_SKB_VERDICT) is given at bpf_prog_attach(). One of the two is
 * loaded: this one where the kernel has bpf_cast_to_kern_ctx (6.3)... */
SEC("sk_skb")
int cutthru_cut_verdict(struct __sk_buff *skb)
{
	return verdict(skb, 1);
}

/* ...else this one, which cannot tell old bytes from new (warned about). */
SEC("sk_skb")
int cutthru_cut_verdict_plain(struct __sk_buff *skb)
{
	return verdict(skb, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
