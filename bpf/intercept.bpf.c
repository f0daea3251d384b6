// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The intercepting controller (the seed's figure 4, claim 18), at TC ingress
 * of every interface clients or protected servers are reached through.
 *
 *   parse -> own address?          pass to the local stack
 *         -> proxied connection?   mark + bpf_sk_assign to its socket
 *         -> SYN to a service?     admitted: mark + assign to the listener
 *                                  (blocked source: drop; logged-in source
 *                                  with after-auth=forward: untouched)
 *         -> else to a service     drop (fail closed)
 *         -> anything else         untouched (forwarded)
 *
 * Each helper returns an enum cutthru_reason; the entry point counts it and
 * turns it into the TC verdict in one place.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "cutthru/abi.h"
#include "maps.h"
#include "parse.h"
#include "prefilter.h"

/* Set by the loader before load: the mark its policy-routing rule matches. */
const volatile __u32 steer_mark = 0;

static __always_inline int reason_is_drop(int reason)
{
	return reason >= CUTTHRU_DROP_NOT_ADMITTED;
}

static __always_inline int net_is_protected(__u32 gen, __u8 family, const union cutthru_addr *addr)
{
	struct cutthru_net_key key = {
		.prefixlen = CUTTHRU_NET_KEY_FIXED_BITS + 128,
		.gen = gen,
		.family = family,
	};

	key.addr = *addr;
	return bpf_map_lookup_elem(&protected_nets, &key) != NULL;
}

/* For packets whose ports we cannot see: does either end lie in a protected
 * network? A server's fragmented reply must not slip past the proxy either. */
static __always_inline int touches_protected_net(const struct packet *pkt)
{
	return net_is_protected(pkt->gen, pkt->tuple.family, &pkt->tuple.daddr) ||
	       net_is_protected(pkt->gen, pkt->tuple.family, &pkt->tuple.saddr);
}

/* EtherIP (RFC 3378): no IPPROTO_ constant in the UAPI headers. */
#define CUTTHRU_IPPROTO_ETHERIP 97

/*
 * What a protected server might decapsulate and so receive around the
 * proxy: IP-in-IP, IPv6-in-IP, GRE, IPsec (AH, ESP), EtherIP, L2TPv3,
 * MPLS-in-IP, Ethernet-in-IPv6, and the UDP tunnels at their IANA ports:
 * VXLAN (4789, and Linux's old 8472), VXLAN-GPE (4790), Geneve (6081),
 * L2TP (1701), ESP-in-UDP (4500), MPLS-in-UDP (6635), GUE (6080). FOU and
 * GUE may listen on any port an administrator picks: those are not known
 * here (README, Verdicts).
 */
static __always_inline int is_tunnel(const struct packet *pkt)
{
	__u16 port = bpf_ntohs(pkt->tuple.dport);

	switch (pkt->l4proto) {
	case IPPROTO_IPIP:
	case IPPROTO_IPV6:
	case IPPROTO_GRE:
	case IPPROTO_AH:
	case IPPROTO_ESP:
	case CUTTHRU_IPPROTO_ETHERIP:
	case IPPROTO_L2TP:
	case IPPROTO_MPLS:
	case IPPROTO_ETHERNET:
		return 1;
	case IPPROTO_UDP:
		return port == 4789 || port == 8472 || port == 4790 || port == 6081 ||
		       port == 1701 || port == 4500 || port == 6635 || port == 6080;
	}
	return 0;
}

/* The socket lookup helpers take the tuple in their own layout. */
static __always_inline __u32 fill_sock_tuple(const struct packet *pkt, struct bpf_sock_tuple *t)
{
	if (pkt->tuple.family == AF_INET) {
		t->ipv4.saddr = pkt->tuple.saddr.v4;
		t->ipv4.daddr = pkt->tuple.daddr.v4;
		t->ipv4.sport = pkt->tuple.sport;
		t->ipv4.dport = pkt->tuple.dport;
		return sizeof(t->ipv4);
	}
	__builtin_memcpy(t->ipv6.saddr, pkt->tuple.saddr.v6, 16);
	__builtin_memcpy(t->ipv6.daddr, pkt->tuple.daddr.v6, 16);
	t->ipv6.sport = pkt->tuple.sport;
	t->ipv6.dport = pkt->tuple.dport;
	return sizeof(t->ipv6);
}

