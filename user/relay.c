// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "log.h"
#include "relay.h"

int relay_buf_init(struct relay_buf *b, size_t cap)
{
	b->data = malloc(cap);
	if (!b->data)
		return -ENOMEM;
	b->cap = cap;
	b->head = 0;
	b->len = 0;
	return 0;
}

void relay_buf_free(struct relay_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = b->head = b->len = 0;
}

/* The free space as at most two iovecs (it may wrap around the end). */
static int free_iov(const struct relay_buf *b, struct iovec iov[2])
{
	size_t tail = (b->head + b->len) % b->cap;
	size_t space = relay_buf_space(b);
	size_t first = b->cap - tail < space ? b->cap - tail : space;

	iov[0].iov_base = b->data + tail;
	iov[0].iov_len = first;
	iov[1].iov_base = b->data;
	iov[1].iov_len = space - first;
	return iov[1].iov_len ? 2 : 1;
}

/* The pending bytes as at most two iovecs. */
static int pending_iov(const struct relay_buf *b, struct iovec iov[2])
{
	size_t first = b->cap - b->head < b->len ? b->cap - b->head : b->len;

	iov[0].iov_base = b->data + b->head;
	iov[0].iov_len = first;
	iov[1].iov_base = b->data;
	iov[1].iov_len = b->len - first;
	return iov[1].iov_len ? 2 : 1;
}

ssize_t relay_buf_fill(struct relay_buf *b, int fd)
{
	struct iovec iov[2];
	ssize_t n;
	int cnt;

	if (!relay_buf_space(b))
		return -ENOBUFS;
	cnt = free_iov(b, iov);
	do
		n = readv(fd, iov, cnt);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	b->len += (size_t)n;
	return n;
}

ssize_t relay_buf_drain(struct relay_buf *b, int fd)
{
	struct msghdr msg = { 0 };
	struct iovec iov[2];
	ssize_t n;

	if (!b->len)
		return 0;
	msg.msg_iov = iov;
	msg.msg_iovlen = pending_iov(b, iov);
	/* sendmsg rather than writev: MSG_NOSIGNAL turns a dead peer into
	 * EPIPE instead of a SIGPIPE. */
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	b->head = (b->head + (size_t)n) % b->cap;
	b->len -= (size_t)n;
	if (!b->len)
		b->head = 0; /* keep the next read contiguous */
	return n;
}

void relay_buf_peek(const struct relay_buf *b, void *out)
{
	struct iovec iov[2];
	int i, cnt = pending_iov(b, iov);
	uint8_t *to = out;

	for (i = 0; i < cnt && b->len; i++) {
		memcpy(to, iov[i].iov_base, iov[i].iov_len);
		to += iov[i].iov_len;
	}
}

int relay_buf_put(struct relay_buf *b, const void *data, size_t len)
{
	struct iovec iov[2];
	const uint8_t *from = data;
	size_t first;

	if (len > relay_buf_space(b))
		return -ENOBUFS;
	if (!len)
		return 0;
	free_iov(b, iov);
	first = len < iov[0].iov_len ? len : iov[0].iov_len;
	memcpy(iov[0].iov_base, from, first);
	memcpy(iov[1].iov_base, from + first, len - first);
	b->len += len;
	return 0;
}

static const char *const data_path_names[DATA_PATHS] = {
	[DATA_PATH_COPY] = "copy",
	[DATA_PATH_SPLICE] = "splice",
	[DATA_PATH_SOCKMAP] = "sockmap",
};

const char *data_path_name(enum data_path path)
{
	return path < DATA_PATHS ? data_path_names[path] : "?";
}

int data_path_parse(const char *text, enum data_path *out)
{
	int i;

	for (i = 0; i < DATA_PATHS; i++) {
		if (!strcmp(text, data_path_names[i])) {
			*out = (enum data_path)i;
			return 0;
		}
	}
	return -EINVAL;
}

