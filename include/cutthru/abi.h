/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The only structs and constants shared by the BPF programs and user space.
 * Every type here has a fixed layout: explicit padding, no pointers, no bool.
 */
#ifndef CUTTHRU_ABI_H
#define CUTTHRU_ABI_H

#include <linux/types.h>

#ifndef CUTTHRU_QUADS_MAX
/* Capacity of the proxy quad list (LRU): live connections beyond this only
 * lose their statistics, never their steering (see intercept.bpf.c). */
#define CUTTHRU_QUADS_MAX 65536
#endif
#define CUTTHRU_SERVICES_MAX 1024 /* protected (prefix, port) entries */
#define CUTTHRU_ALLOW_MAX 4096 /* admitted source prefixes, all services */
#define CUTTHRU_LOCAL_ADDRS_MAX 256 /* the proxy's own addresses */

/* Indexes of the daemon's transparent listeners in the listener sockmap. */
enum cutthru_listener_slot {
	CUTTHRU_LISTENER_INET = 0,
	CUTTHRU_LISTENER_INET6 = 1,
	CUTTHRU_LISTENER_SLOTS = 2,
};

/* An address of either family: IPv4 in the first 4 bytes, rest zero. */
union cutthru_addr {
	__be32 v4;
	__be32 v6[4];
	__u8 bytes[16];
};

/*
 * The proxy quad list key: one proxied connection, always oriented from the
 * client to the protected server (saddr/sport = client).
 */
struct cutthru_quad {
	union cutthru_addr saddr;
	union cutthru_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 pad[3];
};
_Static_assert(sizeof(struct cutthru_quad) == 40, "quad key layout");

/* Index 0 counts packets client->server, index 1 server->client. */
enum cutthru_dir {
	CUTTHRU_DIR_TO_SERVER = 0,
	CUTTHRU_DIR_TO_CLIENT = 1,
};

/* Per-connection state kept beside each quad. */
struct cutthru_conn {
	__u64 created_ns; /* bpf_ktime_get_ns() of the SYN */
	__u64 last_seen_ns;
	__u64 packets[2]; /* by enum cutthru_dir */
	__u64 bytes[2];
	__u32 service_id;
	__u32 pad;
};
_Static_assert(sizeof(struct cutthru_conn) == 56, "conn value layout");

/*
 * The policy maps (services, protected_nets, allowed) hold two generations
 * of the configuration: a reload writes the new one beside the old, flips
 * config_gen[0] (one atomic store: every packet reads it once and sees one
 * whole configuration), then removes the old. The generation leads every
 * key, so it is always matched in full.
 */

/*
 * Protected services: one LPM trie for both families. The generation, port
 * and family lead the key; the address follows and is matched up to the
 * service's prefix length. prefixlen counts the bits after itself: 64
 * (generation, port, family, pad) + the address prefix.
 */
struct cutthru_service_key {
	__u32 prefixlen;
	__u32 gen;
	__be16 port;
	__u8 family;
	__u8 pad;
	union cutthru_addr addr;
};
_Static_assert(sizeof(struct cutthru_service_key) == 28, "service key layout");
#define CUTTHRU_SERVICE_KEY_FIXED_BITS 64

struct cutthru_service {
	/* Stable across reloads and restarts (a hash of the prefix and port),
	 * never 0: what the allowed and auth maps are keyed by. */
	__u32 id;
	__u32 flags; /* enum cutthru_service_flags */
};

/* What a service's packets need looked up beyond the policy maps. */
enum cutthru_service_flags {
	/* Failed logins may block sources (an --auth module with
	 * max-failures): auth_failures is read at its SYNs. */
	CUTTHRU_SVC_LIMITER = 1 << 0,
	/* Its prefix holds one of the proxy's own addresses (local_addrs):
	 * the XDP prefilter must look there before it drops. */
	CUTTHRU_SVC_HOLDS_LOCAL = 1 << 1,
};

/*
 * Protected networks, by address only: what a fragment or an unparsable
 * packet is compared with, since it carries no port. prefixlen counts
 * 64 (generation, family, pad) + the address prefix.
 */
struct cutthru_net_key {
	__u32 prefixlen;
	__u32 gen;
	__u8 family;
	__u8 pad[3];
	union cutthru_addr addr;
};
_Static_assert(sizeof(struct cutthru_net_key) == 28, "net key layout");
#define CUTTHRU_NET_KEY_FIXED_BITS 64

