// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Zero-downtime restart, the sequence (the wire and the connections on it
 * are handover.c's). The old daemon answers "takeover" on its control
 * socket (takeover_on_request) and hands everything over once the new one
 * says GO; the new one begins, receives, commits or abandons.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "takeover.h"

/* What LISTENERS carries besides the fds. */
struct ho_listeners {
	uint8_t has[CUTTHRU_LISTENER_SLOTS];
	uint8_t has_control, has_metrics;
	uint64_t next_id;
	struct proxy_stats stats;
};

struct ho_end_batch {
	uint32_t sent, kept;
};

/* How long an old daemon finishes inspections after handing over. */
#define DRAIN_MAX_MS 30000

/* -- zero-downtime restart, the old side ---------------------------------- */

static void hello_fill(const struct daemon *d, struct handover_hello *h, int *fds, int *n_fds)
{
	memset(h, 0, sizeof(*h));
	h->pid = (uint32_t)getpid();
	h->n_ifaces = (uint32_t)d->cfg.n_ifaces;
	memcpy(h->ifaces, d->cfg.ifaces, sizeof(h->ifaces));
	h->steer_mark = d->cfg.steer_mark;
	h->table = d->cfg.table;
	h->rule_priority = d->cfg.rule_priority;
	h->n_conns = (uint32_t)d->proxy.stats.active;
	snprintf(h->bpffs, sizeof(h->bpffs), "%s", d->cfg.bpffs);
	*n_fds = 0;
	if (d->cut_ready) {
		cut_map_fds(&d->cut, fds);
		*n_fds = CUT_MAPS;
		h->cut_maps = CUT_MAPS;
	}
}

static int give_listeners(struct daemon *d, int fd)
{
	struct ho_listeners l = { .next_id = d->proxy.next_id, .stats = d->proxy.stats };
	int fds[CUTTHRU_LISTENER_SLOTS + 2], n = 0, i;

	for (i = 0; i < CUTTHRU_LISTENER_SLOTS; i++) {
		if (d->proxy.listeners[i].fd < 0)
			continue;
		l.has[i] = 1;
		fds[n++] = d->proxy.listeners[i].fd;
	}
	if (control_listen_fd(&d->control) >= 0) {
		l.has_control = 1;
		fds[n++] = control_listen_fd(&d->control);
	}
	if (metrics_listen_fd(&d->metrics) >= 0) {
		l.has_metrics = 1;
		fds[n++] = metrics_listen_fd(&d->metrics);
	}
	return handover_send(fd, HO_LISTENERS, &l, sizeof(l), fds, n);
}

static int expect(int fd, uint16_t type, struct handover_msg *msg)
{
	int err = handover_recv(fd, msg);

	if (!err && msg->type == HO_ABORT)
		return -ECANCELED;
	if (!err && msg->type != type)
		return -EPROTO;
	return err;
}

/* Everything the new daemon now owns is closed here without being torn
 * down: listeners, control socket (its path stays), metrics, watchdog. */
static void let_go(struct daemon *d)
{
	int fd;

	handover_release_conns(&d->proxy);
	proxy_close_listeners(&d->proxy);
	control_release(&d->control);
	fd = metrics_quiesce(&d->metrics);
	if (fd >= 0)
		close(fd);
	metrics_stop(&d->metrics, &d->loop);
	io_del(&d->loop, &d->watchdog);
	close(d->watchdog.fd);
	d->watchdog.fd = -1;
	d->handed_over = 1;
}

/* The takeover failed before COMMITTED: the handed connections are ours
 * again, as the listeners always were. */
static void take_back(struct daemon *d, int fd, uint32_t peer, int err,
		      const struct handover_msg *msg)
{
	const char *said = msg->type == HO_ABORT && msg->data ? (const char *)msg->data : NULL;

	handover_keep_conns(&d->proxy);
	proxy_accepting(&d->proxy, 1);
	pr_err("takeover by pid %u failed (%s%s%s): still serving everything", peer, strerror(-err),
	       said ? ": " : "", said ? said : "");
	close(fd);
}

