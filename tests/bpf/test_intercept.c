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
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cutthru/abi.h"
#include "intercept.skel.h"
#include "loader.h"
#include "packets.h"

#define STEER_MARK 0x43540000u

/* Clients: admitted, not admitted; the proxy's own addresses. */
#define C4 "198.18.1.5"
#define C4_LIVE "198.18.1.7"
#define X4 "198.18.9.9"
#define OWN4 "198.18.1.1"
#define C6 "2001:db8:1::5"
#define C6_LIVE "2001:db8:1::7"
#define X6 "2001:db8:9::9"
#define OWN6 "2001:db8:1::1"
/* Protected services, an address in the prefix service, an unprotected one. */
#define S4 "198.19.2.2"
#define S6 "2001:db8:2::2"
#define P4 "198.19.3.77"
#define U4 "198.19.4.4"
#define U6 "2001:db8:4::4"

#define CPORT 40000
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
	  SHOT(DROP_NO_CONN) },
	{ "SYN to the prefix network on a port it does not protect",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 80, PKT_SYN) },
	  OK(PASS_UNPROTECTED) },

	/* Not a connection request, and no connection. */
	{ "ACK to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
	{ "RST to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_RST) },
	  SHOT(DROP_NO_CONN) },
	{ "FIN+ACK to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_FIN | PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
	{ "data (PSH+ACK) to the service without a connection",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_PSH | PKT_ACK), .payload = 64 },
	  SHOT(DROP_NO_CONN) },
	{ "no flags at all to the service",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, 0) },
	  SHOT(DROP_NO_CONN) },
	{ "IPv6 ACK to the service without a connection",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
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
	  SHOT(DROP_NO_CONN) },
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
	  SHOT(DROP_NO_CONN) },
	{ "from the prefix service (sport 443) without a connection",
	  build_ipv4,
	  { TCP(P4, C4, 443, CPORT, PKT_ACK) },
	  SHOT(DROP_NO_CONN) },
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
	{ "802.1Q tag still in the frame, ACK with no connection: dropped",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .vlan = 7 },
	  SHOT(DROP_NO_CONN) },
	{ "UDP to VXLAN's port on a protected address: not looked into",
	  build_ipv4,
	  { .src = X4, .dst = S4, .proto = IPPROTO_UDP, .sport = CPORT, .dport = 4789 },
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
	  SHOT(DROP_NOT_ADMITTED) },
	{ "IPv4 options (ihl=7) ACK to the service",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .ihl = 7 },
	  SHOT(DROP_NO_CONN) },
	{ "IPv4 options (ihl=7) SYN to an unprotected port",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 81, PKT_SYN), .ihl = 7 },
	  OK(PASS_UNPROTECTED) },
	{ "IPv4 DF set is not a fragment",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK), .frag = PKT_IP_DF },
	  SHOT(DROP_NO_CONN) },

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
	  SHOT(DROP_NOT_ADMITTED) },
	{ "IPv6 hop-by-hop + destination options, SYN to an unprotected port",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 81, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS) },
	  OK(PASS_UNPROTECTED) },
	{ "IPv6 hop-by-hop, routing, AH, dest options, then ACK",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_ACK),
	    EXT(IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_AH, IPPROTO_DSTOPTS) },
	  SHOT(DROP_NO_CONN) },
	{ "IPv6 five extension headers (the walk's limit reaches TCP)",
	  build_ipv6,
	  { TCP(X6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
						 IPPROTO_DSTOPTS, IPPROTO_DSTOPTS) },
	  SHOT(DROP_NOT_ADMITTED) },
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
	{ "IPv4 SYN from a blocked source to another service",
	  build_ipv4,
	  { TCP(C4, P4, CPORT, 443, PKT_SYN) },
	  ASSIGNED,
	  .flags = CASE_BLOCKED },
	{ "IPv4 ACK (no connection) from a blocked source: no connection, not blocked",
	  build_ipv4,
	  { TCP(C4, S4, CPORT, 80, PKT_ACK) },
	  SHOT(DROP_NO_CONN),
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
	  SHOT(DROP_NO_CONN),
	  .flags = CASE_FORWARD_IDLE },

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

