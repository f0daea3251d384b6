// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ns per packet of the XDP prefilter and of the TC program, through
 * BPF_PROG_TEST_RUN with repeat, in the BPF tests' world (tests/bpf/
 * fixture.c: a namespace of its own, the maps filled as the loader fills
 * them). One JSON object per line: program, frame, ns per packet.
 *
 *   progrun [REPEAT]     (default 1000000; the kernel times the loop)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fixture.h"
#include "intercept.skel.h"
#include "packets.h"

struct frame_case {
	const char *name;
	pkt_builder build;
	struct pkt_spec pkt;
};

static const struct frame_case frames[] = {
	{ "syn_not_admitted_v4", build_ipv4, { TCP(X4, S4, CPORT, 80, PKT_SYN) } },
	{ "syn_not_admitted_v6", build_ipv6, { TCP(X6, S6, CPORT, 80, PKT_SYN) } },
	{ "syn_admitted_v4", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_SYN) } },
	{ "ack_to_service_v4", build_ipv4, { TCP(C4, S4, CPORT, 80, PKT_ACK) } },
	{ "syn_unprotected_v4", build_ipv4, { TCP(C4, U4, CPORT, 80, PKT_SYN) } },
	{ "arp", build_arp, { .src = C4, .dst = S4 } },
};

/* The kernel's own mean over repeat runs (opts.duration, ns). */
static int time_prog(int prog_fd, int is_tc, const __u8 *frame, size_t len, __u32 repeat, __u32 *ns,
		     __u32 *retval)
{
	struct __sk_buff ctx = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .repeat = repeat);

	if (is_tc) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	*ns = opts.duration;
	*retval = opts.retval;
	return 0;
}

int main(int argc, char **argv)
{
	__u32 repeat = argc > 1 ? (__u32)strtoul(argv[1], NULL, 10) : 1000000;
	struct fixture fx = { .live_fd = -1 };
	char why[256];
	size_t i;
	int p;

	if (fixture_setup(&fx, why, sizeof(why))) {
		fprintf(stderr, "progrun: setup: %s\n", why);
		fixture_teardown(&fx);
		return 1;
	}
	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		__u8 frame[FRAME_MAX] = { 0 };
		size_t len = frames[i].build(&frames[i].pkt, frame);

		for (p = 0; p < 2; p++) {
			__u32 ns = 0, retval = 0;
			int err = time_prog(p ? fx.prog_fd : fx.xdp_prog_fd, p, frame, len, repeat,
					    &ns, &retval);

			if (err) {
				fprintf(stderr, "progrun: %s through %s: %s\n", frames[i].name,
					p ? "tc" : "xdp", strerror(-err));
				fixture_teardown(&fx);
				return 1;
			}
			printf("{\"prog\":\"%s\",\"frame\":\"%s\",\"ns\":%u,\"retval\":%u,"
			       "\"repeat\":%u}\n",
			       p ? "tc" : "xdp", frames[i].name, ns, retval, repeat);
		}
	}
	fixture_teardown(&fx);
	return 0;
}
