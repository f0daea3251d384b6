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
/* Copies the pending bytes to out (relay_buf_pending() of them), leaving
 * them pending: a zero-downtime restart sends them to the new daemon. */
void relay_buf_peek(const struct relay_buf *b, void *out);
/* Appends len bytes; -ENOBUFS when they do not fit. */
int relay_buf_put(struct relay_buf *b, const void *data, size_t len);

/* How bytes move once both legs are up (--data-path). */
enum data_path {
	DATA_PATH_COPY, /* read(2)/write(2) through a user-space buffer */
	DATA_PATH_SPLICE, /* splice(2) through a pipe: no copy to user memory */
	DATA_PATH_SOCKMAP, /* handed to the kernel: sk_skb verdict redirects */
	DATA_PATHS,
};

const char *data_path_name(enum data_path path);
int data_path_parse(const char *text, enum data_path *out);

/*
 * Idle pipes for the splice path. A pipe is only held while bytes are in
 * flight, so idle connections cost no pipe fds (a connection would
 * otherwise take six fds instead of two).
 *
 * A pipe starts at pipe_size (--buffer-size). One that a splice fills up
 * carries a bulk flow: it grows to grow_to, which halves the daemon's CPU
 * per byte (fewer, larger splices; bench/), while the pool's pipes hold
 * at most grow_budget bytes beyond pipe_size in all. The kernel counts
 * every pipe's pages against fs.pipe-user-pages-soft, past which a new
 * pipe gets two pages only: the budget keeps growth from taking that room
 * from new connections.
 */
struct idle_pipe {
	int fds[2];
	size_t cap;
};

struct pipe_pool {
	struct idle_pipe *idle;
	int n_idle;
	int max_idle;
	int pipe_size; /* asked of F_SETPIPE_SZ; a pipe may get less */
	int warned_small; /* that a pipe got less was logged */
	size_t grow_to; /* a full pipe's new size; <= pipe_size: no growth */
	size_t grow_budget;
	size_t grown; /* bytes beyond pipe_size of the pipes open now */
	uint64_t grows; /* pipes grown so far */
};

int pipe_pool_init(struct pipe_pool *pool, int max_idle, int pipe_size, size_t grow_to,
		   size_t grow_budget);
void pipe_pool_free(struct pipe_pool *pool);

/* The bytes of one direction, on their way from one leg to the other. */
struct relay_dir {
	enum data_path path;
	struct relay_buf buf; /* DATA_PATH_COPY */
	struct pipe_pool *pool; /* DATA_PATH_SPLICE: */
	int pipe[2]; /* -1 while no bytes are in flight */
	size_t pipe_len;
	size_t pipe_cap; /* what this pipe holds: the bound of one splice */
	int no_grow; /* growing this direction's pipe failed once */
	int pipe_full; /* found full; no more reading until a drain */
};

/* A pipe that came from elsewhere (a takeover) joins d, and the pool's
 * count; -EPROTO if fds is not a pipe holding len bytes. */
int relay_dir_adopt_pipe(struct relay_dir *d, int fds[2], size_t len);

int relay_dir_init(struct relay_dir *d, enum data_path path, size_t cap, struct pipe_pool *pool);
void relay_dir_free(struct relay_dir *d);
size_t relay_dir_pending(const struct relay_dir *d);
/* Is there room to read more from the source? */
int relay_dir_has_space(const struct relay_dir *d);
/* As relay_buf_fill / relay_buf_drain, for either path. */
ssize_t relay_dir_fill(struct relay_dir *d, int src_fd);
ssize_t relay_dir_drain(struct relay_dir *d, int dst_fd);

#endif