struct fixture {
	struct intercept_bpf *skel;
	int prog_fd;
	int counters_fd;
	int listeners_fd;
	int quads_fd;
	int ncpus;
	struct cutthru_counter *percpu;
	int listen_fd[CUTTHRU_LISTENER_SLOTS];
	int wildcard_fd; /* someone's listener on :443, the prefix service's port */
	int est_fd[4]; /* IPv4 client, server; IPv6 client, server */
	__u16 port_est4, port_est6, port_tw4, port_tw4x;
	int live_fd; /* packet socket on lo, once attached */
	int lo_ifindex;
	struct bpf_tc_hook hook;
	struct bpf_tc_opts tc_opts;
};

static int fail(char *why, size_t len, const char *what, int err)
{
	snprintf(why, len, "%s: %s", what, strerror(err < 0 ? -err : err));
	return -1;
}

/* --- Maps, as user/loader.c fills them. ---------------------------------- */

static void to_addr(const char *text, __u8 *family, union cutthru_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	*family = strchr(text, ':') ? AF_INET6 : AF_INET;
	pkt_addr(*family, text, addr);
}

static int add_service(struct fixture *fx, const char *addr, int plen, __u16 port, __u32 id)
{
	struct cutthru_service_key key = { .port = htons(port) };
	struct cutthru_net_key net = { 0 };
	struct cutthru_service svc = { .id = id };
	__u32 one = 1;

	to_addr(addr, &key.family, &key.addr);
	key.prefixlen = CUTTHRU_SERVICE_KEY_FIXED_BITS + plen;
	net.prefixlen = CUTTHRU_NET_KEY_FIXED_BITS + plen;
	net.family = key.family;
	net.addr = key.addr;
	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.services), &key, &svc, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(fx->skel->maps.protected_nets), &net, &one, BPF_ANY))
		return -errno;
	return 0;
}

static int add_allowed(struct fixture *fx, __u32 id, const char *addr, int plen)
{
	struct cutthru_allow_key key = { .service_id = id };
	__u32 one = 1;

	to_addr(addr, &key.family, &key.addr);
	key.prefixlen = CUTTHRU_ALLOW_KEY_FIXED_BITS + plen;
	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.allowed), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

static int add_local(struct fixture *fx, const char *addr)
{
	struct cutthru_local_key key = { 0 };
	__u32 one = 1;

	to_addr(addr, &key.family, &key.addr);
	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.local_addrs), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

/* Service ids are 1-based, in this order, as the loader numbers them. */
static const struct {
	const char *addr;
	int plen;
	__u16 port;
} services[] = { { S4, 32, 80 }, { S6, 128, 80 }, { "198.19.3.0", 24, 443 } };

static const struct {
	const char *addr;
	int plen;
} sources[] = { { "198.18.1.0", 24 }, { "2001:db8:1::", 64 } };

static int fill_maps(struct fixture *fx)
{
	__u32 i, j;
	int err;

	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		err = add_service(fx, services[i].addr, services[i].plen, services[i].port, i + 1);
		for (j = 0; !err && j < sizeof(sources) / sizeof(sources[0]); j++)
			err = add_allowed(fx, i + 1, sources[j].addr, sources[j].plen);
		if (err)
			return err;
	}
	err = add_local(fx, OWN4);
	return err ? err : add_local(fx, OWN6);
}

static int set_listeners(struct fixture *fx, int on)
{
	__u32 slot;

	for (slot = 0; slot < CUTTHRU_LISTENER_SLOTS; slot++) {
		__u64 fd = (__u64)fx->listen_fd[slot];
		int err = on ? bpf_map_update_elem(fx->listeners_fd, &slot, &fd, BPF_ANY) :
			       bpf_map_delete_elem(fx->listeners_fd, &slot);

		if (err && (on || errno != ENOENT))
			return -errno;
	}
	return 0;
}