/*
 * Admitted sources, per service: prefixlen counts 96 (generation, service
 * id, family, pad) + the source prefix.
 */
struct cutthru_allow_key {
	__u32 prefixlen;
	__u32 gen;
	__u32 service_id;
	__u8 family;
	__u8 pad[3];
	union cutthru_addr addr;
};
_Static_assert(sizeof(struct cutthru_allow_key) == 32, "allow key layout");
#define CUTTHRU_ALLOW_KEY_FIXED_BITS 96

/* The proxy's own addresses: traffic to them goes to the local stack. */
struct cutthru_local_key {
	__u8 family;
	__u8 pad[3];
	union cutthru_addr addr;
};
_Static_assert(sizeof(struct cutthru_local_key) == 20, "local key layout");

/*
 * The authenticated-source cache (the seed's "uauth") and the failed-login
 * limiter, both keyed by (service, source address). The daemon writes them;
 * the intercepting controller reads them at each SYN (and, for
 * after-auth=forward, at each packet).
 */
struct cutthru_source_key {
	__u32 service_id;
	__u8 family;
	__u8 pad[3];
	union cutthru_addr addr;
};
_Static_assert(sizeof(struct cutthru_source_key) == 24, "source key layout");

#define CUTTHRU_AUTH_SOURCES_MAX 65536
#define CUTTHRU_USER_MAX 64 /* user names, NUL included */

enum cutthru_auth_flags {
	/* Connections from the source are forwarded by the kernel, unproxied. */
	CUTTHRU_AUTH_FORWARD = 1 << 0,
};

/* Times are bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC. */
struct cutthru_auth_source {
	__u64 last_seen_ns; /* refreshed by each connection (or packet) */
	__u64 idle_ns; /* valid while now - last_seen_ns < idle_ns */
	__u64 expires_ns; /* and while now < expires_ns (absolute timeout) */
	__u32 flags; /* enum cutthru_auth_flags */
	__u32 pad;
	char user[CUTTHRU_USER_MAX];
};
_Static_assert(sizeof(struct cutthru_auth_source) == 96, "auth source layout");

struct cutthru_auth_failures {
	__u64 window_start_ns; /* first failure counted in the current window */
	__u64 blocked_until_ns; /* SYNs are dropped while now < this */
	__u32 failures; /* in the window */
	__u32 pad;
};
_Static_assert(sizeof(struct cutthru_auth_failures) == 24, "auth failures layout");

/*
 * Every packet the intercepting controller sees is counted under exactly one
 * reason. Names are in cutthru_reason_names() (user/stats.c).
 */
enum cutthru_reason {
	CUTTHRU_PASS_NOT_IP = 0, /* ARP, LLDP, unparsed ethertypes */
	CUTTHRU_PASS_LOCAL, /* addressed to the proxy itself */
	CUTTHRU_PASS_UNPROTECTED, /* not to or from a protected service */
	CUTTHRU_PASS_NOT_TCP, /* UDP, ICMP... (only TCP services exist) */
	CUTTHRU_PASS_AUTHENTICATED, /* source logged in, after-auth=forward */
	CUTTHRU_STEER_SYN, /* new connection handed to the listener */
	CUTTHRU_STEER_FLOW, /* packet of a proxied connection */
	CUTTHRU_STEER_ICMP, /* ICMP error about a proxied connection: to its socket */
	CUTTHRU_STEER_NO_CONN, /* ACK of no connection, admitted: to the listener,
				* which answers with a reset */
	CUTTHRU_DROP_NOT_ADMITTED, /* SYN from a source not allowed */
	CUTTHRU_DROP_NO_LISTENER, /* SYN while the daemon is not listening */
	CUTTHRU_DROP_NO_CONN, /* non-SYN to/from a service, no connection */
	CUTTHRU_DROP_ASSIGN, /* bpf_sk_assign refused the socket */
	CUTTHRU_DROP_MALFORMED, /* truncated or inconsistent headers */
	CUTTHRU_DROP_FRAGMENT, /* IP fragment to a protected network */
	CUTTHRU_DROP_UNPARSED, /* header chain or tunnel we do not look into */
	CUTTHRU_DROP_AUTH_BLOCKED, /* SYN from a source blocked after failed logins */
	CUTTHRU_DROP_SYN_RATE, /* SYN above its source prefix's rate (--syn-rate) */
	CUTTHRU_REASONS,
};

