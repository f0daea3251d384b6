// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * connrate: short-connection rate. Each of THREADS threads keeps CONC
 * connections in flight in its own epoll loop; a connection sends REQ bytes,
 * reads REPLY bytes and the server's FIN, then closes (the server closes
 * first, so no TIME_WAIT is left on the client). Bounded by time and count.
 *
 *   connrate -a ADDR -p PORT [-t THREADS] [-c CONC] [-d SECONDS] [-n MAX]
 *            [-q REQ] [-r REPLY] [-o CONN_TIMEOUT_MS]
 *
 * Prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 1000000 /* 1 µs buckets up to 1 s; beyond: overflow */

enum { S_FREE, S_CONNECTING, S_REPLY };

struct slot {
	int fd, state, got;
	uint64_t start_ns;
};

struct thr {
	pthread_t tid;
	uint64_t ok, connect_err, reset, short_reply, timeout, unfinished, other_err;
	int first_errno;
	uint32_t *hist;
	uint64_t overflow, max_us;
};

static struct sockaddr_storage dst;
static socklen_t dst_len;
static int conc = 16, req_len = 100, reply_len = 100, conn_timeout_ms = 5000;
static uint64_t deadline_ns, hard_deadline_ns;
static atomic_long budget; /* connections still allowed to start */
static char req_buf[65536];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void note_err(struct thr *t, int err)
{
	if (!t->first_errno)
		t->first_errno = err;
}

static int start_conn(struct thr *t, int ep, struct slot *s)
{
	s->state = S_FREE;
	s->fd = -1;
	if (now_ns() >= deadline_ns || atomic_fetch_sub(&budget, 1) <= 0)
		return 0;
	for (;;) {
		int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			t->other_err++;
			note_err(t, errno);
			return 0;
		}
		s->fd = fd;
		s->got = 0;
		s->start_ns = now_ns();
		if (connect(fd, (struct sockaddr *)&dst, dst_len) < 0 && errno != EINPROGRESS) {
			t->connect_err++;
			note_err(t, errno);
			close(fd);
			s->fd = -1;
			if (now_ns() >= deadline_ns)
				return 0;
			usleep(1000);
			continue;
		}
		s->state = S_CONNECTING;
		struct epoll_event ev = { .events = EPOLLOUT };
		ev.data.ptr = s;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		return 1;
	}
}

static void finish(struct thr *t, int ep, struct slot *s)
{
	(void)ep;
	(void)t;
	close(s->fd); /* removes it from the epoll set */
	s->fd = -1;
	s->state = S_FREE;
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct slot *slots = calloc(conc, sizeof(*slots));
	struct epoll_event evs[256];
	char buf[65536];
	int active = 0;

	if (ep < 0 || !slots)
		return NULL;
	for (int i = 0; i < conc; i++)
		active += start_conn(t, ep, &slots[i]);

	uint64_t last_sweep = now_ns();
	while (active > 0) {
		uint64_t now = now_ns();
		if (now >= hard_deadline_ns)
			break;
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;
			if (s->state == S_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err) {
					t->connect_err++;
					note_err(t, err);
					finish(t, ep, s);
					active--;
					active += start_conn(t, ep, s);
					continue;
				}
				ssize_t w = write(s->fd, req_buf, req_len);
				if (w != req_len) {
					t->other_err++;
					note_err(t, w < 0 ? errno : EMSGSIZE);
					finish(t, ep, s);
					active--;
					active += start_conn(t, ep, s);
					continue;
				}
				s->state = S_REPLY;
				struct epoll_event ev = { .events = EPOLLIN };
				ev.data.ptr = s;
				epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
				continue;
			}
			if (s->state != S_REPLY)
				continue;
			ssize_t r = read(s->fd, buf, sizeof(buf));
			if (r > 0) {
				s->got += r;
				continue;
			}
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r < 0) {
				t->reset++;
				note_err(t, errno);
			} else if (s->got < reply_len) {
				t->short_reply++;
			} else {
				t->ok++;
				uint64_t us = (now_ns() - s->start_ns) / 1000;
				if (us < HIST_US)
					t->hist[us]++;
				else
					t->overflow++;
				if (us > t->max_us)
					t->max_us = us;
			}
			finish(t, ep, s);
			active--;
			active += start_conn(t, ep, s);
		}
		now = now_ns();
		if (now - last_sweep > 100000000ull) {
			last_sweep = now;
			for (int i = 0; i < conc; i++) {
				struct slot *s = &slots[i];
				if (s->state != S_FREE &&
				    now - s->start_ns > (uint64_t)conn_timeout_ms * 1000000ull) {
					t->timeout++;
					finish(t, ep, s);
					active--;
					active += start_conn(t, ep, s);
				}
			}
		}
	}
	for (int i = 0; i < conc; i++)
		if (slots[i].state != S_FREE) {
			t->unfinished++;
			close(slots[i].fd);
		}
	close(ep);
	free(slots);
	return NULL;
}

