// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Packet tests for the intercepting controller (bpf/intercept.bpf.c).
 *
 * Crafted Ethernet frames go through cutthru_intercept with
 * BPF_PROG_TEST_RUN, in a network namespace of the test's own, against maps
 * filled here the way user/loader.c fills them. Each case checks the TC
 * verdict, that exactly one reason counter moved (by one packet and the
 * frame's bytes) and the skb mark the program left.
 *
 * bpf_sk_assign() under BPF_PROG_TEST_RUN: the helper refuses any skb that
 * is not at TC ingress (net/core/filter.c: skb_at_tc_ingress(), else
 * -EOPNOTSUPP), and net/bpf/test_run.c builds its skb with tc_at_ingress
 * clear. Every case that reaches the assignment is therefore counted as
 * CUTTHRU_DROP_ASSIGN here, which still proves the packet was classified
 * as steerable and aimed at a socket. The "live" cases at the end attach the
 * program to lo's real TC ingress and inject frames with a packet socket, to
 * show the same packets steered when the hook is real. They also carry the
 * truncated IP headers: BPF_PROG_TEST_RUN refuses (EINVAL) an IPv4 or IPv6
 * frame shorter than the fixed IP header.
 *
 * Every case but the live ones also goes through the XDP prefilter
 * (bpf/xdp.bpf.c) first, in the same state of the maps: where XDP drops,
 * TC must drop for the same reason; where XDP passes, the frame must be
 * untouched and no XDP counter move. Every case whose TC reason is one XDP
 * decides (not admitted, blocked, over the SYN rate) must be dropped by XDP
 * too, unless it says XDP leaves it to TC (CASE_XDP_PASSES).
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cutthru/abi.h"
#include "fixture.h"
#include "intercept.skel.h"
#include "loader.h"
#include "packets.h"

#define PORT_EST4 1 /* replaced by the established IPv4 pair's client port */
#define PORT_EST6 2 /* same, IPv6 */
#define PORT_TW4 3 /* replaced by the client port of a connection in TIME_WAIT */
#define PORT_TW4X 4 /* same, from the address not admitted */

enum case_flags {
	CASE_NO_LISTENER = 1 << 0, /* the listener sockmap is empty */
	CASE_LIVE = 1 << 1, /* injected at lo's real TC ingress, no test run */
	CASE_QUAD = 1 << 2, /* the quad list must hold the packet's tuple */
	/* Service 1 (S4:80) entries for C4 and X4 in the auth maps: */
	CASE_BLOCKED = 1 << 3, /* blocked after failed logins */
	CASE_BLOCK_OVER = 1 << 4, /* blocked, but the block has expired */
	CASE_LOGIN = 1 << 5, /* logged in, proxied (after-auth=proxy) */
	CASE_FORWARD = 1 << 6, /* logged in, after-auth=forward */
	CASE_FORWARD_IDLE = 1 << 7, /* the same, gone idle */
	/* The SYN rate limit (1/s, burst 1, per /24 and /64) on: */
	CASE_RATE_ON = 1 << 8, /* the packet's source prefix has its token */
	CASE_RATE_EMPTY = 1 << 9, /* its bucket is empty */
	CASE_QUAD_ENTRY = 1 << 10, /* the quad list holds the packet's tuple */
	/* TC drops it for a reason XDP decides, but XDP leaves the frame to TC
	 * (not a plain frame): */
	CASE_XDP_PASSES = 1 << 11,
	/* A reload has taken 198.18.1.0/24 (C4's prefix) off service 1: */
	CASE_REVOKED = 1 << 12,
};
#define CASE_AUTH_MAPS \
	(CASE_BLOCKED | CASE_BLOCK_OVER | CASE_LOGIN | CASE_FORWARD | CASE_FORWARD_IDLE)

struct tcase {
	const char *desc;
	pkt_builder build;
	struct pkt_spec pkt;
	int verdict; /* TC_ACT_OK or TC_ACT_SHOT */
	enum cutthru_reason reason;
	unsigned int flags;
};

#define OK(r) .verdict = TC_ACT_OK, .reason = CUTTHRU_##r
#define SHOT(r) .verdict = TC_ACT_SHOT, .reason = CUTTHRU_##r
/* Where an assignable packet ends up under BPF_PROG_TEST_RUN (see the top). */
#define ASSIGNED SHOT(DROP_ASSIGN)

static const struct tcase cases[] = {
	/* New connections to a protected service. */
	{ "IPv4 SYN from an admitted source (assign refused under test run)",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  ASSIGNED },
	{ "IPv6 SYN from an admitted source (assign refused under test run)",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN) },
	  ASSIGNED },
	{ "IPv4 SYN from a source not admitted",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED) },
	{ "IPv6 SYN from a source not admitted",
	  build_ipv6,
	  { TCP(X6, S6, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED) },
	{ "IPv4 SYN, admitted, no listener in the sockmap",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NO_LISTENER),
	  .flags = CASE_NO_LISTENER },
	{ "IPv6 SYN, admitted, no listener in the sockmap",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NO_LISTENER),
	  .flags = CASE_NO_LISTENER },
	{ "IPv4 SYN with payload, admitted",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .payload = 100 },
	  ASSIGNED },

	/* The prefix service 198.19.3.0/24:443; a wildcard listener on :443 exists. */
	{ "SYN to the prefix service, admitted",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN) },
	  ASSIGNED },
	{ "SYN to the prefix service, not admitted",
	  build_ipv4,
	  { TCP(X4, P4, CPORT, 443, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED) },
	{ "SYN to the prefix service, no listener (local wildcard :443 skipped)",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN) },
	  SHOT(DROP_NO_LISTENER),
	  .flags = CASE_NO_LISTENER },
	{ "ACK to the prefix service, no connection (local wildcard :443 skipped)",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_ACK) },
	  ASSIGNED },
	{ "SYN to the prefix network on a port it does not protect",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 80, PKT_SYN) },
	  OK(PASS_UNPROTECTED) },

	/* Not a connection request, and no connection. */
	{ "ACK to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK) },
	  ASSIGNED },
	{ "RST to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_RST) },
	  SHOT(DROP_NO_CONN) },
	{ "FIN+ACK to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_FIN | PKT_ACK) },
	  ASSIGNED },
	{ "data (PSH+ACK) to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_PSH | PKT_ACK), .payload = 64 },
	  ASSIGNED },
	{ "no flags at all to the service",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, 0) },
	  SHOT(DROP_NO_CONN) },
	{ "IPv6 ACK to the service without a connection",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_ACK) },
	  ASSIGNED },
	{ "ACK from a source not admitted, no connection",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
	{ "SYN+ACK to the service (not a pure SYN)",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN | PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
	{ "SYN+RST to the service (not a pure SYN)",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN | PKT_RST) },
	  SHOT(DROP_NO_CONN) },
	{ "SYN+FIN to the service (not a pure SYN)",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN | PKT_FIN) },
	  SHOT(DROP_NO_CONN) },
	{ "IPv6 SYN+ACK to the service (not a pure SYN)",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN | PKT_ACK) },
	  SHOT(DROP_NO_CONN) },

	/* From the protected service, no connection. */
	{ "ACK from the service (sport 80) without a connection",
	  build_ipv4,
	  { TCP(S4, C4, 80, CPORT, PKT_ACK) },
	  ASSIGNED },
	{ "SYN+ACK from the service without a connection",
	  build_ipv4,
	  { TCP(S4, C4, 80, CPORT, PKT_SYN | PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
	{ "SYN from the service's port (not to a service)",
	  build_ipv4,
	  { TCP(S4, C4, 80, CPORT, PKT_SYN) },
	  SHOT(DROP_NO_CONN) },
	{ "IPv6 ACK from the service without a connection",
	  build_ipv6,
	  { TCP(S6, C6, 80, CPORT, PKT_ACK) },
	  ASSIGNED },
	{ "from the prefix service (sport 443) without a connection",
	  build_ipv4,
	  { TCP(P4, C4, 443, CPORT, PKT_ACK) },
	  ASSIGNED },
	{ "from the service address, another port",
	  build_ipv4,
	  { TCP(S4, C4, 81, CPORT, PKT_ACK) },
	  OK(PASS_UNPROTECTED) },

	/* Not protected. */
	{ "SYN to an unprotected port of the protected address",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 81, PKT_SYN) },
	  OK(PASS_UNPROTECTED) },
	{ "IPv6 SYN to an unprotected port of the protected address",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 81, PKT_SYN) },
	  OK(PASS_UNPROTECTED) },
	{ "SYN to an unprotected address",
	  build_ipv4,
	  { TCP(C4, U4, CPORT, 80, PKT_SYN) },
	  OK(PASS_UNPROTECTED) },
	{ "ACK to an unprotected address",
	  build_ipv4,
	  { TCP(X4, U4, CPORT, 80, PKT_ACK) },
	  OK(PASS_UNPROTECTED) },
	{ "IPv6 SYN to an unprotected address",
	  build_ipv6,
	  { TCP(C6, U6, CPORT, 80, PKT_SYN) },
	  OK(PASS_UNPROTECTED) },

	/* The proxy's own addresses. */
	{ "SYN to the proxy's own address, protected port",
	  build_ipv4,
	  { TCP(C4, OWN4, CPORT, 80, PKT_SYN) },
	  OK(PASS_LOCAL) },
	{ "ACK to the proxy's own address from the service",
	  build_ipv4,
	  { TCP(S4, OWN4, 80, CPORT, PKT_ACK) },
	  OK(PASS_LOCAL) },
	{ "IPv6 SYN to the proxy's own address",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN) },
	  OK(PASS_LOCAL) },
	{ "UDP to the proxy's own address",
	  build_ipv4,
	  { UDP(C4, OWN4, CPORT, 53) },
	  OK(PASS_LOCAL) },

	/* Not TCP, not IP. */
	{ "UDP to the protected address and port",
	  build_ipv4,
	  { UDP(C4, S4, CPORT, 80) },
	  OK(PASS_NOT_TCP) },
	{ "IPv6 UDP to the protected address and port",
	  build_ipv6,
	  { UDP(C6, S6, CPORT, 80) },
	  OK(PASS_NOT_TCP) },
	{ "ARP request", build_arp, { .src = C4, .dst = S4 }, OK(PASS_NOT_IP) },
	{ "802.1Q tag still in the frame (QinQ inner tag): the inner SYN is classified",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .vlan = 42 },
	  ASSIGNED },
	{ "802.1Q tag still in the frame, ACK with no connection: to the listener",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .vlan = 7 },
	  ASSIGNED },
	{ "UDP to VXLAN's port on a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 4789 },
	  SHOT(DROP_UNPARSED) },
	{ "UDP to ESP-in-UDP's port (4500) on a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 4500 },
	  SHOT(DROP_UNPARSED) },
	{ "UDP to L2TP's port (1701) on a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 1701 },
	  SHOT(DROP_UNPARSED) },
	{ "UDP to MPLS-in-UDP's port (6635) from a protected address: not looked into",
	  build_ipv6,
	  { .src = S6, .dst = X6, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 6635 },
	  SHOT(DROP_UNPARSED) },
	{ "UDP to GUE's port (6080) on a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 6080 },
	  SHOT(DROP_UNPARSED) },
	{ "MPLS-in-IP to a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = 137 /* MPLS */, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "L2TPv3 over IP to a protected address: not looked into",
	  build_ipv6,
	  { .src = X6, .dst = S6, .proto = 115 /* L2TPv3 */, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "EtherIP to a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = 97 /* EtherIP */, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "Ethernet-in-IPv6 to a protected address: not looked into",
	  build_ipv6,
	  { .src = X6, .dst = S6, .proto = 143 /* Ethernet */, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "UDP to another port on a protected address: passed",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 53 },
	  OK(PASS_NOT_TCP) },
	{ "IPv4 ESP to a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_ESP, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "IPv4-in-IPv4 (inner SYN) to a protected address: not looked into",
	  build_ipv4,
	  { .src = X4,
	    .dst = S4,
	    .proto = IPPROTO_IPIP,
	    .sport = CPORT,
	    .dport = 80,
	    .tcp_flags = PKT_SYN },
	  SHOT(DROP_UNPARSED) },
	{ "GRE to a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_GRE, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6-in-IPv4 to a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_IPV6, .sport = CPORT, .dport = 80 },
	  SHOT(DROP_UNPARSED) },
	{ "GRE to an unprotected address: forwarded",
	  build_ipv4,
	  { .src = X4, .dst = U4, .proto = IPPROTO_GRE, .sport = CPORT, .dport = 80 },
	  OK(PASS_NOT_TCP) },

	/* IPv4 header shapes. */
	{ "IPv4 ihl=4",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .ihl = 4 },
	  SHOT(DROP_MALFORMED) },
	{ "IPv4 ihl=15 past the end of the frame",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .ihl = 15, .l3_keep = 40 },
	  SHOT(DROP_MALFORMED) },
	{ "IPv4 options (ihl=7) SYN to the service, admitted",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .ihl = 7 },
	  ASSIGNED },
	{ "IPv4 options (ihl=7) SYN, not admitted",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN), .ihl = 7 },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_XDP_PASSES },
	{ "IPv4 options (ihl=7) ACK to the service",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .ihl = 7 },
	  ASSIGNED },
	{ "IPv4 options (ihl=7) SYN to an unprotected port",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 81, PKT_SYN), .ihl = 7 },
	  OK(PASS_UNPROTECTED) },
	{ "IPv4 DF set is not a fragment",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .frag = PKT_IP_DF },
	  ASSIGNED },

	/* IPv4 fragments. */
	{ "IPv4 first fragment (MF) to the protected address",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .frag = PKT_IP_MF },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv4 non-first fragment to the protected address",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .frag = 185 },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv4 middle fragment (MF, offset) to the protected address",
	  build_ipv4,
	  { UDP(C4, S4, CPORT, 80), .frag = PKT_IP_MF | 185 },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv4 fragment to the prefix-protected network",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN), .frag = PKT_IP_MF },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv4 fragment to an unprotected address",
	  build_ipv4,
	  { TCP(C4, U4, CPORT, 80, PKT_SYN), .frag = PKT_IP_MF },
	  OK(PASS_NOT_TCP) },
	{ "IPv4 fragment from the service to a client: either end protected",
	  build_ipv4,
	  { TCP(S4, C4, 80, CPORT, PKT_ACK), .frag = PKT_IP_MF },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv4 fragment to the proxy's own address",
	  build_ipv4,
	  { TCP(C4, OWN4, CPORT, 80, PKT_SYN), .frag = PKT_IP_MF },
	  OK(PASS_LOCAL) },

	/* Truncated TCP. */
	{ "TCP header cut to 10 bytes, protected dst",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .l4_keep = 10 },
	  SHOT(DROP_MALFORMED) },
	{ "TCP header cut to 10 bytes, unprotected dst",
	  build_ipv4,
	  { TCP(C4, U4, CPORT, 80, PKT_SYN), .l4_keep = 10 },
	  OK(PASS_UNPROTECTED) },
	{ "TCP data offset 4, protected dst",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .doff = 4 },
	  SHOT(DROP_MALFORMED) },
	{ "IPv6 TCP header cut to 10 bytes, protected dst",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), .l4_keep = 10 },
	  SHOT(DROP_MALFORMED) },
	{ "TCP with options (doff=10) SYN, admitted",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .doff = 10 },
	  ASSIGNED },

	/* IPv6 extension headers. */
	{ "IPv6 hop-by-hop + destination options, SYN, admitted",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS) },
	  ASSIGNED },
	{ "IPv6 hop-by-hop + destination options, SYN, not admitted",
	  build_ipv6,
	  { TCP(X6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_XDP_PASSES },
	{ "IPv6 hop-by-hop + destination options, SYN to an unprotected port",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 81, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS) },
	  OK(PASS_UNPROTECTED) },
	{ "IPv6 hop-by-hop, routing, AH, dest options, then ACK",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_ACK),
	    EXT(IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_AH, IPPROTO_DSTOPTS) },
	  ASSIGNED },
	{ "IPv6 five extension headers (the walk's limit reaches TCP)",
	  build_ipv6,
	  { TCP(X6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
						 IPPROTO_DSTOPTS, IPPROTO_DSTOPTS) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_XDP_PASSES },
	{ "IPv6 six extension headers, protected dst (longer than the walk)",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN),
	    EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
		IPPROTO_DSTOPTS) },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 six extension headers, unprotected dst",
	  build_ipv6,
	  { TCP(C6, U6, CPORT, 80, PKT_SYN),
	    EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
		IPPROTO_DSTOPTS) },
	  OK(PASS_NOT_TCP) },
	{ "IPv6 hop-by-hop header cut short, protected dst",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS), .l3_keep = 41 },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 fragment header (first fragment) to the protected address",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = PKT_IP_MF },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv6 fragment header (non-first) to the protected address",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = 185 },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv6 hop-by-hop + fragment header to the protected address",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_FRAGMENT),
	    .frag = PKT_IP_MF },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv6 atomic fragment (offset 0, no M) to the protected address",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT) },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv6 fragment from the service to a client: either end protected",
	  build_ipv6,
	  { TCP(S6, C6, 80, CPORT, PKT_ACK), EXT(IPPROTO_FRAGMENT), .frag = PKT_IP_MF },
	  SHOT(DROP_FRAGMENT) },
	{ "IPv6 fragment header to an unprotected address",
	  build_ipv6,
	  { TCP(C6, U6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = PKT_IP_MF },
	  OK(PASS_NOT_TCP) },
	{ "IPv6 ESP to the protected address",
	  build_ipv6,
	  { .src = C6, .dst = S6, .proto = IPPROTO_ESP, .payload = 32 },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 hop-by-hop + ESP to the protected address",
	  build_ipv6,
	  { .src = C6, .dst = S6, .proto = IPPROTO_ESP, EXT(IPPROTO_HOPOPTS), .payload = 32 },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 ESP to an unprotected address",
	  build_ipv6,
	  { .src = C6, .dst = U6, .proto = IPPROTO_ESP, .payload = 32 },
	  OK(PASS_NOT_TCP) },
	{ "IPv6 no-next-header to the protected address",
	  build_ipv6,
	  { .src = C6, .dst = S6, .proto = IPPROTO_NONE },
	  OK(PASS_NOT_TCP) },
	{ "IPv6 hop-by-hop header running past the packet's end, UDP to the protected address",
	  build_ipv6,
	  { UDP(C6, S6, CPORT, 80), EXT(IPPROTO_HOPOPTS), .l3_keep = 44 },
	  SHOT(DROP_MALFORMED) },

	/* ICMP errors, as the kernel hands them to TCP (found by tests/fuzz). */
	{ "ICMP fragmentation needed quoting the service's segment, no connection",
	  build_ipv4,
	  { ICMP_ERROR(IPPROTO_ICMP, 3, X4, S4, CPORT, 80) },
	  SHOT(DROP_NO_CONN) },
	{ "ICMPv6 error of an unknown type (5) quoting the service's segment, no connection",
	  build_ipv6,
	  { ICMP_ERROR(IPPROTO_ICMPV6, 5, X6, S6, CPORT, 80) },
	  SHOT(DROP_NO_CONN) },
	{ "ICMPv6 packet too big, the quote behind a destination-options header, no connection",
	  build_ipv6,
	  { ICMP_ERROR(IPPROTO_ICMPV6, 2, X6, S6, CPORT, 80), QUOTE_EXT(IPPROTO_DSTOPTS) },
	  SHOT(DROP_NO_CONN) },
	{ "ICMPv6 unknown error type (100), quote behind hop-by-hop and fragment headers, "
	  "of an established connection: to its socket",
	  build_ipv6,
	  { ICMP_ERROR(IPPROTO_ICMPV6, 100, C6, S6, PORT_EST6, 80),
	    QUOTE_EXT(IPPROTO_HOPOPTS, IPPROTO_FRAGMENT) },
	  OK(STEER_ICMP) },
	{ "ICMPv6 packet too big, the quote behind seven extension headers (past the walk)",
	  build_ipv6,
	  { ICMP_ERROR(IPPROTO_ICMPV6, 2, X6, S6, CPORT, 80),
	    QUOTE_EXT(IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
		      IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS) },
	  SHOT(DROP_UNPARSED) },
	{ "ICMPv6 echo request to the service: not an error",
	  build_ipv6,
	  { ICMP_ERROR(IPPROTO_ICMPV6, 128, X6, S6, CPORT, 80) },
	  OK(PASS_NOT_TCP) },

	/* Routed on by the proxy itself (found by tests/fuzz; seg6_enabled). */
	{ "IPv6 routing header (segments left) behind an atomic fragment header, to the proxy",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT, IPPROTO_ROUTING),
	    .segs_left = 1 },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 routing header (segments left) in a first fragment, to the proxy",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT, IPPROTO_ROUTING),
	    .segs_left = 1, .frag = PKT_IP_MF },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 seven extension headers to the proxy (past the walk)",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN),
	    EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
		IPPROTO_DSTOPTS, IPPROTO_DSTOPTS) },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 two fragment headers to the proxy",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT, IPPROTO_FRAGMENT) },
	  SHOT(DROP_UNPARSED) },
	{ "IPv6 first fragment to the proxy, nothing routed",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = PKT_IP_MF },
	  OK(PASS_LOCAL) },
	{ "IPv6 later fragment to the proxy",
	  build_ipv6,
	  { TCP(X6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = 185 },
	  OK(PASS_LOCAL) },
	{ "IPv6 routing header behind an atomic fragment header, to the protected address",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT, IPPROTO_ROUTING),
	    .segs_left = 1 },
	  SHOT(DROP_FRAGMENT) },

	/* The failed-login limiter and the logged-in source cache. */
	{ "IPv4 SYN from a source blocked after failed logins",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_AUTH_BLOCKED),
	  .flags = CASE_BLOCKED },
	{ "IPv4 SYN from a source whose block has expired",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_BLOCK_OVER },
	{ "IPv4 SYN not admitted, from a blocked source: not admitted first",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_BLOCKED },
	{ "IPv4 SYN from a blocked source to another service",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_BLOCKED },
	{ "IPv4 ACK (no connection) from a blocked source: no connection, not blocked",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK) },
	  ASSIGNED,
	  .flags = CASE_BLOCKED },
	{ "IPv4 SYN from a logged-in source, after-auth=proxy",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_LOGIN },
	{ "IPv4 SYN from a logged-in source, after-auth=forward",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  OK(PASS_AUTHENTICATED),
	  .flags = CASE_FORWARD },
	{ "IPv4 ACK from a logged-in source, after-auth=forward",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .payload = 100 },
	  OK(PASS_AUTHENTICATED),
	  .flags = CASE_FORWARD },
	{ "IPv4 SYN-ACK from the server to a logged-in source, after-auth=forward",
	  build_ipv4,
	  { TCP(S4, C4, 80, CPORT, PKT_SYN | PKT_ACK) },
	  OK(PASS_AUTHENTICATED),
	  .flags = CASE_FORWARD },
	{ "IPv4 SYN from a logged-in source to another service, after-auth=forward",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_FORWARD },
	{ "IPv4 SYN from a logged-in source no longer admitted, after-auth=forward",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_FORWARD },
	{ "IPv4 SYN from a logged-in source gone idle, after-auth=forward",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_FORWARD_IDLE },
	{ "IPv4 ACK from a logged-in source gone idle, after-auth=forward",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK) },
	  ASSIGNED,
	  .flags = CASE_FORWARD_IDLE },

	/* The SYN rate limit per source prefix (--syn-rate). */
	{ "IPv4 SYN over its prefix's SYN rate",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv6 SYN over its prefix's SYN rate",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN over the SYN rate, another address of the same /24",
	  build_ipv4,
	  { TCP(C4_LIVE, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN over the SYN rate to the prefix service",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN within the SYN rate",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_RATE_ON },
	{ "IPv6 SYN within the SYN rate",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_RATE_ON },
	{ "IPv4 SYN not admitted, its prefix's bucket empty: not admitted first",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN from a blocked source, bucket empty: blocked first",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_AUTH_BLOCKED),
	  .flags = CASE_RATE_EMPTY | CASE_BLOCKED },
	{ "IPv4 ACK over the SYN rate: not a SYN, no connection (to the listener's reset)",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK) },
	  ASSIGNED,
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN-ACK over the SYN rate: not a connection request",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN | PKT_ACK) },
	  SHOT(DROP_NO_CONN),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN over the SYN rate to an unprotected address",
	  build_ipv4,
	  { TCP(C4, U4, CPORT, 80, PKT_SYN) },
	  OK(PASS_UNPROTECTED),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN not admitted to the proxy's own address inside the prefix service",
	  build_ipv4,
	  { TCP(X4, OWN_IN_P4, CPORT, 443, PKT_SYN) },
	  OK(PASS_LOCAL) },
	{ "IPv4 SYN over the SYN rate to the proxy's own address inside the prefix service",
	  build_ipv4,
	  { TCP(C4, OWN_IN_P4, CPORT, 443, PKT_SYN) },
	  OK(PASS_LOCAL),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN over the SYN rate to the proxy itself",
	  build_ipv4,
	  { TCP(C4, OWN4, CPORT, 80, PKT_SYN) },
	  OK(PASS_LOCAL),
	  .flags = CASE_RATE_EMPTY },
	{ "IPv4 SYN over the SYN rate, logged in with after-auth=forward",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY | CASE_FORWARD },
	{ "IPv4 SYN over the SYN rate behind a VLAN tag: left to TC",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .vlan = 7 },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY | CASE_XDP_PASSES },
	{ "IPv4 SYN over the SYN rate with IP options: left to TC",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .ihl = 6 },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY | CASE_XDP_PASSES },
	{ "IPv6 SYN over the SYN rate behind a destination-options header: left to TC",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_DSTOPTS) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY | CASE_XDP_PASSES },
	{ "IPv4 SYN over the SYN rate on a TIME_WAIT 4-tuple",
	  build_ipv4,
	  { TCP(C4, S4, PORT_TW4, 80, PKT_SYN) },
	  SHOT(DROP_SYN_RATE),
	  .flags = CASE_RATE_EMPTY | CASE_NO_LISTENER },
	{ "IPv4 SYN over the SYN rate on an established 4-tuple in the quad list: its socket's",
	  build_ipv4,
	  { TCP(C4, S4, PORT_EST4, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_RATE_EMPTY | CASE_QUAD_ENTRY },
	{ "IPv4 SYN not admitted, on a 4-tuple in the quad list: refused all the same",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_QUAD_ENTRY },

	/* Sockets of this namespace owning the 4-tuple. */
	{ "ACK of an established IPv4 connection, to the service",
	  build_ipv4,
	  { TCP(C4, S4, PORT_EST4, 80, PKT_ACK) },
	  ASSIGNED },
	{ "ACK of an established IPv4 connection, from the service",
	  build_ipv4,
	  { TCP(S4, C4, 80, PORT_EST4, PKT_ACK) },
	  ASSIGNED },
	{ "ACK of an established IPv6 connection, to the service",
	  build_ipv6,
	  { TCP(C6, S6, PORT_EST6, 80, PKT_ACK) },
	  ASSIGNED },
	{ "ACK of an established IPv6 connection, from the service",
	  build_ipv6,
	  { TCP(S6, C6, 80, PORT_EST6, PKT_ACK) },
	  ASSIGNED },
	{ "SYN on an established 4-tuple goes to its owner, not the listener",
	  build_ipv4,
	  { TCP(C4, S4, PORT_EST4, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_NO_LISTENER },
	{ "SYN on an established 4-tuple, its source revoked by a reload: refused",
	  build_ipv4,
	  { TCP(C4, S4, PORT_EST4, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_REVOKED },
	{ "ACK on an established 4-tuple, its source revoked by a reload: still its owner's",
	  build_ipv4,
	  { TCP(C4, S4, PORT_EST4, 80, PKT_ACK) },
	  ASSIGNED,
	  .flags = CASE_REVOKED },
	{ "SYN on a TIME_WAIT 4-tuple, admitted: to the time-wait socket",
	  build_ipv4,
	  { TCP(C4, S4, PORT_TW4, 80, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_NO_LISTENER },
	{ "SYN on a TIME_WAIT 4-tuple, not admitted",
	  build_ipv4,
	  { TCP(X4, S4, PORT_TW4X, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED) },
	{ "ACK on a TIME_WAIT 4-tuple, not admitted: to the time-wait socket",
	  build_ipv4,
	  { TCP(X4, S4, PORT_TW4X, 80, PKT_ACK) },
	  ASSIGNED },
	{ "ACK on a TIME_WAIT 4-tuple goes to the time-wait socket",
	  build_ipv4,
	  { TCP(C4, S4, PORT_TW4, 80, PKT_ACK) },
	  ASSIGNED },

	/* At lo's real TC ingress: the assignment succeeds. */
	{ "live: IPv4 SYN from an admitted source is steered",
	  build_ipv4,
	  { TCP(C4_LIVE, S4, CPORT, 80, PKT_SYN) },
	  OK(STEER_SYN),
	  .flags = CASE_LIVE | CASE_QUAD },
	{ "live: IPv6 SYN from an admitted source is steered",
	  build_ipv6,
	  { TCP(C6_LIVE, S6, CPORT, 80, PKT_SYN) },
	  OK(STEER_SYN),
	  .flags = CASE_LIVE | CASE_QUAD },
	{ "live: prefix service SYN is steered",
	  build_ipv4,
	  { TCP(C4_LIVE, P4, CPORT, 443, PKT_SYN) },
	  OK(STEER_SYN),
	  .flags = CASE_LIVE | CASE_QUAD },
	{ "live: IPv4 SYN from a source not admitted",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_SYN) },
	  SHOT(DROP_NOT_ADMITTED),
	  .flags = CASE_LIVE },
	{ "live: out-of-window RST of an established connection is steered",
	  build_ipv4,
	  { TCP(C4, S4, PORT_EST4, 80, PKT_RST) },
	  OK(STEER_FLOW),
	  .flags = CASE_LIVE },
	{ "live: ACK of no connection from an admitted source: to the listener",
	  build_ipv4,
	  { TCP(C4_LIVE, S4, CPORT, 80, PKT_ACK) },
	  OK(STEER_NO_CONN),
	  .flags = CASE_LIVE },
	{ "live: IPv6 data of no connection from an admitted source: to the listener",
	  build_ipv6,
	  { TCP(C6_LIVE, S6, CPORT, 80, PKT_PSH | PKT_ACK), .payload = 32 },
	  OK(STEER_NO_CONN),
	  .flags = CASE_LIVE },
	{ "live: ACK of no connection from a source not admitted: dropped",
	  build_ipv4,
	  { TCP(X4, S4, CPORT, 80, PKT_ACK) },
	  SHOT(DROP_NO_CONN),
	  .flags = CASE_LIVE },
	{ "live: RST of no connection: dropped, never answered",
	  build_ipv4,
	  { TCP(C4_LIVE, S4, CPORT, 80, PKT_RST | PKT_ACK) },
	  SHOT(DROP_NO_CONN),
	  .flags = CASE_LIVE },
	/* Truncated IP headers: BPF_PROG_TEST_RUN refuses such frames. */
	{ "live: IPv4 header truncated to 10 bytes, protected dst",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_SYN), .l3_keep = 10 },
	  SHOT(DROP_MALFORMED),
	  .flags = CASE_LIVE },
	{ "live: IPv4 header truncated to 10 bytes, unprotected dst",
	  build_ipv4,
	  { TCP(C4, U4, CPORT, 80, PKT_SYN), .l3_keep = 10 },
	  SHOT(DROP_MALFORMED),
	  .flags = CASE_LIVE },
	{ "live: IPv6 fixed header truncated to 30 bytes",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), .l3_keep = 30 },
	  SHOT(DROP_MALFORMED),
	  .flags = CASE_LIVE },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* Exactly one reason moved, by one packet of len bytes. */
static int check_counters(const struct cutthru_counter *before, const struct cutthru_counter *after,
			  enum cutthru_reason want, size_t len, char *why, size_t why_len)
{
	int n = snprintf(why, why_len, "want %s (1 packet, %zu bytes), counted",
			 fixture_reason_name(want), len);
	int wrong = 0;
	__u32 r;

	for (r = 0; r < CUTTHRU_REASONS; r++) {
		__u64 pkts = after[r].packets - before[r].packets;
		__u64 bytes = after[r].bytes - before[r].bytes;

		if (r == want ? pkts == 1 && bytes == len : !pkts)
			continue;
		wrong = 1;
		if (n > 0 && (size_t)n < why_len)
			n += snprintf(why + n, why_len - n, " %s (%llu, %llu)",
				      fixture_reason_name(r), (unsigned long long)pkts,
				      (unsigned long long)bytes);
	}
	return wrong ? -1 : 0;
}

static __u16 resolve_port(const struct fixture *fx, __u16 port)
{
	switch (port) {
	case PORT_EST4:
		return fx->port_est4;
	case PORT_EST6:
		return fx->port_est6;
	case PORT_TW4:
		return fx->port_tw4;
	case PORT_TW4X:
		return fx->port_tw4x;
	default:
		return port;
	}
}

/* --- Live cases: lo's real TC ingress. ------------------------------------ */

static int attach_live(struct fixture *fx, char *why, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = fx->lo_ifindex };
	int err;

	fx->hook = (struct bpf_tc_hook){ .sz = sizeof(fx->hook),
					 .ifindex = fx->lo_ifindex,
					 .attach_point = BPF_TC_INGRESS };
	fx->tc_opts = (struct bpf_tc_opts){ .sz = sizeof(fx->tc_opts), .prog_fd = fx->prog_fd };
	err = bpf_tc_hook_create(&fx->hook);
	if (err && err != -EEXIST)
		return fixture_fail(
			why, len, "creating the clsact qdisc on lo (needs CONFIG_NET_SCH_INGRESS)",
			err);
	err = bpf_tc_attach(&fx->hook, &fx->tc_opts);
	if (err)
		return fixture_fail(why, len, "attaching to lo ingress (needs CONFIG_NET_CLS_BPF)",
				    err);
	fx->live_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fx->live_fd < 0 || bind(fx->live_fd, (struct sockaddr *)&sll, sizeof(sll)))
		return fixture_fail(why, len, "packet socket on lo (needs CONFIG_PACKET)", errno);
	return 0;
}

static __u64 total_packets(const struct cutthru_counter *c)
{
	__u64 n = 0;
	int r;

	for (r = 0; r < CUTTHRU_REASONS; r++)
		n += c[r].packets;
	return n;
}

/* Sends on lo and waits for the program to have counted the frame. */
static int inject(struct fixture *fx, const __u8 *frame, size_t len,
		  struct cutthru_counter after[CUTTHRU_REASONS], __u64 before_total)
{
	int i, err;

	if (send(fx->live_fd, frame, len, 0) != (ssize_t)len)
		return -errno;
	for (i = 0; i < 100; i++) {
		err = fixture_read_counters(fx, after);
		if (err)
			return err;
		if (total_packets(after) != before_total)
			break;
		usleep(10000);
	}
	/* Anything the frame provokes on lo would be counted too: look for it. */
	usleep(50000);
	return fixture_read_counters(fx, after);
}

static int check_quad(struct fixture *fx, const struct pkt_spec *spec, char *why, size_t len)
{
	struct cutthru_quad quad = { .sport = htons(spec->sport), .dport = htons(spec->dport) };
	struct cutthru_conn conn;

	fixture_addr(spec->src, &quad.family, &quad.saddr);
	fixture_addr(spec->dst, &quad.family, &quad.daddr);
	if (bpf_map_lookup_elem(fx->quads_fd, &quad, &conn))
		return fixture_fail(why, len, "no quad for the SYN's 4-tuple", errno);
	if (conn.packets[CUTTHRU_DIR_TO_SERVER] != 1 || !conn.service_id) {
		snprintf(why, len, "quad holds %llu packets, service %u",
			 (unsigned long long)conn.packets[CUTTHRU_DIR_TO_SERVER], conn.service_id);
		return -1;
	}
	return 0;
}

/* --- The XDP prefilter beside TC. ----------------------------------------- */

static int xdp_decides(enum cutthru_reason r)
{
	return r == CUTTHRU_DROP_NOT_ADMITTED || r == CUTTHRU_DROP_AUTH_BLOCKED ||
	       r == CUTTHRU_DROP_SYN_RATE;
}

/* The frame through XDP in the state TC will judge it in (XDP writes no
 * map but its counters): agreement with the case's TC verdict. */
static int check_xdp(struct fixture *fx, const struct tcase *c, const __u8 *frame, size_t len,
		     char *why, size_t why_len)
{
	struct cutthru_counter before[CUTTHRU_REASONS], after[CUTTHRU_REASONS];
	int want_drop = xdp_decides(c->reason) && !(c->flags & CASE_XDP_PASSES);
	__u32 retval = 0, out_len = FRAME_MAX;
	__u8 out[FRAME_MAX];
	char counted[200];
	int err;

	err = fixture_read_xdp_counters(fx, before)			      ?:
		      fixture_xdp_run(fx, frame, len, &retval, out, &out_len) ?:
		      fixture_read_xdp_counters(fx, after);
	if (err)
		return fixture_fail(why, why_len, "XDP test run", err);
	if (retval == XDP_DROP) {
		if (!want_drop) {
			snprintf(why, why_len, "XDP dropped it, TC says %s%s",
				 fixture_reason_name(c->reason),
				 xdp_decides(c->reason) ? " (but XDP should leave it to TC)" : "");
			return -1;
		}
		if (check_counters(before, after, c->reason, len, counted, sizeof(counted))) {
			snprintf(why, why_len, "XDP: %s", counted);
			return -1;
		}
		return 0;
	}
	if (retval != XDP_PASS || want_drop) {
		snprintf(why, why_len, "XDP verdict %u, want XDP_DROP as %s", retval,
			 fixture_reason_name(c->reason));
		return -1;
	}
	if (out_len != len || memcmp(out, frame, len)) {
		snprintf(why, why_len, "XDP passed the frame changed (%u bytes, was %zu)", out_len,
			 len);
		return -1;
	}
	if (total_packets(after) != total_packets(before)) {
		snprintf(why, why_len, "XDP passed the frame but counted it");
		return -1;
	}
	return 0;
}

/* --- Running the table. --------------------------------------------------- */

static int run_frame(struct fixture *fx, const struct tcase *c, const __u8 *frame, size_t len,
		     char *why, size_t why_len)
{
	struct cutthru_counter before[CUTTHRU_REASONS], after[CUTTHRU_REASONS];
	__u32 retval = 0, mark = 0, want_mark;
	int err;

	err = fixture_read_counters(fx, before);
	if (err)
		return fixture_fail(why, why_len, "reading the counters", err);
	if (!(c->flags & CASE_LIVE) && check_xdp(fx, c, frame, len, why, why_len))
		return -1;
	if (c->flags & CASE_LIVE)
		err = inject(fx, frame, len, after, total_packets(before));
	else
		err = fixture_test_run(fx, frame, len, &retval, &mark) ?:
			      fixture_read_counters(fx, after);
	if (err)
		return fixture_fail(why, why_len, c->flags & CASE_LIVE ? "injecting" : "test run",
				    err);
	if (check_counters(before, after, c->reason, len, why, why_len))
		return -1;
	if (c->flags & CASE_LIVE)
		return 0;
	if ((int)retval != c->verdict) {
		snprintf(why, why_len, "verdict %u, want %d", retval, c->verdict);
		return -1;
	}
	/* Only a packet handed to a socket is marked for the local route. */
	want_mark = c->reason >= CUTTHRU_STEER_SYN && c->reason < CUTTHRU_DROP_NOT_ADMITTED;
	want_mark *= STEER_MARK;
	if (mark != want_mark) {
		snprintf(why, why_len, "mark %#x, want %#x", mark, want_mark);
		return -1;
	}
	return 0;
}

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* C4's admitted prefix on service 1: with on == 0 removed, as a reload
 * that revokes it would leave it; with on == 1 back. */
static int set_admitted(struct fixture *fx, int on)
{
	struct cutthru_allow_key key = { .service_id = 1 };
	__u32 one = 1;
	int fd = bpf_map__fd(fx->skel->maps.allowed);

	fixture_addr("198.18.1.0", &key.family, &key.addr);
	key.prefixlen = CUTTHRU_ALLOW_KEY_FIXED_BITS + 24;
	if (on)
		return bpf_map_update_elem(fd, &key, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(fd, &key) ? -errno : 0;
}

/* The auth map entries a case asks for, for C4 and X4 on service 1; with
 * on == 0, removes them. */
static int set_auth_maps(struct fixture *fx, unsigned int flags, int on)
{
	int src_fd = bpf_map__fd(fx->skel->maps.auth_sources);
	int fail_fd = bpf_map__fd(fx->skel->maps.auth_failures);
	const __u64 s = 1000000000ull, now = monotonic_ns();
	struct cutthru_auth_failures f = { .blocked_until_ns = now + 60 * s };
	struct cutthru_auth_source a = { .last_seen_ns = now,
					 .idle_ns = 60 * s,
					 .expires_ns = now + 3600 * s };
	const char *who[] = { C4, X4 };
	struct cutthru_source_key key;
	__u8 family;
	int i, err = 0;

	if (flags & CASE_BLOCK_OVER)
		f.blocked_until_ns = now - s;
	if (flags & (CASE_FORWARD | CASE_FORWARD_IDLE))
		a.flags = CUTTHRU_AUTH_FORWARD;
	if (flags & CASE_FORWARD_IDLE)
		a.last_seen_ns = now - 61 * s;
	for (i = 0; i < 2 && !err; i++) {
		memset(&key, 0, sizeof(key));
		key.service_id = 1;
		fixture_addr(who[i], &family, &key.addr);
		key.family = family;
		if (!on) {
			bpf_map_delete_elem(fail_fd, &key);
			bpf_map_delete_elem(src_fd, &key);
		} else if (flags & (CASE_BLOCKED | CASE_BLOCK_OVER)) {
			err = bpf_map_update_elem(fail_fd, &key, &f, BPF_ANY);
		} else {
			err = bpf_map_update_elem(src_fd, &key, &a, BPF_ANY);
		}
	}
	return err ? -errno : 0;
}

/* The SYN rate limit: interval_ns 0 turns it off. Buckets per /24, /64. */
static int set_syn_limit(struct fixture *fx, __u64 interval_ns, __u64 tolerance_ns)
{
	struct cutthru_syn_limit lim = { .interval_ns = interval_ns,
					 .tolerance_ns = tolerance_ns,
					 .prefix4 = 24,
					 .prefix6 = 64 };
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.syn_limit), &zero, &lim, BPF_ANY))
		return -errno;
	return 0;
}

