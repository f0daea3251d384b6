// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * benchsrv: the benchmark's server, one epoll thread, several ports:
 *
 *   rr:PORT[:REQ:REPLY]  read REQ bytes (default 100), write REPLY bytes
 *                        (default 100), close (the server closes first, so
 *                        the client never holds a TIME_WAIT)
 *   echo:PORT            echo every byte back; hold the connection until the
 *                        peer closes (ping-pong latency, idle connections)
 *   peer:PORT            write "ADDR PORT\n" of the peer as this server sees
 *                        it, then close (checks that a proxy is transparent)
 *
 *   benchsrv [-b ADDR] [-T MAX_SECONDS] SPEC...
 *
 * Prints "listening" once every port listens; on SIGTERM/SIGINT (or after
 * MAX_SECONDS, default 3600) prints one line of counters and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_NONE, M_RR, M_ECHO, M_PEER };

#define MAX_LISTEN 8
#define MAX_FD 65536
#define ECHO_BUF 4096

struct lst {
	int fd;
	enum mode mode;
	int port, req, reply;
	unsigned long accepted, served;
};

struct conn {
	unsigned char mode; /* M_NONE: free slot */
	unsigned char lidx;
	int got; /* rr: request bytes read */
	int pend_off, pend; /* bytes still to write from out */
	char *out;
};

static struct lst lsts[MAX_LISTEN];
static int nlst;
static struct conn *conns;
static char *reply_buf;
static volatile sig_atomic_t stop;
static int ep;
static unsigned long errors;

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "benchsrv: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void conn_close(int fd)
{
	if (fd < 0 || fd >= MAX_FD)
		return;
	free(conns[fd].out);
	memset(&conns[fd], 0, sizeof(conns[fd]));
	close(fd);
}

/* Writes what is pending; returns 1 when everything is written, 0 if it must
 * wait for EPOLLOUT, -1 on error. */
static int flush_out(int fd)
{
	struct conn *c = &conns[fd];
	while (c->pend > 0) {
		ssize_t n = write(fd, c->out + c->pend_off, c->pend);
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->pend_off += n;
		c->pend -= n;
	}
	return 1;
}

static void want_out(int fd, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0) };
	ev.data.u64 = (uint64_t)fd;
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void on_accept(int li)
{
	struct lst *l = &lsts[li];
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				errors++;
			return;
		}
		if (fd >= MAX_FD) {
			close(fd);
			errors++;
			continue;
		}
		l->accepted++;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = &conns[fd];
		memset(c, 0, sizeof(*c));
		c->mode = l->mode;
		c->lidx = li;
		if (l->mode == M_PEER) {
			char host[INET6_ADDRSTRLEN] = "?", line[128];
			int port = 0;
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
				port = ntohs(a->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
				port = ntohs(a->sin6_port);
			}
			int n = snprintf(line, sizeof(line), "%s %d\n", host, port);
			if (write(fd, line, n) != n)
				errors++;
			l->served++;
			conn_close(fd);
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN };
		ev.data.u64 = (uint64_t)fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			errors++;
			conn_close(fd);
		}
	}
}

