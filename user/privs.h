/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Least privilege: what the running daemon keeps after set-up. */
#ifndef CUTTHRU_PRIVS_H
#define CUTTHRU_PRIVS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/capability.h>

/*
 * The capabilities kept once set-up is done (see privs.c for why each):
 * CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, in the effective and permitted
 * sets only. As a mask of 1 << CAP_x, the way /proc/PID/status shows them.
 */
#define PRIVS_KEPT_MASK ((1ULL << CAP_NET_ADMIN) | (1ULL << CAP_NET_BIND_SERVICE))

/*
 * Called once, after set-up (BPF loaded and attached, routes installed,
 * listeners open) and before any thread is started: capabilities are per
 * thread, so a thread started earlier would keep them all. Keeps only
 * PRIVS_KEPT_MASK, empties the inheritable, ambient and bounding sets, sets
 * no_new_privs and, when user is not NULL, switches to that user and its
 * primary group (supplementary groups dropped) keeping those capabilities.
 * Returns 0, or -errno with one line in err naming what failed.
 */
int privs_drop(const char *user, char *err, size_t errlen);

#endif