/* The quad list is keyed client -> server; replies are looked up reversed. */
static __always_inline void quad_from_packet(const struct packet *pkt, enum cutthru_dir dir,
					     struct cutthru_quad *quad)
{
	*quad = pkt->tuple;
	if (dir == CUTTHRU_DIR_TO_CLIENT) {
		quad->saddr = pkt->tuple.daddr;
		quad->daddr = pkt->tuple.saddr;
		quad->sport = pkt->tuple.dport;
		quad->dport = pkt->tuple.sport;
	}
}

static __always_inline void quad_account(struct __sk_buff *skb, const struct packet *pkt,
					 enum cutthru_dir dir)
{
	struct cutthru_quad quad;
	struct cutthru_conn *conn;

	quad_from_packet(pkt, dir, &quad);
	conn = bpf_map_lookup_elem(&quads, &quad);
	/* An evicted quad only costs its statistics: steering goes by socket. */
	if (!conn)
		return;
	conn->last_seen_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&conn->packets[dir], 1);
	__sync_fetch_and_add(&conn->bytes[dir], skb->len);
}

static __always_inline void quad_insert(struct __sk_buff *skb, const struct packet *pkt,
					__u32 service_id)
{
	struct cutthru_conn conn = {
		.service_id = service_id,
		.packets = { 1, 0 },
		.bytes = { skb->len, 0 },
	};

	conn.created_ns = bpf_ktime_get_ns();
	conn.last_seen_ns = conn.created_ns;
	/* A retransmitted SYN or a reused 4-tuple starts the record afresh. */
	bpf_map_update_elem(&quads, &pkt->tuple, &conn, BPF_ANY);
}

/* The socket that owns this 4-tuple (either leg, any state but listening),
 * or NULL. A listener found here is someone's wildcard socket, not ours. */
static __always_inline struct bpf_sock *find_owner(struct __sk_buff *skb, const struct packet *pkt)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;
	__u32 len;

	len = fill_sock_tuple(pkt, &tuple);
	sk = bpf_skc_lookup_tcp(skb, &tuple, len, BPF_F_CURRENT_NETNS, 0);
	if (sk && sk->state == BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return NULL;
	}
	return sk;
}

/* Assigns the packet to sk and releases it; marks the packet for the local
 * route. Returns 0 or CUTTHRU_DROP_ASSIGN. */
static __always_inline int assign(struct __sk_buff *skb, struct bpf_sock *sk)
{
	int err = bpf_sk_assign(skb, sk, 0);

	bpf_sk_release(sk);
	if (err)
		return CUTTHRU_DROP_ASSIGN;
	skb->mark = steer_mark;
	return 0;
}

static __always_inline int steer_flow(struct __sk_buff *skb, const struct packet *pkt,
				      struct bpf_sock *owner, enum cutthru_dir dir)
{
	int err = assign(skb, owner);

	if (err)
		return err;
	quad_account(skb, pkt, dir);
	return CUTTHRU_STEER_FLOW;
}

/*
 * A new connection on a 4-tuple whose last one left our socket in TIME_WAIT.
 * Recent kernels (6.18 here) refuse a second request socket beside it, so the SYN
 * goes to the TIME_WAIT socket, whose processing decides as the real server
 * would (newer sequence number or timestamp) and then looks for a listener:
 * cutthru_listener_lookup below hands it ours.
 */
static __always_inline int steer_syn_to_timewait(struct __sk_buff *skb, const struct packet *pkt,
						 const struct cutthru_service *svc,
						 struct bpf_sock *tw)
{
	int err;

	if (syn_over_rate(pkt, SYN_TAKE)) {
		bpf_sk_release(tw);
		return CUTTHRU_DROP_SYN_RATE;
	}
	err = assign(skb, tw);
	if (err)
		return err;
	quad_insert(skb, pkt, svc->id);
	return CUTTHRU_STEER_SYN;
}

