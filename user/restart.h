/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Restart in place (SIGUSR2, "cutthru restart"): the running daemon starts
 * the installed binary again with the same arguments, and that new process
 * takes over as any second "cutthru run" does (takeover.h), in the same
 * network namespace and cgroup (under systemd: the same unit).
 *
 * The daemon cannot start it itself: after set-up it keeps only
 * CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, with an empty bounding set and
 * no_new_privs, so whatever it executed could not load a BPF program. A
 * small helper forked at start-up, before anything is loaded or dropped,
 * keeps root's capabilities for that one purpose: it waits on a socket
 * pair for a byte, forks, executes the binary and answers with the new
 * process's pid. It holds no other fd and exits when the daemon does.
 */
#ifndef CUTTHRU_RESTART_H
#define CUTTHRU_RESTART_H

#include <sys/types.h>

struct restarter {
	int fd; /* our end of the socket pair; -1: none */
	pid_t pid; /* the helper */
	pid_t started; /* the last process it started, 0: none */
};

/* Forks the helper; argv is main()'s, the binary is where /proc/self/exe
 * points now (so an upgrade that replaced that file runs the new one). */
int restarter_start(struct restarter *r, char **argv);
/* Starts the new process; its pid in *pid. Returns 0 or -errno. */
int restarter_request(struct restarter *r, pid_t *pid);
void restarter_stop(struct restarter *r);

#endif
