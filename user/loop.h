/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The event loop: file descriptors with a callback and its context (epoll,
 * level-triggered), and a hook run before each sleep that fires due timers
 * and says how long the loop may sleep.
 */
#ifndef CUTTHRU_LOOP_H
#define CUTTHRU_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct io;

typedef void (*io_cb)(struct loop *loop, struct io *io, uint32_t events);
/* Returns the milliseconds until the next timer, or -1 for none. */
typedef int (*before_sleep_cb)(struct loop *loop, void *ctx);

struct io {
	int fd;
	uint32_t events; /* current EPOLLIN/EPOLLOUT interest */
	io_cb cb;
	void *ctx;
};

struct loop {
	int epfd;
	int stop;
	before_sleep_cb before_sleep;
	void *before_sleep_ctx;
};

int loop_init(struct loop *loop);
void loop_close(struct loop *loop);
int io_add(struct loop *loop, struct io *io, int fd, uint32_t events, io_cb cb, void *ctx);
/* Changes the interest; a no-op when it is unchanged. */
int io_set(struct loop *loop, struct io *io, uint32_t events);
void io_del(struct loop *loop, struct io *io);
/* Runs until loop->stop is set. Returns 0 or -errno. */
int loop_run(struct loop *loop);
uint64_t now_ms(void);

#endif
