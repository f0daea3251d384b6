// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * make bench-xdp's floor: a native XDP program that drops every frame and
 * looks at nothing. What a configuration costs above it is its filter's
 * own price; the rest is the flood source's and the veth's.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int drop_all(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
