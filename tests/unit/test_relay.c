// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of user/relay.c: the ring buffer between two sockets, and the
 * splice path's pipes: how they are found full and grow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include "relay.h"

/*
 * src[0] is the test's end of the leg the relay reads (src[1]); dst[0] is
 * the leg the relay writes, dst[1] the test's end of it. All non-blocking.
 */
struct fixture {
	int src[2];
	int dst[2];
	struct relay_buf b;
};

/* Byte i of the stream; its period (2 MiB) is far longer than any test. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fx->src) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fx->dst)) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	relay_buf_free(&fx->b);
	close_fd(&fx->src[0]);
	close_fd(&fx->src[1]);
	close_fd(&fx->dst[0]);
	close_fd(&fx->dst[1]);
	free(fx);
	return 0;
}

/* Writes bytes [off, off + n) of the pattern; the socket must take them all. */
static void write_pattern(int fd, size_t off, size_t n)
{
	uint8_t chunk[4096];
	size_t i, len;

	while (n) {
		len = n < sizeof(chunk) ? n : sizeof(chunk);
		for (i = 0; i < len; i++)
			chunk[i] = pattern(off + i);
		assert_int_equal(write(fd, chunk, len), len);
		off += len;
		n -= len;
	}
}

/* Reads what fd has until EAGAIN, checks it continues the pattern at *off. */
static size_t read_pattern(int fd, size_t *off)
{
	uint8_t chunk[4096];
	size_t i, total = 0;
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		for (i = 0; i < (size_t)n; i++)
			if (chunk[i] != pattern(*off + i))
				fail_msg("stream byte %zu is 0x%02x, want 0x%02x", *off + i,
					 chunk[i], pattern(*off + i));
		*off += (size_t)n;
		total += (size_t)n;
	}
	assert_int_equal(n, -1);
	assert_int_equal(errno, EAGAIN);
	return total;
}

/* The pending bytes, in ring order, continue the pattern at off. */
static void check_pending(const struct relay_buf *b, size_t off)
{
	size_t k;

	for (k = 0; k < b->len; k++)
		if (b->data[(b->head + k) % b->cap] != pattern(off + k))
			fail_msg("pending byte %zu (stream %zu) is wrong", k, off + k);
}

/* Both buffers of a socket as small as the kernel allows. */
static void shrink_buffers(int fd)
{
	int one = 1;

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)), 0);
}

/* Drains and reads until the buffer is empty; returns the bytes moved. */
static size_t pump_out(struct fixture *fx, size_t *off)
{
	size_t moved = 0;
	ssize_t n;
	int idle = 0;

	while (relay_buf_pending(&fx->b)) {
		n = relay_buf_drain(&fx->b, fx->dst[0]);
		if (n < 0)
			assert_int_equal(n, -EAGAIN);
		idle = n > 0 ? 0 : idle + 1;
		assert_true(idle < 2); /* after a read, the socket takes more */
		moved += read_pattern(fx->dst[1], off);
	}
	moved += read_pattern(fx->dst[1], off);
	assert_int_equal(fx->b.head, 0);
	return moved;
}

static void test_init_free(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(relay_buf_init(&fx->b, 4096), 0);
	assert_non_null(fx->b.data);
	assert_int_equal(fx->b.cap, 4096);
	assert_int_equal(fx->b.head, 0);
	assert_int_equal(relay_buf_pending(&fx->b), 0);
	assert_int_equal(relay_buf_space(&fx->b), 4096);
	relay_buf_free(&fx->b);
	assert_null(fx->b.data);
	assert_int_equal(fx->b.cap, 0);
	assert_int_equal(relay_buf_space(&fx->b), 0);
}

static void test_fill_drain_basic(void **state)
{
	struct fixture *fx = *state;
	size_t off = 0;

	assert_int_equal(relay_buf_init(&fx->b, 64), 0);
	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), 0); /* nothing pending */
	write_pattern(fx->src[0], 0, 10);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 10);
	assert_int_equal(relay_buf_pending(&fx->b), 10);
	assert_int_equal(relay_buf_space(&fx->b), 54);
	check_pending(&fx->b, 0);

	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), 10);
	assert_int_equal(relay_buf_pending(&fx->b), 0);
	assert_int_equal(fx->b.head, 0);
	assert_int_equal(read_pattern(fx->dst[1], &off), 10);
	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), 0);
}

/* Fill reads no more than the free space; the rest waits in the socket. */
static void test_fill_full_buffer(void **state)
{
	struct fixture *fx = *state;
	size_t off = 0;

	assert_int_equal(relay_buf_init(&fx->b, 16), 0);
	write_pattern(fx->src[0], 0, 40);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 16);
	assert_int_equal(relay_buf_space(&fx->b), 0);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), -ENOBUFS);
	assert_int_equal(relay_buf_pending(&fx->b), 16);
	check_pending(&fx->b, 0);

	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), 16);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 16);
	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), 16);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 8);
	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), 8);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), -EAGAIN);
	assert_int_equal(read_pattern(fx->dst[1], &off), 40);
}