static __always_inline struct bpf_sock *listener_for(const struct packet *pkt)
{
	__u32 slot = pkt->tuple.family == AF_INET ? CUTTHRU_LISTENER_INET : CUTTHRU_LISTENER_INET6;

	return bpf_map_lookup_elem(&listeners, &slot);
}

/* A new connection to a protected service, past refuse_syn() and the SYN
 * rate: into the listener. */
static __always_inline int steer_syn(struct __sk_buff *skb, const struct packet *pkt,
				     const struct cutthru_service *svc)
{
	struct bpf_sock *listener;
	int err;

	listener = listener_for(pkt);
	if (!listener)
		return CUTTHRU_DROP_NO_LISTENER;
	err = assign(skb, listener);
	if (err)
		return err;
	quad_insert(skb, pkt, svc->id);
	return CUTTHRU_STEER_SYN;
}

/*
 * after-auth=forward: while the client's login to the service is valid, its
 * connections to it are forwarded by the kernel, not proxied. Each packet
 * (either way) keeps the login from going idle.
 */
static __always_inline int source_forwarded(__u32 service_id, __u8 family,
					    const union cutthru_addr *client)
{
	struct cutthru_auth_source *src;
	struct cutthru_source_key key;
	__u64 now;

	source_key(service_id, family, client, &key);
	src = bpf_map_lookup_elem(&auth_sources, &key);
	if (!src || !(src->flags & CUTTHRU_AUTH_FORWARD))
		return 0;
	now = bpf_ktime_get_ns();
	if (now >= src->expires_ns || now - src->last_seen_ns >= src->idle_ns)
		return 0;
	src->last_seen_ns = now;
	return 1;
}

/*
 * An ACK of a connection no socket here holds: the proxy's leg is gone and
 * its reset was lost (or not taken: a reset off the peer's next sequence
 * number earns a challenge ACK), or the flow predates the proxy. The real
 * server's or client's kernel would answer it with a reset; so does ours,
 * for the address it was sent to, once the segment reaches our transparent
 * listener (TCP answers an ACK in LISTEN with a reset from the segment's
 * own destination, and may take it as the ACK of a SYN cookie it sent).
 * Only between the service and a client admitted to it: the others learn
 * nothing, as with their SYNs. Source-routed or unwalked IPv6 chains are
 * not handed to the stack at all.
 */
static __always_inline int steer_no_conn(struct __sk_buff *skb, const struct packet *pkt,
					 __u32 service_id, const union cutthru_addr *client)
{
	struct bpf_sock *listener;
	int err;

	if ((pkt->tcp_flags & (TCP_FLAG_ACK | TCP_FLAG_SYN | TCP_FLAG_RST)) != TCP_FLAG_ACK)
		return CUTTHRU_DROP_NO_CONN;
	if (pkt->source_routed || pkt->chain_unwalked)
		return CUTTHRU_DROP_NO_CONN;
	if (!client_admitted(pkt->gen, service_id, pkt->tuple.family, client))
		return CUTTHRU_DROP_NO_CONN;
	listener = listener_for(pkt);
	if (!listener)
		return CUTTHRU_DROP_NO_CONN;
	err = assign(skb, listener);
	return err ? err : CUTTHRU_STEER_NO_CONN;
}

/* Neither a proxied connection nor a new one for the listener. */
static __always_inline int classify_unowned(struct __sk_buff *skb, const struct packet *pkt,
					    const struct cutthru_service *to_svc,
					    const struct cutthru_service *from_svc)
{
	if (to_svc && source_forwarded(to_svc->id, pkt->tuple.family, &pkt->tuple.saddr))
		return CUTTHRU_PASS_AUTHENTICATED;
	if (from_svc && source_forwarded(from_svc->id, pkt->tuple.family, &pkt->tuple.daddr))
		return CUTTHRU_PASS_AUTHENTICATED;
	/* To or from a protected service with no proxied connection: fail
	 * closed, answering an admitted peer as its other end would. */
	if (to_svc)
		return steer_no_conn(skb, pkt, to_svc->id, &pkt->tuple.saddr);
	return steer_no_conn(skb, pkt, from_svc->id, &pkt->tuple.daddr);
}