int pipe_pool_init(struct pipe_pool *pool, int max_idle, int pipe_size, size_t grow_to,
		   size_t grow_budget)
{
	memset(pool, 0, sizeof(*pool));
	pool->idle = calloc((size_t)max_idle, sizeof(*pool->idle));
	if (!pool->idle)
		return -ENOMEM;
	pool->max_idle = max_idle;
	pool->pipe_size = pipe_size;
	pool->grow_to = grow_to;
	pool->grow_budget = grow_budget;
	return 0;
}

/* What a pipe of cap bytes holds beyond the pool's size. */
static size_t pipe_extra(const struct pipe_pool *pool, size_t cap)
{
	return cap > (size_t)pool->pipe_size ? cap - (size_t)pool->pipe_size : 0;
}

static void pipe_close(struct pipe_pool *pool, int fds[2], size_t cap)
{
	size_t extra = pipe_extra(pool, cap);

	close(fds[0]);
	close(fds[1]);
	fds[0] = fds[1] = -1;
	pool->grown -= extra;
}

void pipe_pool_free(struct pipe_pool *pool)
{
	while (pool->n_idle > 0) {
		pool->n_idle--;
		pipe_close(pool, pool->idle[pool->n_idle].fds, pool->idle[pool->n_idle].cap);
	}
	free(pool->idle);
	pool->idle = NULL;
}

/* A pipe's capacity in bytes (F_GETPIPE_SZ), or a negative errno. */
static ssize_t pipe_capacity(int fd)
{
	int cap = fcntl(fd, F_GETPIPE_SZ);

	return cap < 0 ? -errno : cap;
}

/*
 * The pipe may be smaller than asked: F_SETPIPE_SZ fails past
 * fs.pipe-max-size, or past fs.pipe-user-pages-soft, where the kernel also
 * gives new pipes two pages only (the daemon has no CAP_SYS_RESOURCE). Its
 * real capacity bounds each splice and says when it is full; reading on
 * while it is full would only get EAGAIN, again and again.
 */
static int pipe_get(struct relay_dir *d)
{
	struct pipe_pool *pool = d->pool;
	ssize_t cap;

	if (pool->n_idle > 0) {
		pool->n_idle--;
		d->pipe[0] = pool->idle[pool->n_idle].fds[0];
		d->pipe[1] = pool->idle[pool->n_idle].fds[1];
		d->pipe_cap = pool->idle[pool->n_idle].cap;
		return 0;
	}
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	cap = fcntl(d->pipe[1], F_SETPIPE_SZ, pool->pipe_size);
	if (cap < 0)
		cap = pipe_capacity(d->pipe[1]);
	if (cap <= 0) {
		pipe_close(pool, d->pipe, 0);
		return cap < 0 ? (int)cap : -EIO;
	}
	d->pipe_cap = (size_t)cap;
	pool->grown += pipe_extra(pool, d->pipe_cap);
	if (cap < pool->pipe_size && !pool->warned_small) {
		pool->warned_small = 1;
		pr_warn("splice: a pipe of %zd bytes, not the %d of --buffer-size (see "
			"fs.pipe-max-size and fs.pipe-user-pages-soft); splicing less at a time",
			cap, pool->pipe_size);
	}
	return 0;
}

/* Only an empty pipe goes back: its bytes belong to one connection. */
static void pipe_put(struct relay_dir *d)
{
	struct pipe_pool *pool = d->pool;

	if (pool->n_idle < pool->max_idle) {
		pool->idle[pool->n_idle].fds[0] = d->pipe[0];
		pool->idle[pool->n_idle].fds[1] = d->pipe[1];
		pool->idle[pool->n_idle].cap = d->pipe_cap;
		pool->n_idle++;
		d->pipe[0] = d->pipe[1] = -1;
	} else {
		pipe_close(pool, d->pipe, d->pipe_cap);
	}
	d->pipe_cap = 0;
	d->pipe_full = 0;
}

/* A full pipe carries a bulk flow: give it room, within the budget. */
static void pipe_grow(struct relay_dir *d)
{
	struct pipe_pool *pool = d->pool;
	size_t now = pipe_extra(pool, d->pipe_cap), later = pipe_extra(pool, pool->grow_to);
	int cap;

	if (d->no_grow || d->pipe_cap >= pool->grow_to ||
	    pool->grown - now + later > pool->grow_budget)
		return;
	cap = fcntl(d->pipe[1], F_SETPIPE_SZ, (int)pool->grow_to);
	if (cap < 0) {
		d->no_grow = 1; /* the limits said no; do not ask at every splice */
		return;
	}
	pool->grown = pool->grown - now + pipe_extra(pool, (size_t)cap);
	pool->grows++;
	d->pipe_cap = (size_t)cap;
}