static double pct(const uint64_t *hist, uint64_t total, uint64_t overflow_max, double p)
{
	if (!total)
		return 0;
	uint64_t want = (uint64_t)(p * total), acc = 0;
	if (want >= total)
		want = total - 1;
	for (int i = 0; i < HIST_US; i++) {
		acc += hist[i];
		if (acc > want)
			return i;
	}
	return overflow_max;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	int port = 0, threads = 2, opt;
	double seconds = 5;
	long max_conns = 1000000;

	while ((opt = getopt(argc, argv, "a:p:t:c:d:n:q:r:o:")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'c':
			conc = atoi(optarg);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		case 'n':
			max_conns = atol(optarg);
			break;
		case 'q':
			req_len = atoi(optarg);
			break;
		case 'r':
			reply_len = atoi(optarg);
			break;
		case 'o':
			conn_timeout_ms = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!addr || port <= 0 || threads < 1 || threads > 64 || conc < 1 || conc > 4096 ||
	    seconds <= 0 || seconds > 600 || req_len < 1 || req_len > (int)sizeof(req_buf) ||
	    reply_len < 0)
		goto usage;
	memset(&dst, 0, sizeof(dst));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&dst;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			goto usage;
		dst_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&dst;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
			goto usage;
		dst_len = sizeof(*a);
	}
	memset(req_buf, 'q', sizeof(req_buf));
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	atomic_store(&budget, max_conns);

	struct thr *ts = calloc(threads, sizeof(*ts));
	uint64_t *hist = calloc(HIST_US, sizeof(*hist));
	if (!ts || !hist)
		return 1;
	uint64_t t0 = now_ns();
	deadline_ns = t0 + (uint64_t)(seconds * 1e9);
	hard_deadline_ns = deadline_ns + (uint64_t)conn_timeout_ms * 1000000ull + 500000000ull;
	for (int i = 0; i < threads; i++) {
		ts[i].hist = calloc(HIST_US, sizeof(uint32_t));
		if (!ts[i].hist || pthread_create(&ts[i].tid, NULL, worker, &ts[i]))
			return 1;
	}
	struct thr sum = { 0 };
	for (int i = 0; i < threads; i++) {
		pthread_join(ts[i].tid, NULL);
		sum.ok += ts[i].ok;
		sum.connect_err += ts[i].connect_err;
		sum.reset += ts[i].reset;
		sum.short_reply += ts[i].short_reply;
		sum.timeout += ts[i].timeout;
		sum.unfinished += ts[i].unfinished;
		sum.other_err += ts[i].other_err;
		sum.overflow += ts[i].overflow;
		if (ts[i].max_us > sum.max_us)
			sum.max_us = ts[i].max_us;
		if (!sum.first_errno)
			sum.first_errno = ts[i].first_errno;
		for (int j = 0; j < HIST_US; j++)
			hist[j] += ts[i].hist[j];
	}
	/* The rate counts connections completed within the measured window:
	 * elapsed runs until the last in-flight connection ended. */
	double elapsed = (now_ns() - t0) / 1e9;
	uint64_t slow = sum.overflow;
	for (int j = 200000; j < HIST_US; j++)
		slow += hist[j];
	printf("{\"ok\": %lu, \"elapsed\": %.4f, \"rate\": %.1f, \"connect_err\": %lu, "
	       "\"reset\": %lu, \"short\": %lu, \"timeout\": %lu, \"unfinished\": %lu, "
	       "\"other_err\": %lu, \"first_errno\": %d, \"first_error\": \"%s\", "
	       "\"p50_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %lu, \"slow_200ms\": %lu, "
	       "\"threads\": %d, \"conc\": %d}\n",
	       sum.ok, elapsed, sum.ok / elapsed, sum.connect_err, sum.reset, sum.short_reply,
	       sum.timeout, sum.unfinished, sum.other_err, sum.first_errno,
	       sum.first_errno ? strerror(sum.first_errno) : "",
	       pct(hist, sum.ok, sum.max_us, 0.50), pct(hist, sum.ok, sum.max_us, 0.99), sum.max_us,
	       slow, threads, conc);
	return 0;
usage:
	fprintf(stderr, "usage: connrate -a ADDR -p PORT [-t THREADS] [-c CONC] [-d SECONDS] "
			"[-n MAX] [-q REQ] [-r REPLY] [-o CONN_TIMEOUT_MS]\n");
	return 2;
}