/* The bucket of src's prefix: its theoretical arrival time, or (tat 0)
 * none. */
static int set_syn_bucket(struct fixture *fx, const char *src, __u64 tat)
{
	int fd = bpf_map__fd(fx->skel->maps.syn_buckets);
	struct cutthru_syn_key key = { 0 };

	fixture_addr(src, &key.family, &key.addr);
	if (key.family == AF_INET)
		key.addr.bytes[3] = 0;
	else
		memset(key.addr.bytes + 8, 0, 8);
	if (!tat)
		return bpf_map_delete_elem(fd, &key) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fd, &key, &tat, BPF_ANY) ? -errno : 0;
}

static int set_rate_maps(struct fixture *fx, const struct tcase *c, int on)
{
	const __u64 s = 1000000000ull;

	if (!on)
		return set_syn_limit(fx, 0, 0) ?: set_syn_bucket(fx, c->pkt.src, 0);
	return set_syn_limit(fx, s, 0) ?:
					 set_syn_bucket(fx, c->pkt.src,
					c->flags & CASE_RATE_EMPTY ? monotonic_ns() + 60 * s : 0);
}

/* A quad list entry for the packet's tuple, as the daemon's connection has. */
static int set_quad_entry(struct fixture *fx, const struct pkt_spec *spec, int on)
{
	struct cutthru_quad quad = { .sport = htons(spec->sport), .dport = htons(spec->dport) };
	struct cutthru_conn conn = { .service_id = 1 };

	fixture_addr(spec->src, &quad.family, &quad.saddr);
	fixture_addr(spec->dst, &quad.family, &quad.daddr);
	if (!on)
		return bpf_map_delete_elem(fx->quads_fd, &quad) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fx->quads_fd, &quad, &conn, BPF_ANY) ? -errno : 0;
}