/* Committed: what is left here is only what is still in inspection. */
static void after_commit(struct daemon *d, int fd, const struct ho_end_batch *end)
{
	if (!end->kept) {
		handover_send(fd, HO_END, NULL, 0, NULL, 0);
		close(fd);
		d->loop.stop = 1;
		return;
	}
	pr_notice("finishing the inspection of %u connection(s), then exiting", end->kept);
	d->proxy.handover_fd = fd;
	d->proxy.draining = 1;
	d->proxy.drain_deadline_ms = now_ms() + DRAIN_MAX_MS;
}

/* Blocking from GO to COMMITTED: the loop does not run meanwhile, so
 * nothing handed over changes under the new daemon. */
static void give_everything(struct daemon *d, int fd, uint32_t peer)
{
	struct ho_end_batch end = { 0 };
	struct handover_msg msg = { 0 };
	uint64_t t0 = now_ms();
	int err;

	proxy_accepting(&d->proxy, 0);
	err = give_listeners(d, fd) ?: handover_send_conns(&d->proxy, fd, &end.sent, &end.kept);
	err = err ?: handover_send(fd, HO_END_BATCH, &end, sizeof(end), NULL, 0);
	err = err ?: expect(fd, HO_COMMIT, &msg);
	err = err ?: handover_send(fd, HO_COMMITTED, NULL, 0, NULL, 0);
	io_del(&d->loop, &d->ho_peer);
	d->ho_peer.fd = -1;
	if (err)
		take_back(d, fd, peer, err, &msg);
	handover_msg_free(&msg);
	if (err)
		return;
	/* Its own helper started it: under systemd, the unit's main process
	 * is the new one from now on (said before this one exits). */
	if (d->restarter.started && (uint32_t)d->restarter.started == peer)
		notify_main_pid((int)peer);
	let_go(d);
	pr_notice("handed the listeners and %u connection(s) to pid %u in %llu ms", end.sent, peer,
		  (unsigned long long)(now_ms() - t0));
	after_commit(d, fd, &end);
}

static void on_takeover_peer(struct loop *loop, struct io *io, uint32_t events)
{
	struct daemon *d = io->ctx;
	struct handover_msg msg;
	uint32_t peer = 0;
	int err, fd = io->fd;

	(void)loop;
	(void)events;
	err = handover_recv(fd, &msg);
	if (!err && msg.type == HO_GO && msg.len >= sizeof(peer)) {
		memcpy(&peer, msg.data, sizeof(peer));
		handover_msg_free(&msg);
		give_everything(d, fd, peer);
		return;
	}
	pr_warn("a new daemon called its takeover off: %s", err ? strerror(-err) :
							    msg.type == HO_ABORT && msg.data ?
								  (char *)msg.data :
								  "?");
	handover_msg_free(&msg);
	io_del(&d->loop, &d->ho_peer);
	d->ho_peer.fd = -1;
	close(fd);
}

static void refuse_takeover(int fd, const char *fmt, const char *arg)
{
	char line[256];

	snprintf(line, sizeof(line), fmt, arg, HANDOVER_VERSION);
	if (write(fd, line, strlen(line)) < 0)
		pr_debug("answering a takeover: %s", strerror(errno));
	pr_err("%s", line + 7);
	close(fd);
}

