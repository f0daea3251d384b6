/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The daemon's state as the control socket (and the metrics) report it. */
#ifndef CUTTHRU_REPORT_H
#define CUTTHRU_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include "cutthru/abi.h"
#include "conn.h"

struct report {
	const struct proxy *proxy;
	int counters_fd; /* the verdict counters (per CPU) */
	int xdp_counters_fd; /* the XDP prefilter's drops, by the same reasons */
	uint64_t started_ms;
};

const char *reason_name(unsigned int reason);
const char *phase_name(enum conn_phase phase);
/* n per-CPU counters, summed; read_counters() reads the verdicts'. */
int read_counter_array(int fd, struct cutthru_counter *sum, unsigned int n);
int read_counters(int fd, struct cutthru_counter sum[CUTTHRU_REASONS]);
/* Is this a reason the XDP prefilter drops under? */
int xdp_reason(unsigned int reason);

int report_status(const struct report *r, int json, FILE *out);
int report_conns(const struct report *r, int json, FILE *out);
int report_stats(const struct report *r, int json, FILE *out);

#endif
