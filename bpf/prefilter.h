/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The decisions the TC program (intercept.bpf.c) and the XDP prefilter
 * (xdp.bpf.c) both make, written once so that the two cannot drift: the
 * policy look-ups, and the verdicts on a connection request to a protected
 * service (source not admitted, blocked source, SYN above its prefix's
 * rate).
 */
#ifndef CUTTHRU_BPF_PREFILTER_H
#define CUTTHRU_BPF_PREFILTER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "cutthru/abi.h"
#include "maps.h"
#include "parse.h"

/* Read once per packet: a reload flips it between two whole policies. */
static __always_inline __u32 active_gen(void)
{
	__u32 zero = 0, *gen = bpf_map_lookup_elem(&config_gen, &zero);

	return gen ? *gen : 0;
}

static __always_inline int is_local_addr(const struct packet *pkt)
{
	struct cutthru_local_key key = { .family = pkt->tuple.family };

	key.addr = pkt->tuple.daddr;
	return bpf_map_lookup_elem(&local_addrs, &key) != NULL;
}

static __always_inline struct cutthru_service *
find_service(__u32 gen, __u8 family, const union cutthru_addr *addr, __be16 port)
{
	struct cutthru_service_key key = {
		.prefixlen = CUTTHRU_SERVICE_KEY_FIXED_BITS + 128,
		.gen = gen,
		.port = port,
		.family = family,
	};

	key.addr = *addr;
	return bpf_map_lookup_elem(&services, &key);
}

static __always_inline int client_admitted(__u32 gen, __u32 service_id, __u8 family,
					   const union cutthru_addr *client)
{
	struct cutthru_allow_key key = {
		.prefixlen = CUTTHRU_ALLOW_KEY_FIXED_BITS + 128,
		.gen = gen,
		.service_id = service_id,
		.family = family,
	};

	key.addr = *client;
	return bpf_map_lookup_elem(&allowed, &key) != NULL;
}

static __always_inline int is_admitted(__u32 service_id, const struct packet *pkt)
{
	return client_admitted(pkt->gen, service_id, pkt->tuple.family, &pkt->tuple.saddr);
}

static __always_inline void source_key(__u32 service_id, __u8 family,
				       const union cutthru_addr *addr,
				       struct cutthru_source_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->service_id = service_id;
	key->family = family;
	key->addr = *addr;
}

/* Is the source blocked from this service after too many failed logins?
 * Only a service with a limiter has blocks (the loader says which). */
static __always_inline int source_blocked(const struct cutthru_service *svc,
					  const struct packet *pkt)
{
	struct cutthru_auth_failures *f;
	struct cutthru_source_key key;

	if (!(svc->flags & CUTTHRU_SVC_LIMITER))
		return 0;
	source_key(svc->id, pkt->tuple.family, &pkt->tuple.saddr, &key);
	f = bpf_map_lookup_elem(&auth_failures, &key);
	return f && bpf_ktime_get_ns() < f->blocked_until_ns;
}

/* The top plen bits of a 32-bit word in network order (plen 0..32). */
static __always_inline __be32 mask_word(__be32 word, int plen)
{
	if (plen <= 0)
		return 0;
	if (plen >= 32)
		return word;
	return word & bpf_htonl(~0u << (32 - plen));
}

/* The source's prefix as the rate limit keeps it. */
static __always_inline void syn_key(const struct packet *pkt, const struct cutthru_syn_limit *lim,
				    struct cutthru_syn_key *key)
{
	int plen, i;

	__builtin_memset(key, 0, sizeof(*key));
	key->family = pkt->tuple.family;
	if (pkt->tuple.family == AF_INET) {
		key->addr.v4 = mask_word(pkt->tuple.saddr.v4, lim->prefix4);
		return;
	}
	plen = lim->prefix6;
	for (i = 0; i < 4; i++)
		key->addr.v6[i] = mask_word(pkt->tuple.saddr.v6[i], plen - 32 * i);
}

enum syn_token {
	SYN_LOOK, /* XDP: only look at the bucket (TC takes the token) */
	SYN_TAKE, /* TC: take a token when there is one */
};

/*
 * Is this SYN over its source prefix's rate? The bucket is a theoretical
 * arrival time (GCRA): each SYN let through moves it interval_ns on, and a
 * SYN is over the rate while it lies more than tolerance_ns ahead of now.
 * Only TC takes tokens: the XDP prefilter looks, and drops once TC has
 * emptied the bucket, so a SYN never pays twice. Concurrent updates may
 * lose a step (no lock): the rate is approximate by a few SYNs.
 */
static __always_inline int syn_over_rate(const struct packet *pkt, enum syn_token take)
{
	struct cutthru_syn_limit *lim;
	struct cutthru_syn_key key;
	__u32 zero = 0;
	__u64 now, tat, *bucket;

	lim = bpf_map_lookup_elem(&syn_limit, &zero);
	if (!lim || !lim->interval_ns)
		return 0;
	syn_key(pkt, lim, &key);
	bucket = bpf_map_lookup_elem(&syn_buckets, &key);
	now = bpf_ktime_get_ns();
	tat = bucket && *bucket > now ? *bucket : now;
	if (tat - now > lim->tolerance_ns)
		return 1;
	if (take == SYN_LOOK)
		return 0;
	tat += lim->interval_ns;
	if (bucket)
		*bucket = tat;
	else
		bpf_map_update_elem(&syn_buckets, &key, &tat, BPF_ANY);
	return 0;
}

/*
 * The verdict on a pure SYN to a protected service that needs no socket:
 * 0, or the drop reason. A source not admitted, or admitted but blocked
 * after failed logins, is refused even on the 4-tuple of a connection it
 * holds (a retransmitted SYN there has nothing to add: the proxy's socket
 * retransmits its own SYN-ACK, an established one would only send a
 * challenge ACK). Admission first: a flood comes from sources not
 * admitted, and then costs two look-ups. Only an admitted source can have
 * failed a login, so only its SYNs look for a block.
 */
static __always_inline int refuse_syn(const struct packet *pkt, const struct cutthru_service *svc)
{
	if (!is_admitted(svc->id, pkt))
		return CUTTHRU_DROP_NOT_ADMITTED;
	if (source_blocked(svc, pkt))
		return CUTTHRU_DROP_AUTH_BLOCKED;
	return 0;
}

#endif /* CUTTHRU_BPF_PREFILTER_H */