/*
 * The SYN rate limit (--syn-rate, --syn-burst, --syn-prefix), at index 0 of
 * the syn_limit array: new connections to the protected services, per
 * source prefix, through a token bucket kept the GCRA way (one theoretical
 * arrival time per prefix, in syn_buckets). A SYN is over the rate when its
 * prefix's arrival time lies more than tolerance_ns ahead of now.
 */
struct cutthru_syn_limit {
	__u64 interval_ns; /* 1 s / rate; 0: no limit */
	__u64 tolerance_ns; /* (burst - 1) * interval_ns */
	__u8 prefix4; /* source prefix lengths the buckets are kept by */
	__u8 prefix6;
	__u8 pad[6];
};
_Static_assert(sizeof(struct cutthru_syn_limit) == 24, "syn limit layout");

/* A source prefix of the SYN rate limit: the address masked to it. */
struct cutthru_syn_key {
	__u8 family;
	__u8 pad[3];
	union cutthru_addr addr;
};
_Static_assert(sizeof(struct cutthru_syn_key) == 20, "syn key layout");

#define CUTTHRU_SYN_BUCKETS_MAX 65536

/* Cut-through connections: two sockets each in the sockhash. */
#define CUTTHRU_CUT_SOCKS_MAX (2 * 65536)

/* What the sk_skb verdict did with the bytes of cut-through connections. */
enum cutthru_cut_reason {
	CUTTHRU_CUT_REDIRECTED = 0, /* sent on to the peer leg */
	CUTTHRU_CUT_HELD, /* kept in the leg's own queue: the peer is behind */
	CUTTHRU_CUT_NO_PEER, /* the peer leg is gone: dropped (teardown) */
	CUTTHRU_CUT_EMPTY, /* a FIN's empty segment: nothing to carry */
	CUTTHRU_CUT_OVERLAP, /* bytes of a retransmission received already: cut off */
	CUTTHRU_CUT_OVERLAP_FAILED, /* ...that could not be cut off (no memory) */
	CUTTHRU_CUT_REASONS,
};

/* cut_peers value: a leg's peer, and the slot of the flow it feeds. */
struct cutthru_cut_leg {
	__u64 peer_cookie;
	__u32 flow_slot; /* index into cut_flows */
	__u32 seq_known; /* verdict: next_seq is set (0 from the daemon) */
	__u32 next_seq; /* verdict: TCP sequence number of the next new byte */
	__u32 pad;
};
_Static_assert(sizeof(struct cutthru_cut_leg) == 24, "cut leg layout");

/*
 * Flow control of one direction of a cut-through connection (cut_flows, an
 * array the daemon maps into its memory). The kernel queues redirected
 * bytes for the peer uncharged and without bound, so the verdict redirects
 * only on credit: while `redirected` is below `limit`, which the daemon
 * keeps at what the peer's socket has taken plus CUT_QUEUE_BYTES. Past it,
 * or while any held byte is not moved yet, the verdict holds bytes in the
 * source leg's own queue, charged to its (fixed) receive buffer, so its TCP
 * window closes. Once the peer has taken every redirected byte, the daemon
 * moves the held bytes on itself; the verdict redirects again when all of
 * them are moved, so the byte order never changes. Each field has one
 * writer.
 */
struct cutthru_cut_flow {
	__u64 redirected; /* verdict: bytes redirected to the peer */
	__u64 held; /* verdict: bytes kept in the source's queue */
	__u64 relayed; /* daemon: held bytes it has written to the peer */
	__u64 limit; /* daemon: redirect while redirected < limit */
	__u64 pad[4];
};
_Static_assert(sizeof(struct cutthru_cut_flow) == 64, "flow layout");

/* The verdict reports a flow each time this many more bytes were
 * redirected, so the daemon looks at the peer's queue. */
#define CUTTHRU_CUT_REPORT_BYTES (512u * 1024)

/* cut_events ring buffer record. */
struct cutthru_cut_event {
	__u32 flow_slot;
	__u32 pad;
};

/* Verdict counters: one slot per reason, per CPU. */
struct cutthru_counter {
	__u64 packets;
	__u64 bytes;
};

#endif /* CUTTHRU_ABI_H */
