// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP-frame flood of bench/xdpflood.c: run by BPF_PROG_TEST_RUN in live
 * frames mode on the client's veth, it gives each SYN a random source
 * address in the /24 of the template and a random port, and sends it out
 * of that veth (XDP_TX), so that the router's veth receives xdp_frames, as
 * a NIC's driver would receive DMA buffers: no skb until someone builds one.
 *
 * xdpflood_source makes the same frames and drops them where they are made:
 * what the flood source costs by itself, which the benchmark subtracts to
 * get the router's own price per packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>

static __always_inline int make_syn(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(iph + 1);
	__u32 rnd = bpf_get_prandom_u32();

	if ((void *)(th + 1) > end)
		return -1;
	/* The last byte of the source address and the port; the IPv4
	 * checksum is kept right (one's complement of the byte change). */
	((__u8 *)&iph->saddr)[3] = (__u8)(rnd | 1);
	th->source = (__u16)(rnd >> 8);
	iph->check = 0;
	{
		__u16 *w = (__u16 *)iph;
		__u32 sum = 0;
		int i;

		for (i = 0; i < 10; i++)
			sum += w[i];
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		iph->check = (__u16)~sum;
	}
	return 0;
}

SEC("xdp")
int xdpflood(struct xdp_md *ctx)
{
	return make_syn(ctx) ? XDP_ABORTED : XDP_TX;
}

SEC("xdp")
int xdpflood_source(struct xdp_md *ctx)
{
	return make_syn(ctx) ? XDP_ABORTED : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
