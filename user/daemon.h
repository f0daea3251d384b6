/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The state of "cutthru run": main.c sets it up, runs the loop and tears
 * it down; takeover.c hands it to a successor or takes it from a
 * predecessor (zero-downtime restart).
 */
#ifndef CUTTHRU_DAEMON_H
#define CUTTHRU_DAEMON_H

#include <stdint.h>
#include "cli.h"
#include "conn.h"
#include "control.h"
#include "cut.h"
#include "handover.h"
#include "loader.h"
#include "loop.h"
#include "metrics.h"
#include "report.h"
#include "restart.h"

struct daemon {
	struct config cfg;
	struct loader loader;
	struct loop loop;
	struct proxy proxy;
	struct cut cut;
	int cut_ready;
	struct io signals;
	struct io watchdog; /* a timerfd: are filters, rules, routes still there? */
	int routing_installed;
	int failed; /* stopped by an error found while running */
	int argc; /* run's arguments, parsed again at each reload */
	char **argv;
	struct control control;
	struct report report;
	struct metrics metrics;
	/* Zero-downtime restart (handover.h). Old side: the new daemon asking
	 * (ho_peer), and whether it now owns everything; new side: the
	 * channel to the old one and what it said. */
	struct io ho_peer;
	int handed_over;
	int takeover_fd;
	struct handover_msg hello;
	uint32_t ho_kept; /* connections the old one still inspects */
	uint64_t ho_started_ms;
	uint32_t ho_adopted;
	int took_over; /* this daemon started by taking over */
	struct restarter restarter; /* SIGUSR2, "cutthru restart" */
};

#endif
