// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Restart in place: the helper that starts the next daemon (restart.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "log.h"
#include "restart.h"

#define ANSWER_TIMEOUT_S 5

/* The helper's own fd after start-up: everything else is closed. */
#define HELPER_FD 3

/* In the forked child: the next daemon. Never returns. */
static void exec_daemon(const char *path, char **argv)
{
	signal(SIGCHLD, SIG_DFL);
	close(HELPER_FD);
	execv(path, argv);
	_exit(127);
}

/*
 * The helper: one byte in, one pid out, for as long as the daemon lives.
 * The processes it starts are reaped by the kernel (SIGCHLD ignored); a
 * successful one outlives it anyway.
 */
static void helper_main(int fd, const char *path, char **argv)
{
	pid_t pid;
	char byte;

	if (dup2(fd, HELPER_FD) < 0)
		_exit(1);
	close_range(HELPER_FD + 1, ~0U, 0);
	prctl(PR_SET_NAME, "cutthru-restart", 0, 0, 0); /* what ps shows */
	signal(SIGCHLD, SIG_IGN);
	while (read(HELPER_FD, &byte, 1) == 1) {
		pid = fork();
		if (pid == 0)
			exec_daemon(path, argv);
		if (write(HELPER_FD, &pid, sizeof(pid)) != sizeof(pid))
			break;
	}
	_exit(0);
}

int restarter_start(struct restarter *r, char **argv)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	int sv[2];

	r->fd = -1;
	r->started = 0;
	if (n < 0)
		return -errno;
	path[n] = '\0';
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	r->pid = fork();
	if (r->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (r->pid == 0)
		helper_main(sv[1], path, argv);
	close(sv[1]);
	r->fd = sv[0];
	return 0;
}

int restarter_request(struct restarter *r, pid_t *pid)
{
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	char byte = 'r';

	if (r->fd < 0)
		return -ENOTCONN;
	if (setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    write(r->fd, &byte, 1) != 1)
		return -errno;
	errno = 0;
	if (read(r->fd, pid, sizeof(*pid)) != sizeof(*pid))
		return errno ? -errno : -EPIPE;
	if (*pid < 0)
		return -EAGAIN;
	r->started = *pid;
	return 0;
}

void restarter_stop(struct restarter *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}
