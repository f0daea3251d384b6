/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Prometheus text exposition over HTTP (libmicrohttpd), on one of the
 * router's own addresses (--metrics ADDR:PORT): the seed's figure 4 path to
 * a local application. libmicrohttpd runs inside the daemon's epoll loop
 * (its epoll fd is one of ours), so no thread reads state the loop writes.
 */
#ifndef CUTTHRU_METRICS_H
#define CUTTHRU_METRICS_H

#include "loop.h"
#include "report.h"

struct MHD_Daemon;

struct metrics {
	struct MHD_Daemon *mhd;
	struct io io;
	const struct report *report;
};

/* Returns 0 (also when addr is empty: nothing to serve) or -errno. */
int metrics_start(struct metrics *m, struct loop *loop, const char *addr,
		  const struct report *report);
/* The same on a listening socket received from an old daemon. */
int metrics_start_fd(struct metrics *m, struct loop *loop, const char *addr,
		     const struct report *report, int listen_fd);
/* Its listening socket (-1: none), to hand to a new daemon. */
int metrics_listen_fd(const struct metrics *m);
/* Stops accepting; returns the listening socket, now the caller's, or -1. */
int metrics_quiesce(struct metrics *m);
/* Lets libmicrohttpd close idle connections; called once a second. */
void metrics_tick(struct metrics *m);
void metrics_stop(struct metrics *m, struct loop *loop);
/* The exposition itself, as served at /metrics. */
int metrics_render(const struct report *r, FILE *out);

#endif