static void on_conn(int fd, unsigned events)
{
	struct conn *c = &conns[fd];
	struct lst *l = &lsts[c->lidx];
	char buf[ECHO_BUF];

	if (c->pend > 0 && (events & EPOLLOUT)) {
		int r = flush_out(fd);
		if (r < 0) {
			conn_close(fd);
			return;
		}
		if (r == 0)
			return;
		if (c->mode == M_RR) {
			l->served++;
			conn_close(fd);
			return;
		}
		free(c->out);
		c->out = NULL;
		want_out(fd, 0);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->pend > 0)
		return;

	ssize_t n = read(fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		conn_close(fd);
		return;
	}
	if (n < 0)
		return;
	if (c->mode == M_RR) {
		c->got += n;
		if (c->got < l->req)
			return;
		ssize_t w = write(fd, reply_buf, l->reply);
		if (w == l->reply) {
			l->served++;
			conn_close(fd);
			return;
		}
		if (w < 0 && errno != EAGAIN) {
			conn_close(fd);
			return;
		}
		c->out = malloc(l->reply);
		if (!c->out) {
			conn_close(fd);
			return;
		}
		memcpy(c->out, reply_buf, l->reply);
		c->pend_off = w > 0 ? w : 0;
		c->pend = l->reply - c->pend_off;
		want_out(fd, 1);
		return;
	}
	/* echo */
	ssize_t w = write(fd, buf, n);
	if (w == n)
		return;
	if (w < 0) {
		if (errno != EAGAIN) {
			conn_close(fd);
			return;
		}
		w = 0;
	}
	c->out = malloc(n - w);
	if (!c->out) {
		conn_close(fd);
		return;
	}
	memcpy(c->out, buf + w, n - w);
	c->pend_off = 0;
	c->pend = n - w;
	want_out(fd, 1);
}

static int parse_spec(const char *spec, const char *bind_addr)
{
	char m[16];
	int port = 0, req = 100, reply = 100;
	if (sscanf(spec, "%15[a-z]:%d:%d:%d", m, &port, &req, &reply) < 2 || port <= 0 ||
	    port > 65535 || req <= 0 || reply <= 0 || reply > 1 << 20)
		return -1;
	if (nlst == MAX_LISTEN)
		return -1;
	struct lst *l = &lsts[nlst];
	if (!strcmp(m, "rr"))
		l->mode = M_RR;
	else if (!strcmp(m, "echo"))
		l->mode = M_ECHO;
	else if (!strcmp(m, "peer"))
		l->mode = M_PEER;
	else
		return -1;
	l->port = port;
	l->req = req;
	l->reply = reply;
	int v6 = strchr(bind_addr, ':') != NULL;
	l->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		die("socket");
	int one = 1;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, bind_addr, &a->sin6_addr) != 1)
			return -1;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, bind_addr, &a->sin_addr) != 1)
			return -1;
		sl = sizeof(*a);
	}
	if (bind(l->fd, (struct sockaddr *)&ss, sl) < 0)
		die("bind");
	if (listen(l->fd, 4096) < 0)
		die("listen");
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)1 << 32 | nlst };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &ev) < 0)
		die("epoll_ctl");
	nlst++;
	return 0;
}

int main(int argc, char **argv)
{
	const char *bind_addr = "0.0.0.0";
	int max_seconds = 3600, opt;

	while ((opt = getopt(argc, argv, "b:T:")) != -1) {
		switch (opt) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'T':
			max_seconds = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: benchsrv [-b ADDR] [-T SECONDS] rr:PORT[:REQ:REPLY] "
				"echo:PORT peer:PORT...\n");
			return 2;
		}
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_sig };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	conns = calloc(MAX_FD, sizeof(*conns));
	reply_buf = calloc(1, 1 << 20);
	if (!conns || !reply_buf)
		die("calloc");
	memset(reply_buf, 'r', 1 << 20);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = optind; i < argc; i++)
		if (parse_spec(argv[i], bind_addr) < 0) {
			fprintf(stderr, "benchsrv: bad spec %s\n", argv[i]);
			return 2;
		}
	if (nlst == 0) {
		fprintf(stderr, "benchsrv: no port\n");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);

	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct epoll_event evs[256];
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 500);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 >> 32)
				on_accept((int)(evs[i].data.u64 & 0xffffffff));
			else
				on_conn((int)evs[i].data.u64, evs[i].events);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > max_seconds)
			break;
	}
	for (int i = 0; i < nlst; i++)
		fprintf(stderr, "benchsrv: port %d accepted %lu served %lu\n", lsts[i].port,
			lsts[i].accepted, lsts[i].served);
	fprintf(stderr, "benchsrv: errors %lu\n", errors);
	return 0;
}
