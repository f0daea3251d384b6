// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include "loop.h"

#define LOOP_EVENTS_MAX 256

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int loop_init(struct loop *loop)
{
	loop->stop = 0;
	loop->before_sleep = NULL;
	loop->before_sleep_ctx = NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void loop_close(struct loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

int io_add(struct loop *loop, struct io *io, int fd, uint32_t events, io_cb cb, void *ctx)
{
	io->fd = fd;
	io->events = 0;
	io->cb = cb;
	io->ctx = ctx;
	return io_set(loop, io, events);
}

/*
 * An fd with no interest is taken out of epoll altogether: epoll reports
 * EPOLLHUP and EPOLLERR whatever the interest, and a socket whose reader is
 * paused by backpressure would otherwise wake the loop without end.
 */
int io_set(struct loop *loop, struct io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	int op;

	if (io->events == events)
		return 0;
	if (!events)
		op = EPOLL_CTL_DEL;
	else
		op = io->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	io->events = events;
	return epoll_ctl(loop->epfd, op, io->fd, &ev) ? -errno : 0;
}

void io_del(struct loop *loop, struct io *io)
{
	io_set(loop, io, 0);
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[LOOP_EVENTS_MAX];
	int i, n, timeout;

	while (!loop->stop) {
		timeout = loop->before_sleep ? loop->before_sleep(loop, loop->before_sleep_ctx) :
					       -1;
		if (loop->stop)
			break;
		n = epoll_wait(loop->epfd, events, LOOP_EVENTS_MAX, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			struct io *io = events[i].data.ptr;

			io->cb(loop, io, events[i].events);
		}
	}
	return 0;
}
