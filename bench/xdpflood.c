// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xdpflood: a SYN flood of XDP frames (see xdpflood.bpf.c). Bounded by
 * count; stopped early by SIGINT (the kernel's test-run loop checks for
 * signals). Prints one JSON line: frames sent and seconds.
 *
 *   xdpflood -i IFACE -m DST_MAC -s SRC_IP -d DST_IP -p DPORT -o OBJ [-n COUNT] [-a]
 *
 * -a: the flood source alone; every frame is made, then dropped where it is
 * made (xdpflood_source), so none leaves the interface.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct syn_frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

static void on_signal(int sig)
{
	(void)sig; /* only interrupts the test run */
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *text, unsigned char *mac)
{
	return sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ?
		       0 :
		       -1;
}

static void build(struct syn_frame *f, const unsigned char *dmac, in_addr_t src, in_addr_t dst,
		  unsigned short dport)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->eth.h_dest, dmac, ETH_ALEN);
	f->eth.h_source[0] = 0x02;
	f->eth.h_proto = htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.tot_len = htons(sizeof(f->ip) + sizeof(f->tcp));
	f->ip.ttl = 64;
	f->ip.protocol = IPPROTO_TCP;
	f->ip.saddr = src;
	f->ip.daddr = dst;
	f->tcp.source = htons(40000);
	f->tcp.dest = htons(dport);
	f->tcp.seq = htonl(1);
	f->tcp.doff = 5;
	f->tcp.syn = 1;
	f->tcp.window = htons(64240);
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *obj_path = NULL, *prog_name = "xdpflood";
	unsigned char dmac[ETH_ALEN] = { 0 };
	in_addr_t src = 0, dst = 0;
	unsigned short dport = 0;
	unsigned long count = 1000000000ul;
	struct sigaction sa = { .sa_handler = on_signal };
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct syn_frame frame;
	double t0, t1;
	int opt, err;

	while ((opt = getopt(argc, argv, "i:m:s:d:p:o:n:a")) != -1) {
		switch (opt) {
		case 'i':
			ifname = optarg;
			break;
		case 'm':
			if (parse_mac(optarg, dmac))
				goto usage;
			break;
		case 's':
			src = inet_addr(optarg);
			break;
		case 'd':
			dst = inet_addr(optarg);
			break;
		case 'p':
			dport = (unsigned short)atoi(optarg);
			break;
		case 'o':
			obj_path = optarg;
			break;
		case 'n':
			count = strtoul(optarg, NULL, 10);
			break;
		case 'a':
			prog_name = "xdpflood_source";
			break;
		default:
			goto usage;
		}
	}
	if (!ifname || !obj_path || !src || !dst || !dport || !count || count > 0xffffffffu)
		goto usage;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	build(&frame, dmac, src, dst, dport);
	obj = bpf_object__open_file(obj_path, NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "xdpflood: loading %s failed\n", obj_path);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, prog_name);
	if (!prog) {
		fprintf(stderr, "xdpflood: no program %s in %s\n", prog_name, obj_path);
		return 1;
	}
	{
		struct xdp_md ctx = { .data_end = sizeof(frame),
				      .ingress_ifindex = if_nametoindex(ifname) };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &frame,
			    .data_size_in = sizeof(frame), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = (__u32)count,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

		if (!ctx.ingress_ifindex) {
			fprintf(stderr, "xdpflood: no interface %s\n", ifname);
			return 1;
		}
		t0 = now_s();
		err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
		t1 = now_s();
		if (err && errno != EINTR) {
			fprintf(stderr, "xdpflood: test run: %s\n", strerror(errno));
			return 1;
		}
	}
	/* Interrupted, the kernel does not say how many frames it made. */
	printf("{\"seconds\": %.3f, \"complete\": %s}\n", t1 - t0, err ? "false" : "true");
	bpf_object__close(obj);
	return 0;
usage:
	fprintf(stderr, "usage: xdpflood -i IFACE -m DST_MAC -s SRC_IP -d DST_IP -p DPORT -o OBJ "
			"[-n COUNT] [-a]\n");
	return 2;
}