static void test_fill_eagain_then_eof(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(relay_buf_init(&fx->b, 64), 0);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), -EAGAIN);
	assert_int_equal(relay_buf_pending(&fx->b), 0);

	write_pattern(fx->src[0], 0, 5);
	assert_int_equal(shutdown(fx->src[0], SHUT_WR), 0);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 5); /* data before EOF */
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 0);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 0);
	assert_int_equal(relay_buf_pending(&fx->b), 5);
	check_pending(&fx->b, 0);
}

static void test_fill_eof_empty(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(relay_buf_init(&fx->b, 64), 0);
	assert_int_equal(shutdown(fx->src[0], SHUT_WR), 0);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 0);
	assert_int_equal(relay_buf_pending(&fx->b), 0);
	assert_int_equal(relay_buf_fill(&fx->b, -1), -EBADF);
}

/*
 * Fill 12000 of 16384, drain part of it (the small send buffer of dst takes
 * a few KiB), then fill the free space, which now wraps: [12000, 16384) and
 * [0, drained). The stream must come out whole and in order.
 */
static void test_wrap_around(void **state)
{
	const size_t cap = 16384, first = 12000;
	struct fixture *fx = *state;
	size_t off = 0, drained, space;
	ssize_t n;

	shrink_buffers(fx->dst[0]);
	assert_int_equal(relay_buf_init(&fx->b, cap), 0);
	write_pattern(fx->src[0], 0, first);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), first);

	n = relay_buf_drain(&fx->b, fx->dst[0]);
	assert_true(n > 0 && (size_t)n < first);
	drained = (size_t)n;
	assert_int_equal(fx->b.head, drained);
	assert_int_equal(relay_buf_pending(&fx->b), first - drained);
	assert_int_equal(read_pattern(fx->dst[1], &off), drained);

	space = relay_buf_space(&fx->b);
	assert_int_equal(space, cap - first + drained);
	write_pattern(fx->src[0], first, space + 100);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), space);
	assert_int_equal(relay_buf_space(&fx->b), 0);
	assert_true(fx->b.head + fx->b.len > cap); /* the pending bytes wrap */
	check_pending(&fx->b, drained);
	assert_int_equal(fx->b.data[0], pattern(cap)); /* the second iovec */
	assert_int_equal(fx->b.data[drained - 1], pattern(cap + drained - 1));

	assert_int_equal(pump_out(fx, &off), cap);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 100);
	assert_int_equal(pump_out(fx, &off), 100);
	assert_int_equal(off, first + space + 100);
}

/* Reads src into the buffer until it is full; returns the bytes taken. */
static size_t fill_up(struct fixture *fx)
{
	size_t fed = 0;
	ssize_t n;

	while (relay_buf_space(&fx->b)) {
		size_t len = relay_buf_space(&fx->b) < 4096 ? relay_buf_space(&fx->b) : 4096;

		write_pattern(fx->src[0], fed, len);
		n = relay_buf_fill(&fx->b, fx->src[1]);
		assert_int_equal(n, len);
		fed += len;
	}
	return fed;
}

/*
 * With dst's buffers small and nobody reading, drain hits EAGAIN; what it
 * could not send stays pending, byte for byte, and goes out later.
 */
static void test_drain_eagain_keeps_pending(void **state)
{
	const size_t cap = 256 * 1024;
	struct fixture *fx = *state;
	size_t off = 0, drained = 0, head, len;
	ssize_t n;

	shrink_buffers(fx->dst[0]);
	shrink_buffers(fx->dst[1]);
	assert_int_equal(relay_buf_init(&fx->b, cap), 0);
	assert_int_equal(fill_up(fx), cap);

	while ((n = relay_buf_drain(&fx->b, fx->dst[0])) > 0)
		drained += (size_t)n;
	assert_int_equal(n, -EAGAIN);
	assert_true(drained > 0 && drained < cap);
	assert_int_equal(relay_buf_pending(&fx->b), cap - drained);
	assert_int_equal(fx->b.head, drained);
	check_pending(&fx->b, drained);

	head = fx->b.head;
	len = fx->b.len;
	assert_int_equal(relay_buf_drain(&fx->b, fx->dst[0]), -EAGAIN);
	assert_int_equal(fx->b.head, head);
	assert_int_equal(fx->b.len, len);

	assert_int_equal(read_pattern(fx->dst[1], &off), drained);
	assert_int_equal(pump_out(fx, &off), cap - drained);
	assert_int_equal(off, cap);
}

/*
 * drain with SIGPIPE blocked: a SIGPIPE it raises stays pending, is taken
 * off again and reported in *raised instead of killing the test.
 */
static ssize_t drain_catching_sigpipe(struct fixture *fx, int *raised)
{
	const struct timespec zero = { 0 };
	sigset_t pipe_set, old, pending;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	assert_int_equal(sigprocmask(SIG_BLOCK, &pipe_set, &old), 0);
	n = relay_buf_drain(&fx->b, fx->dst[0]);
	assert_int_equal(sigpending(&pending), 0);
	*raised = sigismember(&pending, SIGPIPE);
	if (*raised)
		sigtimedwait(&pipe_set, NULL, &zero);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	return n;
}