static __always_inline int classify_tcp(struct __sk_buff *skb, const struct packet *pkt)
{
	struct cutthru_service *to_svc, *from_svc = NULL;
	struct bpf_sock *owner;

	/* To a service (client -> server), else from one (server -> client).
	 * Two separate tests: the verifier refuses "ptr1 | ptr2" null checks. */
	to_svc = find_service(pkt->gen, pkt->tuple.family, &pkt->tuple.daddr, pkt->tuple.dport);
	if (!to_svc) {
		from_svc = find_service(pkt->gen, pkt->tuple.family, &pkt->tuple.saddr,
					pkt->tuple.sport);
		if (!from_svc)
			return CUTTHRU_PASS_UNPROTECTED;
	}
	if (to_svc && is_pure_syn(pkt)) {
		int reason = refuse_syn(pkt, to_svc);

		if (reason)
			return reason;
	}
	owner = find_owner(skb, pkt);
	if (owner) {
		if (to_svc && is_pure_syn(pkt) && owner->state == BPF_TCP_TIME_WAIT)
			return steer_syn_to_timewait(skb, pkt, to_svc, owner);
		return steer_flow(skb, pkt, owner,
				  to_svc ? CUTTHRU_DIR_TO_SERVER : CUTTHRU_DIR_TO_CLIENT);
	}
	if (to_svc && is_pure_syn(pkt)) {
		if (syn_over_rate(pkt, SYN_TAKE))
			return CUTTHRU_DROP_SYN_RATE;
		if (source_forwarded(to_svc->id, pkt->tuple.family, &pkt->tuple.saddr))
			return CUTTHRU_PASS_AUTHENTICATED;
		return steer_syn(skb, pkt, to_svc);
	}
	return classify_unowned(skb, pkt, to_svc, from_svc);
}

/*
 * An ICMP error about a segment to or from a protected service. Only the
 * proxy's own socket of that flow may hear it (as the kernel's ICMP
 * handling does once the packet is routed here); with no such socket it is
 * forged or stale, and the protected side never sees it.
 */
static __always_inline int classify_icmp_error(struct __sk_buff *skb, __u32 gen,
					       const struct cutthru_quad *quote)
{
	struct packet sender = { .tuple.family = quote->family };
	struct bpf_sock *sk;

	if (!find_service(gen, quote->family, &quote->daddr, quote->dport) &&
	    !find_service(gen, quote->family, &quote->saddr, quote->sport))
		return CUTTHRU_PASS_NOT_TCP;
	/* The socket that sent the quoted segment sees it as its own 4-tuple:
	 * look it up as a packet coming back to it would be. */
	sender.tuple.saddr = quote->daddr;
	sender.tuple.daddr = quote->saddr;
	sender.tuple.sport = quote->dport;
	sender.tuple.dport = quote->sport;
	sk = find_owner(skb, &sender);
	if (!sk)
		return CUTTHRU_DROP_NO_CONN;
	bpf_sk_release(sk);
	skb->mark = steer_mark;
	return CUTTHRU_STEER_ICMP;
}

/* Neither TCP nor a fragment: ICMP errors, tunnels, and the rest. */
static __always_inline int classify_other(struct __sk_buff *skb, const struct packet *pkt)
{
	struct cutthru_quad quote = {};

	if (pkt->l4proto == IPPROTO_ICMP || pkt->l4proto == IPPROTO_ICMPV6) {
		switch (parse_icmp_quote(skb, pkt, &quote)) {
		case QUOTE_TCP:
			return classify_icmp_error(skb, pkt->gen, &quote);
		case QUOTE_UNWALKED:
			/* The kernel walks on and may find a service's segment. */
			if (net_is_protected(pkt->gen, quote.family, &quote.saddr) ||
			    net_is_protected(pkt->gen, quote.family, &quote.daddr))
				return CUTTHRU_DROP_UNPARSED;
			break;
		default:
			break;
		}
	}
	/* What is inside a tunnel to a protected network is not seen. */
	if (is_tunnel(pkt) && touches_protected_net(pkt))
		return CUTTHRU_DROP_UNPARSED;
	return CUTTHRU_PASS_NOT_TCP;
}

