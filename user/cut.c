// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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

static int slot_get(struct cut *cut, uint32_t *slot)
{
	if (!cut->n_free)
		return -ENOSPC;
	*slot = cut->free_slots[--cut->n_free];
	/*
	 * Born with no credit (limit 0): a segment that arrives while only one
	 * leg is in the sockhash would be redirected to nowhere and lost. Held
	 * instead, it waits until the daemon, with both legs in, grants some.
	 */
	memset(&cut->flows[*slot], 0, sizeof(cut->flows[*slot]));
	return 0;
}

static void slot_put(struct cut *cut, uint32_t slot)
{
	cut->free_slots[cut->n_free++] = slot;
}

static int add_leg(struct cut *cut, uint64_t cookie, uint64_t peer, uint32_t slot)
{
	struct cutthru_cut_leg leg = { .peer_cookie = peer, .flow_slot = slot };

	if (getenv("CUTTHRU_TEST_BREAK_SOCKMAP"))
		return 0; /* test switch: no peers, so the verdict drops all */
	return bpf_map_update_elem(cut->peers_fd, &cookie, &leg, BPF_ANY) ? -errno : 0;
}

static int add_sock(struct cut *cut, uint64_t cookie, int fd)
{
	__u64 value = (__u64)fd;

	return bpf_map_update_elem(cut->socks_fd, &cookie, &value, BPF_NOEXIST) ? -errno : 0;
}

/*
 * A fixed receive buffer, the bound of what a leg holds while the peer is
 * behind: TCP's autotuning counts every redirected byte as read by the
 * application and would grow it to tcp_rmem[2] (32 MiB here), and the
 * window it opened cannot be taken back once the direction holds.
 * SO_RCVBUFFORCE (CAP_NET_ADMIN) so that net.core.rmem_max does not make it
 * smaller; the kernel doubles the value for its overhead.
 */
static int fix_rcvbuf(int fd)
{
	int half = CUT_RCVBUF / 2;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof(half)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &half, sizeof(half)))
		return -errno;
	return 0;
}

int cut_handoff(struct cut *cut, int fd_a, int fd_b, struct cut_pair *pair)
{
	socklen_t len = sizeof(pair->cookies[0]);
	int one = 1, err;

	memset(pair, 0, sizeof(*pair));
	if (getsockopt(fd_a, SOL_SOCKET, SO_COOKIE, &pair->cookies[0], &len))
		return -errno;
	len = sizeof(pair->cookies[1]);
	if (getsockopt(fd_b, SOL_SOCKET, SO_COOKIE, &pair->cookies[1], &len))
		return -errno;
	err = slot_get(cut, &pair->slots[0]);
	if (err)
		return err;
	err = slot_get(cut, &pair->slots[1]);
	if (err) {
		slot_put(cut, pair->slots[0]);
		return err;
	}
	err = fix_rcvbuf(fd_a) ?: fix_rcvbuf(fd_b);
	if (err) {
		cut_forget(cut, pair);
		return err;
	}
	/* Peers first: the verdict may run as soon as a socket is in the map. */
	err = add_leg(cut, pair->cookies[0], pair->cookies[1], pair->slots[0])	       ?:
		      add_leg(cut, pair->cookies[1], pair->cookies[0], pair->slots[1]) ?:
		      add_sock(cut, pair->cookies[0], fd_a)			       ?:
		      add_sock(cut, pair->cookies[1], fd_b);
	if (err)
		goto err_forget;
	/*
	 * Bytes already queued when a socket enters the map would wait for the
	 * next arrival; setting SO_RCVLOWAT makes the kernel signal data-ready,
	 * which runs the verdict over them now.
	 */
	if (setsockopt(fd_a, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) ||
	    setsockopt(fd_b, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one))) {
		err = -errno;
		goto err_forget;
	}
	return 0;

err_forget:
	bpf_map_delete_elem(cut->socks_fd, &pair->cookies[0]);
	bpf_map_delete_elem(cut->socks_fd, &pair->cookies[1]);
	cut_forget(cut, pair);
	return err;
}

void cut_forget(struct cut *cut, struct cut_pair *pair)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (!pair->cookies[i])
			continue;
		bpf_map_delete_elem(cut->peers_fd, &pair->cookies[i]);
		slot_put(cut, pair->slots[i]);
		pair->cookies[i] = 0;
	}
}

static int on_ring_event(void *ctx, void *data, size_t size)
{
	struct cut *cut = ctx;
	const struct cutthru_cut_event *ev = data;

	if (size >= sizeof(*ev) && ev->flow_slot < CUTTHRU_CUT_SOCKS_MAX && cut->report)
		cut->report(cut->report_ctx, ev->flow_slot);
	return 0;
}

