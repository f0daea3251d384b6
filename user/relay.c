// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
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
