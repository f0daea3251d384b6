// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Writes the fuzzer's seed corpus (tests/fuzz/corpus/seed/) from the frame
 * builders of the packet tests (tests/bpf/packets.h): one file per frame,
 * a 0 byte (the harness's raw mode) and the frame. Then a few inputs of
 * the structured mode: an odd first byte and choices from a fixed
 * pseudo-random sequence, so that the corpus is the same on every run.
 *
 *   fuzz_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "packets.h"

#define S4 "198.19.2.2"
#define S6 "2001:db8:2::2"
#define P4 "198.19.3.77"
#define U4 "198.19.4.4"
#define C4 "198.18.1.5"
#define X4 "198.18.9.9"
#define OWN4 "198.18.1.1"
#define C6 "2001:db8:1::5"
#define OWN6 "2001:db8:1::1"
#define CPORT 40000
#define STRUCTURED_SEEDS 24
#define STRUCTURED_LEN 96

struct seed {
	const char *name;
	pkt_builder build;
	struct pkt_spec pkt;
};

static const struct seed seeds[] = {
	{ "syn4", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN) } },
	{ "syn4-not-admitted", build_ipv4, { TCP(X4, S4, CPORT, 80, PKT_SYN) } },
	{ "ack4", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_ACK) } },
	{ "ack4-from-service", build_ipv4, { TCP(S4, C4, 80, CPORT, PKT_ACK) } },
	{ "syn4-prefix", build_ipv4, { TCP(C4, P4, CPORT, 443, PKT_SYN) } },
	{ "syn4-unprotected", build_ipv4, { TCP(C4, U4, CPORT, 80, PKT_SYN) } },
	{ "syn4-own", build_ipv4, { TCP(C4, OWN4, CPORT, 80, PKT_SYN) } },
	{ "syn4-vlan", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN), .vlan = 42 } },
	{ "syn4-options", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN), .ihl = 7 } },
	{ "syn4-doff10", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN), .doff = 10 } },
	{ "syn4-tcp-cut", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN), .l4_keep = 10 } },
	{ "frag4-first", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN), .frag = PKT_IP_MF } },
	{ "frag4-later", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN), .frag = 185 } },
	{ "udp4-vxlan", build_ipv4, { UDP(X4, S4, CPORT, 4789) } },
	{ "udp4-geneve", build_ipv4, { UDP(X4, U4, CPORT, 6081), .payload = 40 } },
	{ "udp4-own", build_ipv4, { UDP(C4, OWN4, CPORT, 53) } },
	{ "esp4", build_ipv4, { .src = X4, .dst = S4, .proto = IPPROTO_ESP } },
	{ "gre4", build_ipv4, { .src = X4, .dst = U4, .proto = IPPROTO_GRE, .payload = 40 } },
	{ "ipip4", build_ipv4, { .src = X4, .dst = S4, .proto = IPPROTO_IPIP, .dport = 80 } },
	{ "ip6in4", build_ipv4, { .src = X4, .dst = U4, .proto = IPPROTO_IPV6, .payload = 60 } },
	{ "icmp4", build_ipv4, { .src = X4, .dst = S4, .proto = IPPROTO_ICMP, .payload = 48 } },
	{ "syn6", build_ipv6, { TCP(C6, S6, CPORT, 80, PKT_SYN) } },
	{ "ack6", build_ipv6, { TCP(C6, S6, CPORT, 80, PKT_ACK) } },
	{ "syn6-own", build_ipv6, { TCP(C6, OWN6, CPORT, 80, PKT_SYN) } },
	{ "syn6-hbh-dst",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_HOPOPTS, IPPROTO_DSTOPTS) } },
	{ "ack6-hbh-rt-ah-dst",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_ACK),
	    EXT(IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_AH, IPPROTO_DSTOPTS) } },
	{ "frag6-first",
	  build_ipv6,
	  { TCP(C6, S6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = PKT_IP_MF } },
	{ "frag6-own",
	  build_ipv6,
	  { TCP(C6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_FRAGMENT), .frag = PKT_IP_MF } },
	{ "rt6-own", build_ipv6, { TCP(C6, OWN6, CPORT, 80, PKT_SYN), EXT(IPPROTO_ROUTING) } },
	{ "esp6", build_ipv6, { .src = C6, .dst = S6, .proto = IPPROTO_ESP, .payload = 32 } },
	{ "icmp6", build_ipv6, { .src = C6, .dst = S6, .proto = IPPROTO_ICMPV6, .payload = 48 } },
	{ "udp6", build_ipv6, { UDP(C6, S6, CPORT, 4790) } },
	{ "arp", build_arp, { .src = C4, .dst = S4 } },
};

static int write_seed(const char *dir, const char *name, const __u8 *data, size_t len)
{
	char path[512];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len)
		err = -errno;
	if (f && fclose(f) && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "fuzz_seeds: writing %s: %s\n", path, strerror(-err));
	return err;
}

/* xorshift32: the same structured seeds on every run. */
static __u32 next_random(__u32 *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

int main(int argc, char **argv)
{
	__u8 input[1 + FRAME_MAX];
	__u32 state = 0x43540001;
	char name[64];
	size_t i, j, len;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	for (i = 0; !err && i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		memset(input, 0, sizeof(input));
		len = seeds[i].build(&seeds[i].pkt, input + 1);
		snprintf(name, sizeof(name), "raw-%s", seeds[i].name);
		err = write_seed(argv[1], name, input, 1 + len);
	}
	for (i = 0; !err && i < STRUCTURED_SEEDS; i++) {
		for (j = 0; j < STRUCTURED_LEN; j++)
			input[j] = (__u8)next_random(&state);
		input[0] |= 1;
		snprintf(name, sizeof(name), "structured-%02zu", i);
		err = write_seed(argv[1], name, input, STRUCTURED_LEN);
	}
	return err ? 1 : 0;
}
