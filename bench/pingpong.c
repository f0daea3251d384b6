// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pingpong: 1-byte request/response latency on one TCP connection against an
 * echo server. WARMUP round trips are not counted; then COUNT round trips are
 * timed, each bounded by the whole run's SECONDS.
 *
 *   pingpong -a ADDR -p PORT [-n COUNT] [-w WARMUP] [-T SECONDS]
 *
 * Prints one JSON object on stdout (microseconds).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double q(const uint64_t *v, long n, double p)
{
	long i = (long)(p * n);
	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	int port = 0, opt;
	long count = 20000, warmup = 1000;
	double seconds = 20;

	while ((opt = getopt(argc, argv, "a:p:n:w:T:")) != -1) {
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
		case 'w':
			warmup = atol(optarg);
			break;
		case 'T':
			seconds = atof(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!addr || port <= 0 || count < 1 || count > 10000000 || warmup < 0 || seconds <= 0)
		goto usage;

	struct sockaddr_storage dst = { 0 };
	socklen_t dl;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&dst;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			goto usage;
		dl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&dst;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
			goto usage;
		dl = sizeof(*a);
	}
	int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, dl) < 0) {
		printf("{\"error\": \"connect: %s\"}\n", strerror(errno));
		return 1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	uint64_t *lat = calloc(count, sizeof(*lat));
	if (!lat)
		return 1;
	uint64_t t_end = now_ns() + (uint64_t)(seconds * 1e9);
	long done = 0;
	const char *err = NULL;
	for (long i = 0; i < warmup + count; i++) {
		char c = 'x';
		uint64_t t0 = now_ns();
		if (t0 > t_end) {
			err = "time limit";
			break;
		}
		if (write(fd, &c, 1) != 1) {
			err = "write";
			break;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left_ms = (int)((t_end - t0) / 1000000) + 1;
		if (poll(&pfd, 1, left_ms) != 1) {
			err = "no reply in time";
			break;
		}
		if (read(fd, &c, 1) != 1) {
			err = "read";
			break;
		}
		uint64_t t1 = now_ns();
		if (i >= warmup)
			lat[done++] = t1 - t0;
	}
	close(fd);
	if (done == 0) {
		printf("{\"error\": \"%s\"}\n", err ? err : "nothing measured");
		return 1;
	}
	double sum = 0;
	for (long i = 0; i < done; i++)
		sum += lat[i];
	qsort(lat, done, sizeof(*lat), cmp_u64);
	printf("{\"n\": %ld, \"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, "
	       "\"p999_us\": %.2f, \"min_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f, "
	       "\"error\": %s%s%s}\n",
	       done, q(lat, done, 0.5), q(lat, done, 0.9), q(lat, done, 0.99), q(lat, done, 0.999),
	       lat[0] / 1000.0, lat[done - 1] / 1000.0, sum / done / 1000.0, err ? "\"" : "",
	       err ? err : "null", err ? "\"" : "");
	return 0;
usage:
	fprintf(stderr, "usage: pingpong -a ADDR -p PORT [-n COUNT] [-w WARMUP] [-T SECONDS]\n");
	return 2;
}