int cut_events_fd(const struct cut *cut)
{
	return ring_buffer__epoll_fd(cut->events);
}

int cut_counters_fd(const struct cut *cut)
{
	return bpf_map__fd(cut->skel->maps.cut_counters);
}

const char *cut_reason_name(unsigned int reason)
{
	static const char *const names[CUTTHRU_CUT_REASONS] = {
		[CUTTHRU_CUT_REDIRECTED] = "redirected",
		[CUTTHRU_CUT_HELD] = "held",
		[CUTTHRU_CUT_NO_PEER] = "no_peer",
		[CUTTHRU_CUT_EMPTY] = "empty",
		[CUTTHRU_CUT_OVERLAP] = "overlap",
		[CUTTHRU_CUT_OVERLAP_FAILED] = "overlap_failed",
	};

	return reason < CUTTHRU_CUT_REASONS ? names[reason] : "?";
}

void cut_consume_events(struct cut *cut)
{
	ring_buffer__consume(cut->events);
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
 * What the daemon does for a freshly cut connection, on its own pair: take
 * what B held since the hand-off, write it to C, grant both directions credit.
 */
static int move_held_once(struct cut *cut, const struct cut_pair *pair, int from, int to)
{
	struct cutthru_cut_flow *flow = &cut->flows[pair->slots[0]];
	char buf[16];
	ssize_t n;
	int err;

	err = expect_bytes(from, "early", 5);
	if (err)
		return err;
	memcpy(buf, "early", 5);
	n = send(to, buf, 5, 0);
	if (n != 5)
		return -EIO;
	flow->relayed = 5;
	flow->limit = CUT_QUEUE_BYTES;
	cut->flows[pair->slots[1]].limit = CUT_QUEUE_BYTES;
	return 0;
}

/*
 * A -- B ==cut== C -- D: bytes A sent before the hand-off are held in B and
 * moved by hand; later ones must be redirected by the kernel to D, and D's
 * to A.
 */
static int selftest(struct cut *cut, char *why, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int lfd, fds[4] = { -1, -1, -1, -1 };
	struct cut_pair pair = { 0 };
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
	if (send(fds[0], "early", 5, 0) != 5 || (err = cut_handoff(cut, fds[1], fds[2], &pair))) {
		snprintf(why, len, "adding sockets to the sockhash failed: %s", strerror(-err));
		err = err ?: -EIO;
		goto out;
	}
	err = move_held_once(cut, &pair, fds[1], fds[2]) ?: expect_bytes(fds[3], "early", 5);
	if (err) {
		snprintf(why, len, "bytes queued before the hand-off were not held: %s",
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
	cut_forget(cut, &pair);
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (lfd >= 0)
		close(lfd);
	return err;
}

static int map_flows(struct cut *cut)
{
	long page = sysconf(_SC_PAGESIZE);
	void *mem;

	cut->flows_len = sizeof(struct cutthru_cut_flow) * CUTTHRU_CUT_SOCKS_MAX;
	cut->flows_len = (cut->flows_len + (size_t)page - 1) & ~((size_t)page - 1);
	mem = mmap(NULL, cut->flows_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		   bpf_map__fd(cut->skel->maps.cut_flows), 0);
	if (mem == MAP_FAILED)
		return -errno;
	cut->flows = mem;
	return 0;
}

/* The last two flow slots are the self-test's alone. */
#define SELFTEST_SLOTS 2
#define CONN_SLOTS (CUTTHRU_CUT_SOCKS_MAX - SELFTEST_SLOTS)

void cut_claim_slots(struct cut *cut, const uint8_t *used)
{
	uint32_t i;

	cut->n_free = 0;
	/* Handed out from the top of the stack: the lowest free slot first. */
	for (i = CONN_SLOTS; i-- > 0;)
		if (!used || !used[i])
			cut->free_slots[cut->n_free++] = i;
}

static int make_slots(struct cut *cut)
{
	cut->free_slots = calloc(CUTTHRU_CUT_SOCKS_MAX, sizeof(*cut->free_slots));
	if (!cut->free_slots)
		return -ENOMEM;
	cut_claim_slots(cut, NULL);
	return 0;
}

/* The self-test takes the reserved slots off the top of the stack. */
static int selftest_on_reserved(struct cut *cut, char *why, size_t len)
{
	uint32_t n_free = cut->n_free;
	int err;

	cut->free_slots[cut->n_free++] = CUTTHRU_CUT_SOCKS_MAX - 1;
	cut->free_slots[cut->n_free++] = CUTTHRU_CUT_SOCKS_MAX - 2;
	err = selftest(cut, why, len);
	cut->n_free = n_free;
	return err;
}

void cut_map_fds(const struct cut *cut, int map_fds[CUT_MAPS])
{
	map_fds[0] = bpf_map__fd(cut->skel->maps.cut_socks);
	map_fds[1] = bpf_map__fd(cut->skel->maps.cut_peers);
	map_fds[2] = bpf_map__fd(cut->skel->maps.cut_flows);
	map_fds[3] = bpf_map__fd(cut->skel->maps.cut_events);
	map_fds[4] = bpf_map__fd(cut->skel->maps.cut_counters);
}

/*
 * The verdict that skips bytes TCP received twice, or where the kernel lacks
 * what it needs (bpf_cast_to_kern_ctx, 6.3), the plain one; on the maps of
 * the daemon this one takes over from (map_fds), else on its own.
 */
static struct cut_bpf *load_verdict(const int map_fds[CUT_MAPS], int skip_old)
{
	struct cut_bpf *skel = cut_bpf__open();
	struct bpf_map *maps[CUT_MAPS];
	int i, err = 0;

	if (!skel)
		return NULL;
	maps[0] = skel->maps.cut_socks;
	maps[1] = skel->maps.cut_peers;
	maps[2] = skel->maps.cut_flows;
	maps[3] = skel->maps.cut_events;
	maps[4] = skel->maps.cut_counters;
	for (i = 0; map_fds && i < CUT_MAPS && !err; i++)
		err = bpf_map__reuse_fd(maps[i], map_fds[i]);
	bpf_program__set_autoload(skel->progs.cutthru_cut_verdict, skip_old);
	bpf_program__set_autoload(skel->progs.cutthru_cut_verdict_plain, !skip_old);
	err = err ?: cut_bpf__load(skel);
	if (err) {
		cut_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

/* The self-test's bytes are not traffic: counting starts after it. */
static void zero_counters(struct cut *cut)
{
	int ncpus = libbpf_num_possible_cpus();
	struct cutthru_counter *zeros;
	__u32 r;

	zeros = ncpus > 0 ? calloc((size_t)ncpus, sizeof(*zeros)) : NULL;
	for (r = 0; zeros && r < CUTTHRU_CUT_REASONS; r++)
		bpf_map_update_elem(cut_counters_fd(cut), &r, zeros, BPF_ANY);
	free(zeros);
}

int cut_init(struct cut *cut, char *why, size_t len)
{
	return cut_init_shared(cut, NULL, why, len);
}

int cut_init_shared(struct cut *cut, const int map_fds[CUT_MAPS], char *why, size_t len)
{
	int err;

	memset(cut, 0, sizeof(*cut));
	cut->skel = load_verdict(map_fds, 1);
	cut->no_overlap_skip = !cut->skel;
	if (!cut->skel)
		cut->skel = load_verdict(map_fds, 0);
	if (!cut->skel) {
		err = errno ? -errno : -EINVAL;
		snprintf(why, len, "loading the sk_skb verdict program failed: %s", strerror(-err));
		return err;
	}
	cut->verdict = cut->no_overlap_skip ? cut->skel->progs.cutthru_cut_verdict_plain :
					      cut->skel->progs.cutthru_cut_verdict;
	cut->socks_fd = bpf_map__fd(cut->skel->maps.cut_socks);
	cut->peers_fd = bpf_map__fd(cut->skel->maps.cut_peers);
	err = map_flows(cut) ?: make_slots(cut);
	if (err) {
		snprintf(why, len, "setting up cut-through flow control failed: %s",
			 strerror(-err));
		goto err_destroy;
	}
	cut->events =
		ring_buffer__new(bpf_map__fd(cut->skel->maps.cut_events), on_ring_event, cut, NULL);
	if (!cut->events) {
		err = -errno;
		snprintf(why, len, "opening the cut-through ring buffer failed: %s",
			 strerror(-err));
		goto err_destroy;
	}
	/* On an old daemon's map this replaces its program for sockets added
	 * from now on; those in the map keep theirs: the same code, the same
	 * maps. */
	if (bpf_prog_attach(bpf_program__fd(cut->verdict), cut->socks_fd, BPF_SK_SKB_VERDICT, 0)) {
		err = -errno;
		snprintf(why, len, "kernel lacks the sk_skb verdict hook (BPF_SK_SKB_VERDICT): %s",
			 strerror(-err));
		goto err_destroy;
	}
	err = selftest_on_reserved(cut, why, len);
	if (err)
		goto err_destroy;
	/* An old daemon's counts go on. */
	if (!map_fds)
		zero_counters(cut);
	return 0;

err_destroy:
	cut_close(cut);
	return err;
}

void cut_close(struct cut *cut)
{
	ring_buffer__free(cut->events);
	if (cut->flows)
		munmap(cut->flows, cut->flows_len);
	free(cut->free_slots);
	cut_bpf__destroy(cut->skel);
	memset(cut, 0, sizeof(*cut));
}