/* --- Sockets in the test's namespace. ------------------------------------ */

static socklen_t to_sockaddr(const char *addr, __u16 port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		pkt_addr(AF_INET6, addr, &sin6->sin6_addr);
		return sizeof(*sin6);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	pkt_addr(AF_INET, addr, &sin->sin_addr);
	return sizeof(*sin);
}

static int tcp_socket_at(const char *addr, __u16 port)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(addr, port, &ss);
	int one = 1, fd;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int tcp_listen_at(const char *addr, __u16 port)
{
	int fd = tcp_socket_at(addr, port);

	if (fd >= 0 && listen(fd, 16)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A connection from client to the listener lfd at server:80. */
static int tcp_pair(int lfd, const char *client, const char *server, int fds[2])
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(server, 80, &ss);

	fds[0] = tcp_socket_at(client, 0);
	if (fds[0] < 0)
		return fds[0];
	if (connect(fds[0], (struct sockaddr *)&ss, len))
		return -errno;
	fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fds[1] < 0 ? -errno : 0;
}

/* Is there a TIME_WAIT socket at local S4:80, remote client:rport? */
static int in_time_wait(const char *client, __u16 rport)
{
	unsigned int laddr, lport, raddr, port, state;
	struct in_addr s4, c4;
	char line[256];
	int found = 0;
	FILE *f;

	pkt_addr(AF_INET, S4, &s4);
	pkt_addr(AF_INET, client, &c4);
	f = fopen("/proc/net/tcp", "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, " %*d: %8X:%4X %8X:%4X %2X", &laddr, &lport, &raddr, &port,
			       &state) == 5 &&
			laddr == s4.s_addr && lport == 80 && raddr == c4.s_addr && port == rport &&
			state == 6;
	fclose(f);
	return found;
}

/* The server side closes first, so its socket ends in TIME_WAIT. */
static int tcp_time_wait(int lfd, const char *client, __u16 *cport)
{
	struct pollfd pfd;
	int fds[2], i, err;
	char c;

	err = tcp_pair(lfd, client, S4, fds);
	if (err)
		return err;
	*cport = local_port(fds[0]);
	close(fds[1]);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	if (poll(&pfd, 1, 1000) != 1 || read(fds[0], &c, 1) != 0)
		return -ETIMEDOUT;
	close(fds[0]);
	for (i = 0; i < 100 && !in_time_wait(client, *cport); i++)
		usleep(10000);
	return in_time_wait(client, *cport) ? 0 : -ETIMEDOUT;
}

/* Connections whose sockets live here: the owners the program looks up. */
static int make_connections(struct fixture *fx, char *why, size_t len)
{
	int l4 = tcp_listen_at(S4, 80), l6 = tcp_listen_at(S6, 80), err;

	if (l4 < 0 || l6 < 0)
		return fail(why, len, "listening on the service addresses", l4 < 0 ? l4 : l6);
	err = tcp_pair(l4, C4, S4, &fx->est_fd[0]) ?: tcp_pair(l6, C6, S6, &fx->est_fd[2]);
	if (err)
		return fail(why, len, "connecting over lo", err);
	fx->port_est4 = local_port(fx->est_fd[0]);
	fx->port_est6 = local_port(fx->est_fd[2]);
	err = tcp_time_wait(l4, C4, &fx->port_tw4) ?: tcp_time_wait(l4, X4, &fx->port_tw4x);
	if (err)
		return fail(why, len, "getting a socket into TIME_WAIT", err);
	/* The service ports have no local listener in the cases. */
	close(l4);
	close(l6);
	return 0;
}

static int if_up(int fd, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(fd, SIOCSIFFLAGS, &ifr) ? -errno : 0;
}

/* An IPv4 /32 on lo, through an alias label. */
static int lo_add_addr4(int fd, const char *label, const char *addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", label);
	pkt_addr(AF_INET, addr, &sin.sin_addr);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	if (ioctl(fd, SIOCSIFADDR, &ifr))
		return -errno;
	pkt_addr(AF_INET, "255.255.255.255", &sin.sin_addr);
	memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
	return ioctl(fd, SIOCSIFNETMASK, &ifr) ? -errno : 0;
}

/* struct in6_ifreq of linux/ipv6.h, which clashes with netinet/in.h. */
struct lo_in6_ifreq {
	struct in6_addr addr;
	__u32 prefixlen;
	int ifindex;
};

static int lo_add_addr6(int ifindex, const char *addr)
{
	struct lo_in6_ifreq req = { .prefixlen = 128, .ifindex = ifindex };
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	pkt_addr(AF_INET6, addr, &req.addr);
	if (ioctl(fd, SIOCSIFADDR, &req))
		err = -errno;
	close(fd);
	return err;
}

/* A namespace of our own: lo up, the clients' and services' addresses on it. */
static int make_netns(struct fixture *fx, char *why, size_t len)
{
	static const char *const addrs4[] = { C4, S4, X4 }, *const addrs6[] = { C6, S6 };
	char label[IFNAMSIZ];
	int fd, err;
	size_t i;

	if (unshare(CLONE_NEWNET))
		return fail(why, len, "unshare(CLONE_NEWNET) (needs CAP_SYS_ADMIN)", errno);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(why, len, "socket", errno);
	err = if_up(fd, "lo");
	for (i = 0; !err && i < sizeof(addrs4) / sizeof(addrs4[0]); i++) {
		snprintf(label, sizeof(label), "lo:%zu", i + 1);
		err = lo_add_addr4(fd, label, addrs4[i]);
	}
	close(fd);
	fx->lo_ifindex = (int)if_nametoindex("lo");
	for (i = 0; !err && i < sizeof(addrs6) / sizeof(addrs6[0]); i++)
		err = lo_add_addr6(fx->lo_ifindex, addrs6[i]);
	return err ? fail(why, len, "configuring lo (IPv6 needs CONFIG_IPV6)", err) : 0;
}

static int make_sockets(struct fixture *fx, char *why, size_t len)
{
	fx->listen_fd[CUTTHRU_LISTENER_INET] = tcp_listen_at("127.0.0.1", 0);
	fx->listen_fd[CUTTHRU_LISTENER_INET6] = tcp_listen_at("::1", 0);
	fx->wildcard_fd = tcp_listen_at("0.0.0.0", 443);
	if (fx->listen_fd[0] < 0 || fx->listen_fd[1] < 0 || fx->wildcard_fd < 0)
		return fail(why, len, "listening on lo", errno);
	if (set_listeners(fx, 1))
		return fail(why, len, "filling the listener sockmap", errno);
	return make_connections(fx, why, len);
}

/* --- The program. --------------------------------------------------------- */

static int load(struct fixture *fx, char *why, size_t len)
{
	int err;

	fx->skel = intercept_bpf__open();
	if (!fx->skel)
		return fail(why, len, "opening the skeleton", errno);
	fx->skel->rodata->steer_mark = STEER_MARK;
	err = intercept_bpf__load(fx->skel);
	if (err)
		return fail(why, len, "loading the BPF program", err);
	fx->prog_fd = bpf_program__fd(fx->skel->progs.cutthru_intercept);
	fx->counters_fd = bpf_map__fd(fx->skel->maps.counters);
	fx->listeners_fd = bpf_map__fd(fx->skel->maps.listeners);
	fx->quads_fd = bpf_map__fd(fx->skel->maps.quads);
	fx->ncpus = libbpf_num_possible_cpus();
	if (fx->ncpus <= 0)
		return fail(why, len, "counting CPUs", fx->ncpus);
	fx->percpu = calloc(fx->ncpus, sizeof(*fx->percpu));
	if (!fx->percpu)
		return fail(why, len, "calloc", ENOMEM);
	err = fill_maps(fx);
	return err ? fail(why, len, "filling the maps", err) : 0;
}

static int read_counters(struct fixture *fx, struct cutthru_counter sum[CUTTHRU_REASONS])
{
	__u32 r;
	int cpu;

	for (r = 0; r < CUTTHRU_REASONS; r++) {
		if (bpf_map_lookup_elem(fx->counters_fd, &r, fx->percpu))
			return -errno;
		sum[r] = (struct cutthru_counter){ 0 };
		for (cpu = 0; cpu < fx->ncpus; cpu++) {
			sum[r].packets += fx->percpu[cpu].packets;
			sum[r].bytes += fx->percpu[cpu].bytes;
		}
	}
	return 0;
}

#define REASON(r) [CUTTHRU_##r] = #r

static const char *reason_name(__u32 r)
{
	static const char *const names[CUTTHRU_REASONS] = {
		REASON(PASS_NOT_IP),	   REASON(PASS_LOCAL),	      REASON(PASS_UNPROTECTED),
		REASON(PASS_NOT_TCP),	   REASON(STEER_SYN),	      REASON(STEER_FLOW),
		REASON(STEER_ICMP),	   REASON(DROP_NOT_ADMITTED), REASON(DROP_NO_LISTENER),
		REASON(DROP_NO_CONN),	   REASON(DROP_ASSIGN),	      REASON(DROP_MALFORMED),
		REASON(DROP_FRAGMENT),	   REASON(DROP_UNPARSED),     REASON(PASS_AUTHENTICATED),
		REASON(DROP_AUTH_BLOCKED),
	};

	return r < CUTTHRU_REASONS && names[r] ? names[r] : "?";
}

/* Exactly one reason moved, by one packet of len bytes. */
static int check_counters(const struct cutthru_counter *before, const struct cutthru_counter *after,
			  enum cutthru_reason want, size_t len, char *why, size_t why_len)
{
	int n = snprintf(why, why_len, "want %s (1 packet, %zu bytes), counted", reason_name(want),
			 len);
	int wrong = 0;
	__u32 r;

	for (r = 0; r < CUTTHRU_REASONS; r++) {
		__u64 pkts = after[r].packets - before[r].packets;
		__u64 bytes = after[r].bytes - before[r].bytes;

		if (r == want ? pkts == 1 && bytes == len : !pkts)
			continue;
		wrong = 1;
		if (n > 0 && (size_t)n < why_len)
			n += snprintf(why + n, why_len - n, " %s (%llu, %llu)", reason_name(r),
				      (unsigned long long)pkts, (unsigned long long)bytes);
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

static int test_run(struct fixture *fx, const __u8 *frame, size_t len, __u32 *retval, __u32 *mark)
{
	struct __sk_buff ctx_in = { 0 }, ctx_out = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in), .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out), .repeat = 1);

	if (bpf_prog_test_run_opts(fx->prog_fd, &opts))
		return -errno;
	*retval = opts.retval;
	*mark = ctx_out.mark;
	return 0;
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
		return fail(why, len,
			    "creating the clsact qdisc on lo (needs CONFIG_NET_SCH_INGRESS)", err);
	err = bpf_tc_attach(&fx->hook, &fx->tc_opts);
	if (err)
		return fail(why, len, "attaching to lo ingress (needs CONFIG_NET_CLS_BPF)", err);
	fx->live_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fx->live_fd < 0 || bind(fx->live_fd, (struct sockaddr *)&sll, sizeof(sll)))
		return fail(why, len, "packet socket on lo (needs CONFIG_PACKET)", errno);
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
	int i;

	if (send(fx->live_fd, frame, len, 0) != (ssize_t)len)
		return -errno;
	for (i = 0; i < 100; i++) {
		if (read_counters(fx, after))
			return -errno;
		if (total_packets(after) != before_total)
			break;
		usleep(10000);
	}
	/* Anything the frame provokes on lo would be counted too: look for it. */
	usleep(50000);
	return read_counters(fx, after) ? -errno : 0;
}