void takeover_on_request(void *ctx, int fd, const char *version)
{
	struct daemon *d = ctx;
	int fds[CUT_MAPS], n_fds, err;
	struct handover_hello h;

	if (strtol(version, NULL, 10) != HANDOVER_VERSION) {
		refuse_takeover(fd,
				"error: takeover protocol version %s is not spoken here "
				"(this cutthru speaks %d)\n",
				version);
		return;
	}
	if (d->ho_peer.fd >= 0 || d->handed_over) {
		refuse_takeover(fd, "error: another takeover is under way%s (version %d)\n", "");
		return;
	}
	hello_fill(d, &h, fds, &n_fds);
	err = handover_channel_setup(fd) ?: handover_send(fd, HO_HELLO, &h, sizeof(h), fds, n_fds);
	err = err ?: io_add(&d->loop, &d->ho_peer, fd, EPOLLIN, on_takeover_peer, d);
	if (err) {
		pr_err("answering a takeover failed: %s", strerror(-err));
		close(fd);
		d->ho_peer.fd = -1;
	}
}

/* -- zero-downtime restart, the new side ---------------------------------- */

/* A daemon too old to know "takeover" answers with an error line. */
static int peer_refused(int fd)
{
	char buf[512];
	ssize_t n = recv(fd, buf, 7, MSG_PEEK | MSG_WAITALL);

	if (n != 7 || memcmp(buf, "error: ", 7))
		return 0;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pr_err("the running daemon refused the takeover: %s", buf + 7);
	return 1;
}

static const char *hello_mismatch(const struct daemon *d, const struct handover_hello *h)
{
	int i;

	if (h->n_ifaces != (uint32_t)d->cfg.n_ifaces)
		return "interfaces";
	for (i = 0; i < d->cfg.n_ifaces; i++)
		if (strncmp(h->ifaces[i], d->cfg.ifaces[i], IF_NAMESIZE))
			return "interfaces";
	if (h->steer_mark != d->cfg.steer_mark || h->table != d->cfg.table ||
	    h->rule_priority != d->cfg.rule_priority)
		return "mark, table or rule-priority";
	if (strncmp(h->bpffs, d->cfg.bpffs, sizeof(h->bpffs)))
		return "bpffs";
	return NULL;
}

/* The hello, after the version check; -EPROTONOSUPPORT was said already. */
static int read_hello(struct daemon *d, int fd)
{
	int err = handover_channel_setup(fd);

	if (!err && peer_refused(fd))
		return -EPROTONOSUPPORT;
	err = err ?: expect(fd, HO_HELLO, &d->hello);
	if (!err && (d->hello.len < sizeof(struct handover_hello) ||
		     (d->hello.n_fds != 0 && d->hello.n_fds != CUT_MAPS)))
		err = -EPROTO;
	if (err)
		pr_err("taking over from the running daemon failed: %s",
		       err == -EPROTO ? "it answered something else than a hello" : strerror(-err));
	return err;
}

static int refuse_mismatch(int fd, const char *what, uint32_t pid)
{
	char why[256];

	snprintf(why, sizeof(why),
		 "%s differ from the running daemon's (pid %u): a takeover keeps "
		 "interfaces, mark, table, rule-priority and bpffs; stop it and start "
		 "afresh to change them",
		 what, pid);
	pr_err("taking over refused: %s", why);
	handover_abort(fd, why);
	return -EINVAL;
}

/* Returns 1 when no daemon of this instance runs, 0 when one will hand
 * over (d->takeover_fd, d->hello), or -errno. */
int takeover_begin(struct daemon *d)
{
	const struct handover_hello *h;
	const char *what;
	int fd, err;

	d->takeover_fd = -1;
	fd = control_takeover_connect(d->cfg.instance, HANDOVER_VERSION);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return 1;
	if (fd < 0) {
		pr_err("asking the running daemon to hand over failed: %s", strerror(-fd));
		return fd;
	}
	d->ho_started_ms = now_ms();
	err = read_hello(d, fd);
	h = (const struct handover_hello *)d->hello.data;
	what = err ? NULL : hello_mismatch(d, h);
	if (what)
		err = refuse_mismatch(fd, what, h->pid);
	if (err) {
		close(fd);
		return err;
	}
	d->takeover_fd = fd;
	pr_notice("taking over from the running daemon (pid %u, %u connection(s))", h->pid,
		  h->n_conns);
	return 0;
}