#define CASE_RATE_MAPS (CASE_RATE_ON | CASE_RATE_EMPTY)

static int run_case(struct fixture *fx, const struct tcase *c, char *why, size_t why_len)
{
	struct pkt_spec spec = c->pkt;
	__u8 frame[FRAME_MAX] = { 0 };
	size_t len;
	int err;

	spec.sport = resolve_port(fx, spec.sport);
	spec.dport = resolve_port(fx, spec.dport);
	len = c->build(&spec, frame);
	if ((c->flags & CASE_NO_LISTENER) && fixture_set_listeners(fx, 0))
		return fixture_fail(why, why_len, "emptying the listener sockmap", errno);
	if ((c->flags & CASE_AUTH_MAPS) && set_auth_maps(fx, c->flags, 1))
		return fixture_fail(why, why_len, "filling the auth maps", errno);
	if ((c->flags & CASE_RATE_MAPS) && set_rate_maps(fx, c, 1))
		return fixture_fail(why, why_len, "filling the SYN rate maps", errno);
	if ((c->flags & CASE_QUAD_ENTRY) && set_quad_entry(fx, &spec, 1))
		return fixture_fail(why, why_len, "adding the quad", errno);
	if ((c->flags & CASE_REVOKED) && set_admitted(fx, 0))
		return fixture_fail(why, why_len, "revoking the admitted prefix", errno);
	err = run_frame(fx, c, frame, len, why, why_len);
	if ((c->flags & CASE_REVOKED) && set_admitted(fx, 1) && !err)
		return fixture_fail(why, why_len, "admitting the prefix again", errno);
	if (c->flags & CASE_AUTH_MAPS)
		set_auth_maps(fx, c->flags, 0);
	if (c->flags & CASE_RATE_MAPS)
		set_rate_maps(fx, c, 0);
	if (c->flags & CASE_QUAD_ENTRY)
		set_quad_entry(fx, &spec, 0);
	if ((c->flags & CASE_NO_LISTENER) && fixture_set_listeners(fx, 1) && !err)
		return fixture_fail(why, why_len, "refilling the listener sockmap", errno);
	if (!err && (c->flags & CASE_QUAD))
		err = check_quad(fx, &spec, why, why_len);
	return err;
}