static int check_quad(struct fixture *fx, const struct pkt_spec *spec, char *why, size_t len)
{
	struct cutthru_quad quad = { .sport = htons(spec->sport), .dport = htons(spec->dport) };
	struct cutthru_conn conn;

	to_addr(spec->src, &quad.family, &quad.saddr);
	to_addr(spec->dst, &quad.family, &quad.daddr);
	if (bpf_map_lookup_elem(fx->quads_fd, &quad, &conn))
		return fail(why, len, "no quad for the SYN's 4-tuple", errno);
	if (conn.packets[CUTTHRU_DIR_TO_SERVER] != 1 || !conn.service_id) {
		snprintf(why, len, "quad holds %llu packets, service %u",
			 (unsigned long long)conn.packets[CUTTHRU_DIR_TO_SERVER], conn.service_id);
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

	if (read_counters(fx, before))
		return fail(why, why_len, "reading the counters", errno);
	if (c->flags & CASE_LIVE)
		err = inject(fx, frame, len, after, total_packets(before));
	else
		err = test_run(fx, frame, len, &retval, &mark) ?: read_counters(fx, after);
	if (err)
		return fail(why, why_len, c->flags & CASE_LIVE ? "injecting" : "test run", err);
	if (check_counters(before, after, c->reason, len, why, why_len))
		return -1;
	if (c->flags & CASE_LIVE)
		return 0;
	if ((int)retval != c->verdict) {
		snprintf(why, why_len, "verdict %u, want %d", retval, c->verdict);
		return -1;
	}
	/* Only a packet handed to a socket is marked for the local route. */
	want_mark = c->reason == CUTTHRU_STEER_SYN || c->reason == CUTTHRU_STEER_FLOW;
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
		to_addr(who[i], &family, &key.addr);
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

static int run_case(struct fixture *fx, const struct tcase *c, char *why, size_t why_len)
{
	struct pkt_spec spec = c->pkt;
	__u8 frame[FRAME_MAX] = { 0 };
	size_t len;
	int err;

	spec.sport = resolve_port(fx, spec.sport);
	spec.dport = resolve_port(fx, spec.dport);
	len = c->build(&spec, frame);
	if ((c->flags & CASE_NO_LISTENER) && set_listeners(fx, 0))
		return fail(why, why_len, "emptying the listener sockmap", errno);
	if ((c->flags & CASE_AUTH_MAPS) && set_auth_maps(fx, c->flags, 1))
		return fail(why, why_len, "filling the auth maps", errno);
	err = run_frame(fx, c, frame, len, why, why_len);
	if (c->flags & CASE_AUTH_MAPS)
		set_auth_maps(fx, c->flags, 0);
	if ((c->flags & CASE_NO_LISTENER) && set_listeners(fx, 1) && !err)
		return fail(why, why_len, "refilling the listener sockmap", errno);
	if (!err && (c->flags & CASE_QUAD))
		err = check_quad(fx, &spec, why, why_len);
	return err;
}

static int setup(struct fixture *fx, char *why, size_t len)
{
	if (loader_probe(why, len))
		return -1;
	return make_netns(fx, why, len) ?: load(fx, why, len) ?: make_sockets(fx, why, len);
}

static void teardown(struct fixture *fx)
{
	if (fx->live_fd > 0)
		close(fx->live_fd);
	if (fx->tc_opts.prog_id) {
		fx->tc_opts.flags = fx->tc_opts.prog_fd = fx->tc_opts.prog_id = 0;
		bpf_tc_detach(&fx->hook, &fx->tc_opts);
	}
	free(fx->percpu);
	intercept_bpf__destroy(fx->skel);
}

int main(void)
{
	struct fixture fx = { .live_fd = -1 };
	int passed = 0, failed = 0, live = 0;
	char why[256] = "";
	size_t i;

	if (setup(&fx, why, sizeof(why))) {
		printf("not ok 1 - setup: %s\n0 passed, 1 failed\n", why);
		teardown(&fx);
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
	printf("%d passed, %d failed\n", passed, failed);
	teardown(&fx);
	return failed ? 1 : 0;
}