/* The old daemon's sockmap maps, when it has them: its cut connections
 * stay in them. Whatever the configuration asks, they need serving. */
int takeover_cut(struct daemon *d)
{
	char why[256];
	int err;

	if (!d->hello.n_fds)
		return 0;
	err = cut_init_shared(&d->cut, d->hello.fds, why, sizeof(why));
	if (err) {
		pr_err("sockmap on the running daemon's maps failed: %s", why);
		return err;
	}
	d->cut_ready = 1;
	return 0;
}

/* The next fd of msg, now ours (-1 when there is none). */
static int next_fd(struct handover_msg *msg, int *n)
{
	int fd;

	if (*n >= msg->n_fds)
		return -1;
	fd = msg->fds[*n];
	msg->fds[(*n)++] = -1;
	return fd;
}

static int adopt_listener_socks(struct daemon *d, const struct ho_listeners *l,
				struct handover_msg *msg, int *n)
{
	int i, fd, err = 0;

	for (i = 0; i < CUTTHRU_LISTENER_SLOTS && !err; i++) {
		if (!l->has[i])
			continue;
		fd = next_fd(msg, n);
		if (fd < 0)
			return -EPROTO;
		/* Into our sockmap before our filter replaces the old one: a SYN
		 * finds this listener whichever program sees it. */
		err = loader_set_listener(&d->loader, i, fd) ?:
							       proxy_adopt_listener(&d->proxy, i, fd);
		if (err)
			close(fd);
	}
	return err;
}

/* The control socket (its path stays bound) and the metrics listener. */
static int adopt_control_metrics(struct daemon *d, const struct ho_listeners *l,
				 struct handover_msg *msg, int *n)
{
	int fd, err = 0;

	fd = l->has_control ? next_fd(msg, n) : -1;
	if (fd >= 0) {
		err = control_adopt(&d->control, &d->loop, d->cfg.instance, fd);
		if (err)
			close(fd);
	}
	if (err || !d->cfg.metrics[0])
		return err;
	fd = l->has_metrics ? next_fd(msg, n) : -1;
	return metrics_start_fd(&d->metrics, &d->loop, d->cfg.metrics, &d->report, fd);
}

static int adopt_listeners(struct daemon *d, struct handover_msg *msg)
{
	struct ho_listeners l;
	int n = 0;

	if (msg->len < sizeof(l))
		return -EPROTO;
	memcpy(&l, msg->data, sizeof(l));
	d->proxy.stats = l.stats;
	d->proxy.stats.active = 0;
	d->proxy.next_id = l.next_id;
	return adopt_listener_socks(d, &l, msg, &n) ?: adopt_control_metrics(d, &l, msg, &n);
}

/* CONNS messages up to END_BATCH (left in msg). */
static int receive_conns(struct daemon *d, struct handover_msg *msg, uint8_t *used, char *why,
			 size_t len)
{
	int err = 0;

	while (!err) {
		handover_msg_free(msg);
		err = handover_recv(d->takeover_fd, msg);
		if (err || msg->type != HO_CONNS)
			break;
		err = handover_adopt_conns(&d->proxy, msg, used, why, len);
		if (err)
			return err;
	}
	if (!err && (msg->type != HO_END_BATCH || msg->len < sizeof(struct ho_end_batch)))
		err = -EPROTO;
	if (err)
		snprintf(why, len, "%s", strerror(-err));
	return err;
}

/* GO, then the listeners and every connection the old daemon hands over;
 * nothing of it is served before the commit. */