/* --- The SYN token bucket over sequences of SYNs. ------------------------ */

enum syn_fate {
	SYN_PASSED, /* on to the listener (DROP_ASSIGN under test run) */
	SYN_XDP_RATE, /* dropped by XDP as over the rate */
	SYN_TC_RATE, /* passed by XDP, dropped by TC as over the rate */
	SYN_OTHER,
};

/* A SYN from src:sport to S4:80 (or S6) as the kernel would take it: XDP
 * first, then, if it passes, TC; with tc_only, TC alone (--xdp off). */
static enum syn_fate one_syn(struct fixture *fx, const char *src, __u16 sport, int tc_only)
{
	struct pkt_spec spec = { TCP(src, strchr(src, ':') ? S6 : S4, sport, 80, PKT_SYN) };
	struct cutthru_counter before[CUTTHRU_REASONS], after[CUTTHRU_REASONS];
	__u8 frame[FRAME_MAX] = { 0 }, out[FRAME_MAX];
	__u32 retval = 0, mark, out_len = sizeof(out);
	size_t len;

	len = strchr(src, ':') ? build_ipv6(&spec, frame) : build_ipv4(&spec, frame);
	if (!tc_only) {
		if (fixture_read_xdp_counters(fx, before) ||
		    fixture_xdp_run(fx, frame, len, &retval, out, &out_len) ||
		    fixture_read_xdp_counters(fx, after))
			return SYN_OTHER;
		if (retval == XDP_DROP)
			return after[CUTTHRU_DROP_SYN_RATE].packets ==
					       before[CUTTHRU_DROP_SYN_RATE].packets + 1 ?
				       SYN_XDP_RATE :
				       SYN_OTHER;
	}
	if (fixture_read_counters(fx, before) || fixture_test_run(fx, frame, len, &retval, &mark) ||
	    fixture_read_counters(fx, after))
		return SYN_OTHER;
	if (after[CUTTHRU_DROP_SYN_RATE].packets == before[CUTTHRU_DROP_SYN_RATE].packets + 1)
		return SYN_TC_RATE;
	if (after[CUTTHRU_DROP_ASSIGN].packets == before[CUTTHRU_DROP_ASSIGN].packets + 1)
		return SYN_PASSED;
	return SYN_OTHER;
}

