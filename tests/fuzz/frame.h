/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The fuzzer's structured mode: a frame built layer by layer from the fuzz
 * input, which only chooses (which tags, which extension headers, which
 * tunnel, which address from the test world, where to cut). Random bytes
 * rarely make an IPv4 header with a VXLAN frame inside; choices always do.
 */
#ifndef CUTTHRU_FUZZ_FRAME_H
#define CUTTHRU_FUZZ_FRAME_H

#include <stddef.h>
#include <linux/types.h>

#define FRAME_POOL 8

/* What the choices pick from: the test world's addresses and ports. */
struct frame_pools {
	__u8 v4[FRAME_POOL][4];
	int n_v4;
	__u8 v6[FRAME_POOL][16];
	int n_v6;
	__u16 ports[FRAME_POOL * 2]; /* host order */
	int n_ports;
};

/* Builds a frame from the choices in data; returns its length (<= cap). */
size_t frame_build(const struct frame_pools *pools, const __u8 *data, size_t size, __u8 *frame,
		   size_t cap);

#endif
