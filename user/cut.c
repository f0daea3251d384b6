// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include "cut.skel.h"
#include "cut.h"

#define SELFTEST_WAIT_MS 500

int tcp_bytes(int fd, uint64_t *received, uint64_t *written)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &outq))
		return -errno;
	*received = ti.tcpi_bytes_received;
	*written = ti.tcpi_bytes_acked + (uint64_t)outq;
	return 0;
}

int cut_handoff(struct cut *cut, int fd_a, int fd_b, uint64_t cookies[2])
{
	socklen_t len = sizeof(cookies[0]);
	int one = 1, err;
	__u64 fd;

	if (getsockopt(fd_a, SOL_SOCKET, SO_COOKIE, &cookies[0], &len))
		return -errno;
	len = sizeof(cookies[1]);
	if (getsockopt(fd_b, SOL_SOCKET, SO_COOKIE, &cookies[1], &len))
		return -errno;
	/* Peers first: the verdict may run as soon as a socket is in the map. */
	if (!getenv("CUTTHRU_TEST_BREAK_SOCKMAP") &&
	    (bpf_map_update_elem(cut->peers_fd, &cookies[0], &cookies[1], BPF_ANY) ||
	     bpf_map_update_elem(cut->peers_fd, &cookies[1], &cookies[0], BPF_ANY)))
		return -errno;
	fd = (__u64)fd_a;
	if (bpf_map_update_elem(cut->socks_fd, &cookies[0], &fd, BPF_NOEXIST))
		goto err_forget;
	fd = (__u64)fd_b;
	if (bpf_map_update_elem(cut->socks_fd, &cookies[1], &fd, BPF_NOEXIST))
		goto err_forget;
	/*
	 * Bytes already queued when a socket enters the map would wait for the
	 * next arrival; setting SO_RCVLOWAT makes the kernel signal data-ready,
	 * which runs the verdict over them now.
	 */
	if (setsockopt(fd_a, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) ||
	    setsockopt(fd_b, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)))
		goto err_forget;
	return 0;

err_forget:
	err = -errno;
	bpf_map_delete_elem(cut->socks_fd, &cookies[0]);
	bpf_map_delete_elem(cut->socks_fd, &cookies[1]);
	cut_forget(cut, cookies);
	return err;
}

void cut_forget(struct cut *cut, const uint64_t cookies[2])
{
	bpf_map_delete_elem(cut->peers_fd, &cookies[0]);
	bpf_map_delete_elem(cut->peers_fd, &cookies[1]);
}

/* A connected pair over loopback: *client and *server. */
static int loopback_pair(int listen_fd, int *client, int *server)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(listen_fd, (struct sockaddr *)&sin, &len))
		return -errno;
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*client < 0)
		return -errno;
	if (connect(*client, (struct sockaddr *)&sin, len))
		return -errno;
	*server = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	return *server < 0 ? -errno : 0;
}

static int expect_bytes(int fd, const char *want, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char got[16] = "";
	size_t have = 0;
	ssize_t r;

	while (have < n) {
		if (poll(&pfd, 1, SELFTEST_WAIT_MS) != 1)
			return -ETIMEDOUT;
		r = recv(fd, got + have, n - have, 0);
		if (r <= 0)
			return r ? -errno : -ECONNRESET;
		have += (size_t)r;
	}
	return memcmp(got, want, n) ? -EBADMSG : 0;
}

/*
 * A -- B ==cut== C -- D: bytes A sent before the hand-off and after it must
 * come out at D, and D's at A.
 */
static int selftest(struct cut *cut, char *why, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int lfd, fds[4] = { -1, -1, -1, -1 };
	uint64_t cookies[2] = { 0, 0 };
	int err, i;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 4)) {
		snprintf(why, len, "self-test sockets: %s", strerror(errno));
		err = -errno;
		goto out;
	}
	err = loopback_pair(lfd, &fds[0], &fds[1]) ?: loopback_pair(lfd, &fds[3], &fds[2]);
	if (err) {
		snprintf(why, len, "self-test sockets: %s", strerror(-err));
		goto out;
	}
	if (send(fds[0], "early", 5, 0) != 5 || (err = cut_handoff(cut, fds[1], fds[2], cookies))) {
		snprintf(why, len, "adding sockets to the sockhash failed: %s", strerror(-err));
		err = err ?: -EIO;
		goto out;
	}
	err = expect_bytes(fds[3], "early", 5);
	if (err) {
		snprintf(why, len, "bytes queued before the hand-off were not redirected: %s",
			 strerror(-err));
		goto out;
	}
	if (send(fds[0], "ping", 4, 0) != 4 || send(fds[3], "pong", 4, 0) != 4) {
		err = -errno;
		goto out;
	}
	err = expect_bytes(fds[3], "ping", 4) ?: expect_bytes(fds[0], "pong", 4);
	if (err)
		snprintf(why, len, "redirected bytes did not arrive: %s", strerror(-err));
out:
	cut_forget(cut, cookies);
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (lfd >= 0)
		close(lfd);
	return err;
}

int cut_init(struct cut *cut, char *why, size_t len)
{
	int err;

	memset(cut, 0, sizeof(*cut));
	cut->skel = cut_bpf__open_and_load();
	if (!cut->skel) {
		err = -errno;
		snprintf(why, len, "loading the sk_skb verdict program failed: %s", strerror(-err));
		return err;
	}
	cut->socks_fd = bpf_map__fd(cut->skel->maps.cut_socks);
	cut->peers_fd = bpf_map__fd(cut->skel->maps.cut_peers);
	if (bpf_prog_attach(bpf_program__fd(cut->skel->progs.cutthru_cut_verdict), cut->socks_fd,
			    BPF_SK_SKB_VERDICT, 0)) {
		err = -errno;
		snprintf(why, len, "kernel lacks the sk_skb verdict hook (BPF_SK_SKB_VERDICT): %s",
			 strerror(-err));
		goto err_destroy;
	}
	err = selftest(cut, why, len);
	if (err)
		goto err_destroy;
	return 0;

err_destroy:
	cut_close(cut);
	return err;
}

void cut_close(struct cut *cut)
{
	cut_bpf__destroy(cut->skel);
	cut->skel = NULL;
}