/* Sends SYNs and compares their fates with want ("P" passed, "X" dropped
 * by XDP, "T" by TC); '.' in want: sleep sleep_ms there. */
static int syn_sequence(struct fixture *fx, const char *src, const char *want, int tc_only,
			int sleep_ms, char *why, size_t len)
{
	static const char fates[] = {
		[SYN_PASSED] = 'P', [SYN_XDP_RATE] = 'X', [SYN_TC_RATE] = 'T', [SYN_OTHER] = '?'
	};
	char got[32] = "";
	size_t i, n = 0;

	for (i = 0; want[i] && n + 1 < sizeof(got); i++) {
		if (want[i] == '.') {
			usleep((useconds_t)sleep_ms * 1000);
			got[n++] = '.';
			continue;
		}
		got[n++] = fates[one_syn(fx, src, (__u16)(CPORT + 100 + i), tc_only)];
	}
	got[n] = '\0';
	if (strcmp(got, want)) {
		snprintf(why, len, "SYNs from %s: got %s, want %s", src, got, want);
		return -1;
	}
	return 0;
}

static int forget_buckets(struct fixture *fx)
{
	return set_syn_bucket(fx, C4, 0) ?: set_syn_bucket(fx, C6, 0);
}

/* rate 1/s, burst 3: three at once pass, the fourth is XDP's to drop. */
static int bucket_burst(struct fixture *fx, char *why, size_t len)
{
	const __u64 s = 1000000000ull;

	return set_syn_limit(fx, s, 2 * s) ?:
		       forget_buckets(fx)  ?:
					     syn_sequence(fx, C4, "PPPXX", 0, 0, why, len);
}

