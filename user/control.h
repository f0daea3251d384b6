/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The control socket, /run/cutthru/<instance>.sock: one request line per
 * connection ("status", "conns", "stats", "reload", each optionally followed
 * by " json"), one answer: a first line "ok" or "error: why", then the body.
 * The CLI subcommands are its clients.
 */
#ifndef CUTTHRU_CONTROL_H
#define CUTTHRU_CONTROL_H

#include <stddef.h>
#include <stdio.h>
#include "loop.h"

#define CONTROL_DIR "/run/cutthru"

struct control {
	struct loop *loop;
	struct io listener;
	char path[108];
	/* Answers one request into out (a memstream); returns 0 or -errno
	 * with the reason written to out instead. */
	int (*handle)(void *ctx, const char *command, int json, FILE *out);
	/* "takeover VERSION": a new daemon asks for everything (handover.c).
	 * The connection's fd is the callee's from then on. */
	void (*takeover)(void *ctx, int fd, const char *version);
	void *ctx;
};

/* Opens the socket; refuses (-EADDRINUSE) when a daemon answers there. */
int control_open(struct control *ctl, struct loop *loop, const char *instance);
void control_close(struct control *ctl);
/* Zero-downtime restart: the listening socket, to hand over; closing it
 * without removing the path (the new daemon answers there now); and the
 * new side, serving on a socket received from the old daemon. */
int control_listen_fd(const struct control *ctl);
void control_release(struct control *ctl);
int control_adopt(struct control *ctl, struct loop *loop, const char *instance, int fd);
/* A new daemon's side: connects and asks for a takeover. Returns the fd,
 * -ENOENT or -ECONNREFUSED when no daemon answers, else -errno. */
int control_takeover_connect(const char *instance, int version);
/* Client side: sends one request, prints the body to stdout or the error
 * to stderr. Returns the exit code: 0, 1 (error answer) or 2 (no daemon). */
int control_request(const char *instance, const char *command, int json);
/* Does a daemon of instance answer? 0 if so, else -errno. */
int control_request_quiet(const char *instance);

#endif
