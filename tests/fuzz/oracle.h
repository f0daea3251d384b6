/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The fuzzer's own reading of a frame, written apart from bpf/parse.h so
 * that a mistake there is not repeated here: where would this frame's bytes
 * end up, and may the intercepting controller let it through untouched?
 *
 * It follows what a Linux receiver does with the frame, not what the
 * program does: every VLAN tag, IPv4 options, any number of IPv6 extension
 * headers, fragments, tunnels (IP-in-IP, IPv6-in-IP, GRE with transparent
 * Ethernet bridging, VXLAN 4789 and 8472, VXLAN-GPE 4790, Geneve 6081) and
 * ICMP errors, whose quoted segment names the socket the error is given to.
 */
#ifndef CUTTHRU_FUZZ_ORACLE_H
#define CUTTHRU_FUZZ_ORACLE_H

#include <stddef.h>
#include <linux/types.h>

#define ORACLE_SERVICES_MAX 8
#define ORACLE_LOCALS_MAX 8

/* An address prefix of either family; a TCP port, or 0 for a whole net. */
struct oracle_prefix {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 addr[16];
	int plen;
	__u16 port; /* host order */
};

struct oracle_config {
	struct oracle_prefix services[ORACLE_SERVICES_MAX];
	int n_services;
	struct oracle_prefix locals[ORACLE_LOCALS_MAX]; /* the router's own, plen 32/128 */
	int n_locals;
};

/*
 * Why a frame is, or is not, exposed: may not leave as a plain pass-through.
 * The exposed ones are the security model's: bytes that would reach a
 * protected service, or a protected host's stack in a form no one judged.
 */
enum oracle_rule {
	ORACLE_NOT_IP, /* no IP after the tags: nothing is routed */
	ORACLE_KERNEL_DROPS, /* an IP header the kernel refuses */
	ORACLE_LOCAL, /* to the router itself, delivered there */
	ORACLE_FRAGMENT, /* fragment elsewhere: reassembled there */
	ORACLE_TCP, /* TCP to no protected service */
	ORACLE_TUNNEL, /* tunnel elsewhere: decapsulated there, judged on its way on */
	ORACLE_ICMP, /* ICMP not about a protected service's segment */
	ORACLE_OTHER, /* UDP, and other protocols */
	ORACLE_EXPOSED, /* the ones below must not pass untouched */
	ORACLE_TCP_SERVICE = ORACLE_EXPOSED, /* TCP to a protected service */
	ORACLE_TCP_NO_PORTS, /* TCP to a protected network, header too short for ports */
	ORACLE_FRAGMENT_PROTECTED, /* fragment to a protected network */
	ORACLE_TUNNEL_PROTECTED, /* tunnel or ESP/AH to a protected network */
	ORACLE_CHAIN_PROTECTED, /* IPv6 header chain cut short, to a protected network */
	ORACLE_ICMP_SERVICE, /* ICMP error to a protected host, for a service's socket */
	ORACLE_LOCAL_SOURCE_ROUTED, /* to the router, source-routed on from there */
	ORACLE_LOCAL_FRAGMENT_CHAIN, /* first fragment to the router whose headers go on
					beyond it: the reassembly may be source-routed */
	ORACLE_RULES,
};

/* The innermost destination found: the last IP header's, and its port. */
struct oracle_dest {
	__u8 family; /* 0 when no IP header was found */
	__u8 addr[16];
	__u8 proto; /* upper-layer protocol */
	int port; /* -1 when not known */
};

struct oracle_result {
	enum oracle_rule rule;
	int exposed; /* rule >= ORACLE_EXPOSED */
	struct oracle_dest inner;
	char path[160]; /* the layers walked, outermost first */
};

void oracle_judge(const struct oracle_config *cfg, const __u8 *frame, size_t len,
		  struct oracle_result *res);
const char *oracle_rule_text(enum oracle_rule rule);
/* "198.19.2.2:80/tcp", "[2001:db8::2]/udp", "none". */
void oracle_format_dest(const struct oracle_dest *dest, char *buf, size_t len);

#endif