/* A closed peer is -EPIPE (or -ECONNRESET), never a SIGPIPE. */
static void test_drain_closed_peer(void **state)
{
	struct fixture *fx = *state;
	int raised;
	ssize_t n;

	assert_int_equal(relay_buf_init(&fx->b, 64), 0);
	write_pattern(fx->src[0], 0, 20);
	assert_int_equal(relay_buf_fill(&fx->b, fx->src[1]), 20);
	close_fd(&fx->dst[1]);

	n = drain_catching_sigpipe(fx, &raised);
	assert_false(raised);
	if (n != -EPIPE && n != -ECONNRESET)
		fail_msg("drain to a closed peer = %zd, want -EPIPE or -ECONNRESET", n);
	assert_int_equal(relay_buf_pending(&fx->b), 20);
	check_pending(&fx->b, 0);
	n = drain_catching_sigpipe(fx, &raised);
	assert_false(raised);
	assert_true(n == -EPIPE || n == -ECONNRESET);
	assert_int_equal(relay_buf_pending(&fx->b), 20);
}

/* Fills d from fd until the pipe is taken for full (at most a few reads). */
static void fill_until_full(struct relay_dir *d, int fd)
{
	int tries;

	for (tries = 0; tries < 64 && relay_dir_has_space(d); tries++) {
		ssize_t n = relay_dir_fill(d, fd);

		if (n < 0)
			assert_int_equal(n, -EAGAIN);
	}
	assert_false(relay_dir_has_space(d));
}

#define SMALL_PIPE (64 * 1024)
#define BIG_PIPE (1024 * 1024)

/*
 * A pipe found full grows to grow_to while the budget allows, and only then:
 * the second direction's stays small and is not read again until a drain.
 * Closing the grown pipe gives its bytes back to the budget.
 */
static void test_splice_full_pipe_grows_within_budget(void **state)
{
	struct fixture *fx = *state;
	struct pipe_pool pool;
	struct relay_dir big, small;
	int sndbuf = 4 * BIG_PIPE; /* the kernel caps it; it still takes the bytes below */
	size_t off = 0;

	assert_int_equal(pipe_pool_init(&pool, 4, SMALL_PIPE, BIG_PIPE, BIG_PIPE - SMALL_PIPE), 0);
	relay_dir_init(&big, DATA_PATH_SPLICE, 0, &pool);
	relay_dir_init(&small, DATA_PATH_SPLICE, 0, &pool);

	/* Both read the same source in turn: it holds more than a small pipe. */
	assert_int_equal(setsockopt(fx->src[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	write_pattern(fx->src[0], 0, 3 * SMALL_PIPE);
	assert_true(relay_dir_has_space(&big));
	while (!pool.grows) {
		assert_true(relay_dir_fill(&big, fx->src[1]) > 0);
		assert_true(relay_dir_has_space(&big));
	}
	assert_int_equal(big.pipe_cap, BIG_PIPE);
	assert_int_equal(pool.grown, BIG_PIPE - SMALL_PIPE);
	/* What big left in the source fills small, which may not grow. */
	fill_until_full(&small, fx->src[1]);
	assert_int_equal(small.pipe_cap, SMALL_PIPE);
	assert_int_equal(pool.grows, 1);
	/* A drain makes room, and the pipe is read again. */
	assert_true(relay_dir_drain(&big, fx->dst[0]) > 0);
	assert_true(read_pattern(fx->dst[1], &off) > 0);
	assert_true(relay_dir_drain(&small, fx->dst[0]) > 0);
	assert_true(relay_dir_has_space(&small));
	/* An emptied pipe waits in the pool, grown: still counted. */
	relay_dir_free(&big);
	relay_dir_free(&small);
	assert_int_equal(pool.grown, BIG_PIPE - SMALL_PIPE);
	pipe_pool_free(&pool);
	assert_int_equal(pool.grown, 0);
}

/* Past the budget nothing grows, however full. */
static void test_splice_no_budget_no_growth(void **state)
{
	struct fixture *fx = *state;
	struct pipe_pool pool;
	struct relay_dir d;

	assert_int_equal(pipe_pool_init(&pool, 4, SMALL_PIPE, BIG_PIPE, 0), 0);
	relay_dir_init(&d, DATA_PATH_SPLICE, 0, &pool);
	write_pattern(fx->src[0], 0, 2 * SMALL_PIPE);
	fill_until_full(&d, fx->src[1]);
	assert_int_equal(d.pipe_cap, SMALL_PIPE);
	assert_int_equal(pool.grows, 0);
	assert_int_equal(pool.grown, 0);
	relay_dir_free(&d);
	pipe_pool_free(&pool);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_init_free),
		TEST(test_fill_drain_basic),
		TEST(test_fill_full_buffer),
		TEST(test_fill_eagain_then_eof),
		TEST(test_fill_eof_empty),
		TEST(test_wrap_around),
		TEST(test_drain_eagain_keeps_pending),
		TEST(test_drain_closed_peer),
		TEST(test_splice_full_pipe_grows_within_budget),
		TEST(test_splice_no_budget_no_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