/* --xdp off: TC alone keeps the same limit. */
static int bucket_tc_only(struct fixture *fx, char *why, size_t len)
{
	const __u64 s = 1000000000ull;

	return set_syn_limit(fx, s, 2 * s) ?:
		       forget_buckets(fx)  ?:
					     syn_sequence(fx, C4, "PPPTT", 1, 0, why, len);
}

/* rate 1/s, burst 2: after 1.2 s one more token, and only one. */
static int bucket_refill(struct fixture *fx, char *why, size_t len)
{
	const __u64 s = 1000000000ull;

	return set_syn_limit(fx, s, s)	  ?:
		       forget_buckets(fx) ?:
					    syn_sequence(fx, C4, "PPX.PX", 0, 1200, why, len);
}

/* The buckets are per prefix: another family's is full. */
static int bucket_per_prefix(struct fixture *fx, char *why, size_t len)
{
	const __u64 s = 1000000000ull;

	return set_syn_limit(fx, s, 0)				      ?:
		       forget_buckets(fx)			      ?:
		       syn_sequence(fx, C4, "PX", 0, 0, why, len)     ?:
		       syn_sequence(fx, C4_LIVE, "X", 0, 0, why, len) ?:
		       syn_sequence(fx, C6, "PX", 0, 0, why, len);
}

