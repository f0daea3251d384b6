/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Moving bytes in user space: a bounded ring buffer per direction. What one
 * leg sends is read into its buffer and written from there to the other leg;
 * a full buffer stops reading (backpressure), never drops.
 */
#ifndef CUTTHRU_RELAY_H
#define CUTTHRU_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct relay_buf {
	uint8_t *data;
	size_t cap;
	size_t head; /* offset of the first pending byte */
	size_t len; /* pending bytes */
};

int relay_buf_init(struct relay_buf *b, size_t cap);
void relay_buf_free(struct relay_buf *b);

static inline size_t relay_buf_pending(const struct relay_buf *b)
{
	return b->len;
}

static inline size_t relay_buf_space(const struct relay_buf *b)
{
	return b->cap - b->len;
}

/*
 * Reads from fd into the free space. Returns the bytes read (> 0), 0 at end
 * of stream, or -errno (-EAGAIN when nothing is there yet, -ENOBUFS when
 * the buffer is full).
 */
ssize_t relay_buf_fill(struct relay_buf *b, int fd);
/* Writes pending bytes to fd. Returns bytes written (>= 0) or -errno. */
ssize_t relay_buf_drain(struct relay_buf *b, int fd);

#endif