int takeover_receive(struct daemon *d, char *why, size_t len)
{
	int fd = d->takeover_fd;
	struct handover_msg msg = { 0 };
	struct ho_end_batch end;
	uint32_t me = (uint32_t)getpid();
	uint8_t *used = calloc(CUTTHRU_CUT_SOCKS_MAX, 1);
	int err;

	err = used ? handover_send(fd, HO_GO, &me, sizeof(me), NULL, 0) : -ENOMEM;
	err = err ?: expect(fd, HO_LISTENERS, &msg);
	err = err ?: adopt_listeners(d, &msg);
	if (err)
		snprintf(why, len, "%s", strerror(-err));
	else
		err = receive_conns(d, &msg, used, why, len);
	if (!err) {
		memcpy(&end, msg.data, sizeof(end));
		d->ho_kept = end.kept;
		d->ho_adopted = end.sent;
		if (d->cut_ready)
			cut_claim_slots(&d->cut, used);
	}
	handover_msg_free(&msg);
	free(used);
	return err;
}

/* Starts serving what was adopted after "from" (the connection list's
 * tail before adopting). */
static void resume_from(struct daemon *d, struct list_node *from)
{
	struct list_node *node = from->next, *next;

	while (node != &d->proxy.conns) {
		next = node->next;
		conn_resume(container_of(node, struct conn, link));
		node = next;
	}
}

static void on_drained(struct loop *loop, struct io *io, uint32_t events)
{
	struct daemon *d = io->ctx;
	struct list_node *tail = d->proxy.conns.prev;
	struct handover_msg msg;
	uint8_t used[1];
	char why[256];
	int err;

	(void)loop;
	(void)events;
	err = handover_recv(io->fd, &msg);
	if (!err && msg.type == HO_CONNS) {
		/* Allowed while the old daemon inspected: not cut yet, so no
		 * flow slot is named. */
		if (handover_adopt_conns(&d->proxy, &msg, used, why, sizeof(why)))
			pr_err("a connection the old daemon finished inspecting: %s", why);
		handover_msg_free(&msg);
		resume_from(d, tail);
		return;
	}
	handover_msg_free(&msg);
	io_del(&d->loop, io);
	close(io->fd);
	io->fd = -1;
}

int takeover_commit(struct daemon *d)
{
	struct handover_msg msg = { 0 };
	int fd = d->takeover_fd, err;

	err = handover_send(fd, HO_COMMIT, NULL, 0, NULL, 0) ?: expect(fd, HO_COMMITTED, &msg);
	handover_msg_free(&msg);
	if (err) {
		pr_err("the running daemon did not confirm the takeover: %s", strerror(-err));
		return err;
	}
	d->takeover_fd = -1; /* everything is ours now */
	d->took_over = 1;
	resume_from(d, &d->proxy.conns);
	pr_notice("took over the listeners and %u connection(s) in %llu ms%s", d->ho_adopted,
		  (unsigned long long)(now_ms() - d->ho_started_ms),
		  d->ho_kept ? "; more follow as the old daemon finishes inspecting them" : "");
	if (d->ho_kept && !io_add(&d->loop, &d->ho_peer, fd, EPOLLIN, on_drained, d))
		return 0;
	close(fd);
	return 0;
}

/* A takeover that failed before the commit: the old daemon keeps
 * everything, so nothing of it is reset, detached or removed here. */
void takeover_abandon(struct daemon *d, const char *why)
{
	struct list_node *node, *next;

	handover_abort(d->takeover_fd, why);
	close(d->takeover_fd);
	d->takeover_fd = -1;
	pr_err("taking over failed, the running daemon goes on: %s", why);
	d->loader.n_att = 0;
	if (!d->proxy.loop)
		return;
	for (node = d->proxy.conns.next; node != &d->proxy.conns; node = next) {
		next = node->next;
		conn_release(container_of(node, struct conn, link));
	}
	proxy_close_listeners(&d->proxy);
	control_release(&d->control);
}

/* After the loop of a daemon that handed over: the new one owns the filter,
 * routes, pins and quads, so run's teardown must leave them. */
void takeover_leave(struct daemon *d)
{
	if (!d->handed_over)
		return;
	if (d->proxy.handover_fd >= 0)
		handover_send(d->proxy.handover_fd, HO_END, NULL, 0, NULL, 0);
	d->loader.n_att = 0;
	d->routing_installed = 0;
}