/* No limit: nothing is counted, nothing dropped. */
static int bucket_off(struct fixture *fx, char *why, size_t len)
{
	return set_syn_limit(fx, 0, 0)	  ?:
		       forget_buckets(fx) ?:
					    syn_sequence(fx, C4, "PPPPPP", 0, 0, why, len);
}

static const struct {
	const char *desc;
	int (*run)(struct fixture *fx, char *why, size_t len);
} bucket_tests[] = {
	{ "SYN rate 1/s, burst 3: 3 SYNs pass, XDP drops the rest", bucket_burst },
	{ "SYN rate 1/s, burst 3, TC alone: 3 SYNs pass, TC drops the rest", bucket_tc_only },
	{ "SYN rate 1/s, burst 2: one more SYN 1.2 s later", bucket_refill },
	{ "SYN rate per /24 and /64 prefix", bucket_per_prefix },
	{ "no SYN rate: every SYN passes", bucket_off },
};

static int setup(struct fixture *fx, char *why, size_t len)
{
	if (loader_probe(why, len))
		return -1;
	return fixture_setup(fx, why, len);
}

int main(void)
{
	struct fixture fx = { .live_fd = -1 };
	int passed = 0, failed = 0, live = 0;
	char why[256] = "";
	size_t i;

	if (setup(&fx, why, sizeof(why))) {
		printf("not ok 1 - setup: %s\n0 passed, 1 failed\n", why);
		fixture_teardown(&fx);
		return 1;
	}
	for (i = 0; i < N_CASES; i++) {
		const struct tcase *c = &cases[i];

		why[0] = '\0';
		if ((c->flags & CASE_LIVE) && !live)
			live = attach_live(&fx, why, sizeof(why)) ? -1 : 1;
		if (live < 0 || run_case(&fx, c, why, sizeof(why))) {
			printf("not ok %zu - %s: %s\n", i + 1, c->desc, why);
			failed++;
		} else {
			printf("ok %zu - %s\n", i + 1, c->desc);
			passed++;
		}
	}
	for (i = 0; i < sizeof(bucket_tests) / sizeof(bucket_tests[0]); i++) {
		why[0] = '\0';
		if (bucket_tests[i].run(&fx, why, sizeof(why))) {
			printf("not ok %zu - %s: %s\n", N_CASES + i + 1, bucket_tests[i].desc, why);
			failed++;
		} else {
			printf("ok %zu - %s\n", N_CASES + i + 1, bucket_tests[i].desc);
			passed++;
		}
	}
	set_syn_limit(&fx, 0, 0);
	printf("%d passed, %d failed\n", passed, failed);
	fixture_teardown(&fx);
	return failed ? 1 : 0;
}