static __always_inline int classify(struct __sk_buff *skb)
{
	struct packet pkt = { .gen = active_gen() };
	enum parse_result res;

	res = parse_packet(skb, &pkt);
	if (res == PARSE_NOT_IP)
		return CUTTHRU_PASS_NOT_IP;
	if (res == PARSE_MALFORMED)
		return CUTTHRU_DROP_MALFORMED;
	if (res == PARSE_TOO_MANY_TAGS)
		return CUTTHRU_DROP_UNPARSED;
	if (is_local_addr(&pkt)) {
		/* Source-routed via this router: it would leave again toward a
		 * destination this program never judged. An IPv6 header chain
		 * not walked to its end may hold the routing header. */
		if (pkt.source_routed || pkt.chain_unwalked)
			return CUTTHRU_DROP_UNPARSED;
		return CUTTHRU_PASS_LOCAL;
	}

	switch (res) {
	case PARSE_TCP:
		return classify_tcp(skb, &pkt);
	case PARSE_FRAGMENT:
		return touches_protected_net(&pkt) ? CUTTHRU_DROP_FRAGMENT : CUTTHRU_PASS_NOT_TCP;
	case PARSE_UNPARSED:
		return touches_protected_net(&pkt) ? CUTTHRU_DROP_UNPARSED : CUTTHRU_PASS_NOT_TCP;
	case PARSE_TRUNCATED_L4:
		return touches_protected_net(&pkt) ? CUTTHRU_DROP_MALFORMED :
						     CUTTHRU_PASS_UNPROTECTED;
	default:
		return classify_other(skb, &pkt);
	}
}

static __always_inline int count_verdict(struct __sk_buff *skb, int reason)
{
	__u32 key = reason;
	struct cutthru_counter *c;

	c = bpf_map_lookup_elem(&counters, &key);
	if (c) {
		c->packets++;
		c->bytes += skb->len;
	}
	return reason_is_drop(reason) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int cutthru_intercept(struct __sk_buff *skb)
{
	return count_verdict(skb, classify(skb));
}

/*
 * The kernel's listener lookup for packets routed here (netns sk_lookup
 * hook). Intercepted SYNs normally arrive with their listener already
 * assigned; this serves the one path that looks a listener up afresh: a SYN
 * accepted by a TIME_WAIT socket. Only protected services from admitted
 * sources get ours; everything else is left to the normal lookup.
 */
SEC("sk_lookup")
int cutthru_listener_lookup(struct bpf_sk_lookup *ctx)
{
	struct packet pkt = { .tuple.family = (__u8)ctx->family, .gen = active_gen() };
	struct cutthru_service *svc;
	struct bpf_sock *listener;
	__u32 slot;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	if (ctx->family == AF_INET) {
		pkt.tuple.daddr.v4 = ctx->local_ip4;
		pkt.tuple.saddr.v4 = ctx->remote_ip4;
		slot = CUTTHRU_LISTENER_INET;
	} else {
		__builtin_memcpy(pkt.tuple.daddr.v6, (void *)ctx->local_ip6, 16);
		__builtin_memcpy(pkt.tuple.saddr.v6, (void *)ctx->remote_ip6, 16);
		slot = CUTTHRU_LISTENER_INET6;
	}
	/* local_port is in host byte order. */
	svc = find_service(pkt.gen, pkt.tuple.family, &pkt.tuple.daddr,
			   bpf_htons((__u16)ctx->local_port));
	if (!svc || !is_admitted(svc->id, &pkt))
		return SK_PASS;
	listener = bpf_map_lookup_elem(&listeners, &slot);
	if (!listener)
		return SK_PASS;
	bpf_sk_assign(ctx, listener, 0);
	bpf_sk_release(listener);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
