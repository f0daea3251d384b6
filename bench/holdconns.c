// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * holdconns: opens COUNT connections to an echo server (at most INFLIGHT
 * being set up at once), sends one byte on each and waits for its echo (so
 * that a proxy has both legs up), then prints one JSON line and holds them
 * all, idle, until its standard input closes or a line arrives, or HOLD
 * seconds pass. Setting up is bounded by SETUP seconds.
 *
 *   holdconns -a ADDR -p PORT [-n COUNT] [-i INFLIGHT] [-s SETUP] [-H HOLD]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

enum { S_CONNECTING = 1, S_ECHO, S_HELD, S_FAILED };

int main(int argc, char **argv)
{
	const char *addr = NULL;
	int port = 0, opt, inflight_max = 256;
	long count = 8000;
	double setup_s = 60, hold_s = 120;

	while ((opt = getopt(argc, argv, "a:p:n:i:s:H:")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 'i':
			inflight_max = atoi(optarg);
			break;
		case 's':
			setup_s = atof(optarg);
			break;
		case 'H':
			hold_s = atof(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!addr || port <= 0 || count < 1 || count > 60000 || inflight_max < 1)
		goto usage;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1)
		goto usage;

	int *fds = calloc(count, sizeof(int));
	unsigned char *st = calloc(count, 1);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!fds || !st || ep < 0)
		return 1;
	long next = 0, held = 0, failed = 0, inflight = 0;
	int first_errno = 0;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(setup_s * 1e9);
	struct epoll_event evs[256];

	while (held + failed < count && now_ns() < end) {
		while (inflight < inflight_max && next < count) {
			long i = next++;
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				if (!first_errno)
					first_errno = errno;
				st[i] = S_FAILED;
				failed++;
				continue;
			}
			if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			    errno != EINPROGRESS) {
				if (!first_errno)
					first_errno = errno;
				close(fd);
				st[i] = S_FAILED;
				failed++;
				continue;
			}
			fds[i] = fd;
			st[i] = S_CONNECTING;
			struct epoll_event ev = { .events = EPOLLOUT };
			ev.data.u64 = i;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			inflight++;
		}
		int n = epoll_wait(ep, evs, 256, 100);
		for (int k = 0; k < n; k++) {
			long i = (long)evs[k].data.u64;
			int fd = fds[i], err = 0;
			socklen_t el = sizeof(err);
			if (st[i] == S_CONNECTING) {
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (!err && write(fd, "h", 1) != 1)
					err = errno ? errno : EIO;
				if (err) {
					if (!first_errno)
						first_errno = err;
					close(fd);
					st[i] = S_FAILED;
					failed++;
					inflight--;
					continue;
				}
				st[i] = S_ECHO;
				struct epoll_event ev = { .events = EPOLLIN };
				ev.data.u64 = i;
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
			} else if (st[i] == S_ECHO) {
				char c;
				ssize_t r = read(fd, &c, 1);
				if (r < 0 && errno == EAGAIN)
					continue;
				inflight--;
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				if (r == 1) {
					st[i] = S_HELD;
					held++;
				} else {
					if (!first_errno)
						first_errno = r < 0 ? errno : ECONNRESET;
					close(fd);
					st[i] = S_FAILED;
					failed++;
				}
			}
		}
	}
	printf("{\"held\": %ld, \"failed\": %ld, \"pending\": %ld, \"setup_s\": %.3f, "
	       "\"first_error\": \"%s\"}\n",
	       held, failed, count - held - failed, (now_ns() - t0) / 1e9,
	       first_errno ? strerror(first_errno) : "");
	fflush(stdout);

	struct pollfd p = { .fd = 0, .events = POLLIN };
	poll(&p, 1, (int)(hold_s * 1000));
	for (long i = 0; i < count; i++)
		if (st[i] == S_HELD || st[i] == S_CONNECTING || st[i] == S_ECHO)
			close(fds[i]);
	return 0;
usage:
	fprintf(stderr, "usage: holdconns -a ADDR -p PORT [-n COUNT] [-i INFLIGHT] [-s SETUP] "
			"[-H HOLD]\n");
	return 2;
}
