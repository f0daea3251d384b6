/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Zero-downtime restart (protocol in handover.h). The new daemon:
 *
 *   takeover_begin()    connect, read the hello (1: nobody to take over from)
 *   takeover_cut()      the sockmap programs on the old daemon's maps
 *   takeover_receive()  GO; listeners and connections, not served yet
 *   takeover_commit()   COMMIT, COMMITTED: serve them from now on
 *   takeover_abandon()  anything before failed: the old daemon goes on
 *
 * The old daemon answers in takeover_on_request() (its control socket's
 * "takeover" line) and, once it has handed everything over, leaves the
 * loop; takeover_leave() then keeps run's teardown off what it gave away.
 */
#ifndef CUTTHRU_TAKEOVER_H
#define CUTTHRU_TAKEOVER_H

#include <stddef.h>

struct daemon;

/* Old side. */
void takeover_on_request(void *ctx, int fd, const char *version);
void takeover_leave(struct daemon *d);

/* New side. */
int takeover_begin(struct daemon *d);
int takeover_cut(struct daemon *d);
int takeover_receive(struct daemon *d, char *why, size_t len);
int takeover_commit(struct daemon *d);
void takeover_abandon(struct daemon *d, const char *why);

#endif