int relay_dir_adopt_pipe(struct relay_dir *d, int fds[2], size_t len)
{
	ssize_t cap = pipe_capacity(fds[1]);

	if (cap <= 0 || (size_t)cap < len)
		return -EPROTO;
	d->pipe[0] = fds[0];
	d->pipe[1] = fds[1];
	d->pipe_len = len;
	d->pipe_cap = (size_t)cap;
	d->pool->grown += pipe_extra(d->pool, d->pipe_cap);
	return 0;
}

int relay_dir_init(struct relay_dir *d, enum data_path path, size_t cap, struct pipe_pool *pool)
{
	memset(d, 0, sizeof(*d));
	d->path = path;
	d->pipe[0] = d->pipe[1] = -1;
	d->pool = pool;
	if (path == DATA_PATH_COPY)
		return relay_buf_init(&d->buf, cap);
	return 0;
}

void relay_dir_free(struct relay_dir *d)
{
	relay_buf_free(&d->buf);
	/* Bytes still in it die with the connection. */
	if (d->pipe[0] >= 0)
		pipe_close(d->pool, d->pipe, d->pipe_cap);
}

size_t relay_dir_pending(const struct relay_dir *d)
{
	return d->path == DATA_PATH_SPLICE ? d->pipe_len : relay_buf_pending(&d->buf);
}

int relay_dir_has_space(const struct relay_dir *d)
{
	switch (d->path) {
	case DATA_PATH_COPY:
		return relay_buf_space(&d->buf) > 0;
	case DATA_PATH_SPLICE:
		/* Without a pipe, the next one has room. */
		return d->pipe[0] < 0 || (!d->pipe_full && d->pipe_len < d->pipe_cap);
	default:
		return 0;
	}
}

static ssize_t splice_fill(struct relay_dir *d, int src_fd)
{
	ssize_t n;
	int err;

	if (d->pipe[0] < 0) {
		err = pipe_get(d);
		if (err)
			return err;
	}
	n = splice(src_fd, NULL, d->pipe[1], NULL, d->pipe_cap - d->pipe_len,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0)
		n = -errno;
	if (n > 0)
		d->pipe_len += (size_t)n;
	/*
	 * A pipe is full when its bytes reach its size, or when its slots run
	 * out first (a slot holds one page's piece of an skb, which may be
	 * small): then the splice says EAGAIN with bytes in the pipe. That
	 * EAGAIN may also mean an empty socket; taking the pipe for full then
	 * only waits for the next drain, which the bytes in it will bring.
	 */
	if (d->pipe_len == d->pipe_cap || (n == -EAGAIN && d->pipe_len)) {
		size_t cap = d->pipe_cap;

		pipe_grow(d);
		d->pipe_full = d->pipe_cap == cap;
	}
	if (!d->pipe_len && n <= 0)
		pipe_put(d);
	return n;
}

static ssize_t splice_drain(struct relay_dir *d, int dst_fd)
{
	ssize_t n;

	if (!d->pipe_len)
		return 0;
	n = splice(d->pipe[0], NULL, dst_fd, NULL, d->pipe_len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0)
		return -errno;
	d->pipe_len -= (size_t)n;
	if (n > 0)
		d->pipe_full = 0;
	if (!d->pipe_len)
		pipe_put(d);
	return n;
}

ssize_t relay_dir_fill(struct relay_dir *d, int src_fd)
{
	if (d->path == DATA_PATH_SPLICE)
		return splice_fill(d, src_fd);
	return relay_buf_fill(&d->buf, src_fd);
}

ssize_t relay_dir_drain(struct relay_dir *d, int dst_fd)
{
	if (d->path == DATA_PATH_SPLICE)
		return splice_drain(d, dst_fd);
	return relay_buf_drain(&d->buf, dst_fd);
}
