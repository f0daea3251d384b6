// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cutthru: subcommands, and the set-up and teardown of "run". */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "cli.h"
#include "control.h"
#include "conn.h"
#include "config.h"
#include "handover.h"
#include "loader.h"
#include "pin.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "privs.h"
#include "report.h"
#include "routing.h"

#ifndef CUTTHRU_VERSION
#define CUTTHRU_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

struct daemon {
	struct config cfg;
	struct loader loader;
	struct loop loop;
	struct proxy proxy;
	struct cut cut;
	int cut_ready;
	struct io signals;
	struct io watchdog; /* a timerfd: are filters, rules, routes still there? */
	int routing_installed;
	int failed; /* stopped by an error found while running */
	int argc; /* run's arguments, parsed again at each reload */
	char **argv;
	struct control control;
	struct report report;
	struct metrics metrics;
	/* Zero-downtime restart (handover.h). Old side: the new daemon asking
	 * (ho_peer), and whether it now owns everything; new side: the
	 * channel to the old one and what it said. */
	struct io ho_peer;
	int handed_over;
	int takeover_fd;
	struct handover_msg hello;
	uint32_t ho_kept; /* connections the old one still inspects */
	uint64_t ho_started_ms;
	uint32_t ho_adopted;
};

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

static int reload(struct daemon *d, char *msg, size_t len);
static void on_takeover(void *ctx, int fd, const char *version);

/* Raise the soft fd limit to the hard one: each connection costs two. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		pr_warn("raising the fd limit failed: %s", strerror(errno));
	else
		pr_debug("fd limit: %llu", (unsigned long long)rl.rlim_cur);
}

static void on_signal(struct loop *loop, struct io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	struct daemon *d = io->ctx;
	char msg[4096];

	(void)events;
	if (read(io->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		reload(d, msg, sizeof(msg));
		return;
	}
	notify_stopping();
	pr_notice("received signal %u, stopping", si.ssi_signo);
	loop->stop = 1;
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	return io_add(&d->loop, &d->signals, fd, EPOLLIN, on_signal, d);
}

/*
 * Someone may delete the qdisc, the rule or the route while cutthru runs;
 * the protected servers would then be reachable around it. Each second,
 * whatever is missing is put back and said; if that fails, cutthru stops
 * with an error rather than go on open.
 */
static void on_watchdog(struct loop *loop, struct io *io, uint32_t events)
{
	struct daemon *d = io->ctx;
	uint64_t ticks;
	int tc, routing;

	(void)events;
	if (read(io->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	tc = loader_ensure_attached(&d->loader);
	routing = routing_ensure(&d->cfg);
	if (loader_ensure_xdp(&d->loader) > 0)
		pr_warn("the XDP prefilter was removed by someone else: restored");
	if (tc < 0 || routing < 0) {
		pr_err("restoring what was removed from under cutthru failed: %s",
		       strerror(-(tc < 0 ? tc : routing)));
		d->failed = 1;
		loop->stop = 1;
		return;
	}
	metrics_tick(&d->metrics);
	if (tc)
		pr_warn("the TC filter was removed from %d interface(s) by someone else: restored",
			tc);
	if (routing)
		pr_warn("%d of cutthru's rules, routes or nftables table were removed by someone "
			"else: restored",
			routing);
}

static int setup_watchdog(struct daemon *d)
{
	struct itimerspec every_second = { .it_interval.tv_sec = 1, .it_value.tv_sec = 1 };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &every_second, NULL)) {
		close(fd);
		return -errno;
	}
	return io_add(&d->loop, &d->watchdog, fd, EPOLLIN, on_watchdog, d);
}

static int open_listeners(struct daemon *d)
{
	static const int families[] = { AF_INET, AF_INET6 };
	size_t i;
	int fd, err;

	for (i = 0; i < 2; i++) {
		fd = proxy_listen(&d->proxy, families[i]);
		if (fd < 0) {
			pr_err("opening the transparent %s listener failed: %s",
			       families[i] == AF_INET ? "IPv4" : "IPv6", strerror(-fd));
			return fd;
		}
		err = loader_set_listener(&d->loader, (int)i, fd);
		if (err) {
			pr_err("putting the listener into the sockmap failed: %s", strerror(-err));
			return err;
		}
	}
	return 0;
}

static int attach_interfaces(struct daemon *d)
{
	char why[128];
	int i, err;

	err = loader_attach_netns(&d->loader);
	if (err) {
		pr_err("attaching the listener lookup to the network namespace failed: %s",
		       strerror(-err));
		return err;
	}
	for (i = 0; i < d->cfg.n_ifaces; i++) {
		err = loader_attach(&d->loader, d->cfg.ifaces[i], why, sizeof(why));
		if (err) {
			pr_err("attaching to interface %s failed: %s", d->cfg.ifaces[i], why);
			return err;
		}
	}
	for (i = 0; d->cfg.xdp_mode != XDP_MODE_OFF && i < d->cfg.n_ifaces; i++) {
		err = loader_attach_xdp(&d->loader, d->cfg.ifaces[i], d->cfg.xdp_mode, why,
					sizeof(why));
		if (err) {
			pr_err("attaching the XDP prefilter to interface %s failed: %s",
			       d->cfg.ifaces[i], why);
			return err;
		}
	}
	return 0;
}

static void log_ready(const struct daemon *d)
{
	char svc[ENDPOINT_STRLEN + 8], pfx[INET6_ADDRSTRLEN + 8];
	int i;

	for (i = 0; i < d->cfg.n_services; i++) {
		const struct endpoint_prefix *s = &d->cfg.services[i];

		prefix_str(&s->prefix, pfx, sizeof(pfx));
		snprintf(svc, sizeof(svc), s->prefix.family == AF_INET6 ? "[%s]:%u" : "%s:%u", pfx,
			 s->port);
		pr_info("protecting %s", svc);
	}
	pr_notice("ready: %d interface(s), %d service(s), data path %s, %s port, mark 0x%x, "
		  "table %u, xdp %s",
		  d->cfg.n_ifaces, d->cfg.n_services, data_path_name(d->cfg.data_path),
		  d->cfg.spoof_port ? "spoofed" : "fresh", d->cfg.steer_mark, d->cfg.table,
		  xdp_mode_name(d->cfg.xdp_mode));
	notify_ready("serving");
}

static int wants_sockmap(const struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->n_services; i++)
		if (cfg->policies[i].data_path == DATA_PATH_SOCKMAP)
			return 1;
	return cfg->data_path == DATA_PATH_SOCKMAP;
}

/* The kernel cut-through, if asked for and if it proves itself here;
 * otherwise splice, said in one line. */
static void setup_cut(struct daemon *d, const struct config *cfg)
{
	char why[256];

	if (d->cut_ready || !wants_sockmap(cfg))
		return;
	if (cut_init_shared(&d->cut, NULL, why, sizeof(why))) {
		pr_warn("sockmap cut-through unavailable, using splice: %s", why);
		d->cfg.data_path = DATA_PATH_SPLICE;
		return;
	}
	d->cut_ready = 1;
	if (d->cut.no_overlap_skip)
		pr_warn("the sockmap data path is experimental, and this kernel (before 6.3) "
			"lets it pass on twice the old bytes of a retransmission (README, Data paths)");
	else
		pr_warn("the sockmap data path is experimental (README, Data paths)");
}

/* What a reload cannot change without stopping what it set up. */
static int restart_only(const struct config *old, const struct config *new, char *msg, size_t len)
{
	const char *what = NULL;
	int i;

	if (old->n_ifaces != new->n_ifaces)
		what = "interfaces";
	for (i = 0; !what && i < old->n_ifaces; i++)
		if (strcmp(old->ifaces[i], new->ifaces[i]))
			what = "interfaces";
	if (!what && (old->steer_mark != new->steer_mark || old->table != new->table ||
		      old->rule_priority != new->rule_priority))
		what = "mark, table or rule-priority";
	if (!what && (strcmp(old->instance, new->instance) || strcmp(old->bpffs, new->bpffs)))
		what = "instance or bpffs";
	if (!what && old->xdp_mode != new->xdp_mode)
		what = "xdp";
	if (!what && (strcmp(old->metrics, new->metrics) || strcmp(old->user, new->user) ||
		      strcmp(old->access_log, new->access_log)))
		what = "metrics, user or access-log";
	if (!what)
		return 0;
	snprintf(msg, len, "%s changed: that needs a restart", what);
	return -EINVAL;
}

/*
 * SIGHUP or "cutthru reload": the config file and the flags again, as one
 * new configuration; applied whole (BPF maps by one generation switch,
 * the daemon by one pointer) or not at all, the old one staying.
 */
static int reload(struct daemon *d, char *msg, size_t len)
{
	struct config *cfg = malloc(sizeof(*cfg));
	struct live_config *lc = NULL;
	int err;

	if (!cfg) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	notify_reloading();
	err = cli_parse_run(d->argc, d->argv, cfg, msg, len);
	err = err ?: restart_only(&d->cfg, cfg, msg, len);
	if (!err) {
		lc = live_config_new(cfg, msg, len);
		err = lc ? 0 : -EINVAL;
	}
	if (!err) {
		setup_cut(d, cfg);
		if (d->cut_ready && !d->proxy.cut)
			err = proxy_set_cut(&d->proxy, &d->cut);
		err = err ?: proxy_prepare(&d->proxy, cfg);
		if (err)
			snprintf(msg, len, "%s", strerror(-err));
	}
	if (!err) {
		err = loader_apply_policy(&d->loader, cfg);
		if (err)
			snprintf(msg, len, "updating the BPF policy maps: %s", strerror(-err));
	}
	if (err) {
		pr_err("reload refused, the running configuration stays: %s", msg);
		notify_reloaded("reload refused");
		live_config_put(lc);
		free(cfg);
		return err;
	}
	proxy_use(&d->proxy, lc);
	d->cfg = *cfg;
	free(cfg);
	snprintf(msg, len, "reloaded: %d service(s)", d->cfg.n_services);
	pr_notice("%s", msg);
	notify_reloaded(msg);
	return 0;
}

static int on_control(void *ctx, const char *command, int json, FILE *out)
{
	struct daemon *d = ctx;
	char msg[4096];
	int err;

	if (!strcmp(command, "status"))
		return report_status(&d->report, json, out);
	if (!strcmp(command, "conns"))
		return report_conns(&d->report, json, out);
	if (!strcmp(command, "stats"))
		return report_stats(&d->report, json, out);
	if (!strcmp(command, "reload")) {
		err = reload(d, msg, sizeof(msg));
		fprintf(out, "%s\n", msg);
		return err;
	}
	fprintf(out, "unknown command '%s'\n", command);
	return -EINVAL;
}

static int open_control(struct daemon *d)
{
	int err;

	d->control.handle = on_control;
	d->control.takeover = on_takeover;
	d->control.ctx = d;
	d->report.proxy = &d->proxy;
	d->report.started_ms = now_ms();
	err = control_open(&d->control, &d->loop, d->cfg.instance);
	if (err == -EADDRINUSE)
		pr_err("another cutthru of instance '%s' is running (its control socket answers)",
		       d->cfg.instance);
	else if (err)
		pr_err("opening the control socket %s/%s.sock failed: %s", CONTROL_DIR,
		       d->cfg.instance, strerror(-err));
	return err;
}

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
	if (err) {
		handover_keep_conns(&d->proxy);
		proxy_accepting(&d->proxy, 1);
		pr_err("takeover by pid %u failed (%s%s%s): still serving everything", peer,
		       strerror(-err), msg.type == HO_ABORT && msg.data ? ": " : "",
		       msg.type == HO_ABORT && msg.data ? (char *)msg.data : "");
		handover_msg_free(&msg);
		close(fd);
		return;
	}
	handover_msg_free(&msg);
	let_go(d);
	pr_notice("handed the listeners and %u connection(s) to pid %u in %llu ms", end.sent, peer,
		  (unsigned long long)(now_ms() - t0));
	if (!end.kept) {
		handover_send(fd, HO_END, NULL, 0, NULL, 0);
		close(fd);
		d->loop.stop = 1;
		return;
	}
	pr_notice("finishing the inspection of %u connection(s), then exiting", end.kept);
	d->proxy.handover_fd = fd;
	d->proxy.draining = 1;
	d->proxy.drain_deadline_ms = now_ms() + DRAIN_MAX_MS;
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

static void on_takeover(void *ctx, int fd, const char *version)
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

/* Returns 1 when no daemon of this instance runs, 0 when one will hand
 * over (d->takeover_fd, d->hello), or -errno. */
static int takeover_begin(struct daemon *d)
{
	const struct handover_hello *h;
	const char *what;
	char why[256];
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
	err = handover_channel_setup(fd);
	if (!err && peer_refused(fd))
		err = -EPROTONOSUPPORT;
	else if (!err)
		err = expect(fd, HO_HELLO, &d->hello);
	if (!err &&
	    (d->hello.len < sizeof(*h) || (d->hello.n_fds != 0 && d->hello.n_fds != CUT_MAPS)))
		err = -EPROTO;
	if (err) {
		if (err != -EPROTONOSUPPORT)
			pr_err("taking over from the running daemon failed: %s",
			       err == -EPROTO ? "it answered something else than a hello" :
						strerror(-err));
		close(fd);
		return err;
	}
	h = (const struct handover_hello *)d->hello.data;
	what = hello_mismatch(d, h);
	if (what) {
		snprintf(why, sizeof(why),
			 "%s differ from the running daemon's (pid %u): a takeover keeps "
			 "interfaces, mark, table, rule-priority and bpffs; stop it and start "
			 "afresh to change them",
			 what, h->pid);
		pr_err("taking over refused: %s", why);
		handover_abort(fd, why);
		close(fd);
		return -EINVAL;
	}
	d->takeover_fd = fd;
	pr_notice("taking over from the running daemon (pid %u, %u connection(s))", h->pid,
		  h->n_conns);
	return 0;
}

/* The old daemon's sockmap maps, when it has them: its cut connections
 * stay in them. Whatever the configuration asks, they need serving. */
static int takeover_cut(struct daemon *d)
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

static int adopt_listeners(struct daemon *d, struct handover_msg *msg)
{
	struct ho_listeners l;
	int i, n = 0, fd, err = 0;

	if (msg->len < sizeof(l))
		return -EPROTO;
	memcpy(&l, msg->data, sizeof(l));
	d->proxy.stats = l.stats;
	d->proxy.stats.active = 0;
	d->proxy.next_id = l.next_id;
	for (i = 0; i < CUTTHRU_LISTENER_SLOTS && !err; i++) {
		if (!l.has[i])
			continue;
		if (n >= msg->n_fds)
			return -EPROTO;
		fd = msg->fds[n];
		msg->fds[n++] = -1;
		/* Into our sockmap before our filter replaces the old one: a SYN
		 * finds this listener whichever program sees it. */
		err = loader_set_listener(&d->loader, i, fd) ?:
							       proxy_adopt_listener(&d->proxy, i, fd);
		if (err)
			close(fd);
	}
	if (!err && l.has_control && n < msg->n_fds) {
		fd = msg->fds[n];
		msg->fds[n++] = -1;
		err = control_adopt(&d->control, &d->loop, d->cfg.instance, fd);
		if (err)
			close(fd);
	}
	if (!err && d->cfg.metrics[0]) {
		fd = l.has_metrics && n < msg->n_fds ? msg->fds[n] : -1;
		if (fd >= 0)
			msg->fds[n++] = -1;
		err = metrics_start_fd(&d->metrics, &d->loop, d->cfg.metrics, &d->report, fd);
	}
	return err;
}

/* GO, then the listeners and every connection the old daemon hands over;
 * nothing of it is served before the commit. */
static int takeover_receive(struct daemon *d, char *why, size_t len)
{
	int fd = d->takeover_fd;
	struct handover_msg msg = { 0 };
	struct ho_end_batch end;
	uint32_t me = (uint32_t)getpid();
	uint8_t *used = calloc(CUTTHRU_CUT_SOCKS_MAX, 1);
	int err;

	d->control.handle = on_control;
	d->control.takeover = on_takeover;
	d->control.ctx = d;
	d->report.proxy = &d->proxy;
	d->report.started_ms = now_ms();
	err = used ? handover_send(fd, HO_GO, &me, sizeof(me), NULL, 0) : -ENOMEM;
	err = err ?: expect(fd, HO_LISTENERS, &msg);
	err = err ?: adopt_listeners(d, &msg);
	while (!err) {
		handover_msg_free(&msg);
		err = handover_recv(fd, &msg);
		if (err || msg.type != HO_CONNS)
			break;
		err = handover_adopt_conns(&d->proxy, &msg, used, why, len);
		if (err)
			return err;
	}
	if (!err && (msg.type != HO_END_BATCH || msg.len < sizeof(end)))
		err = -EPROTO;
	if (!err) {
		memcpy(&end, msg.data, sizeof(end));
		d->ho_kept = end.kept;
		d->ho_adopted = end.sent;
		if (d->cut_ready)
			cut_claim_slots(&d->cut, used);
	}
	if (err)
		snprintf(why, len, "%s", strerror(-err));
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

static int takeover_commit(struct daemon *d)
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
static void takeover_abandon(struct daemon *d, const char *why)
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

/* Everything that needed more than CAP_NET_ADMIN is done: keep only what
 * the watchdog and the server legs need (privs.c), as --user if asked. */
static int drop_privileges(struct daemon *d)
{
	char why[512];
	int err;

	err = privs_drop(d->cfg.user[0] ? d->cfg.user : NULL, why, sizeof(why));
	if (err)
		pr_err("dropping privileges failed: %s", why);
	return err;
}

static int open_metrics(struct daemon *d)
{
	int err = metrics_start(&d->metrics, &d->loop, d->cfg.metrics, &d->report);

	if (err)
		pr_err("serving metrics on %s failed: %s", d->cfg.metrics, strerror(-err));
	return err;
}

/* The listeners, control socket and metrics: opened here, or taken over
 * from a running daemon with every connection it holds. */
static int open_or_take(struct daemon *d, char *why, size_t len)
{
	if (d->takeover_fd < 0)
		return open_control(d) ?: open_metrics(d) ?: open_listeners(d);
	return takeover_receive(d, why, len);
}

/* A takeover adds what is missing and never removes what the old daemon
 * installed: a moment without the rule would drop steered packets. */
static int install_routing(struct daemon *d)
{
	int err;

	if (d->takeover_fd < 0)
		return routing_install(&d->cfg);
	err = routing_ensure(&d->cfg);
	return err < 0 ? err : 0;
}

static int run_daemon(struct daemon *d)
{
	struct proxy_maps maps;
	char why[256] = "";
	int err, taking;

	d->ho_peer.fd = -1;
	d->control.listener.fd = -1;
	if (geteuid() != 0) {
		pr_err("cutthru run needs root (CAP_BPF, CAP_NET_ADMIN)");
		return -EPERM;
	}
	err = loader_probe(why, sizeof(why));
	if (err) {
		pr_err("%s", why);
		return err;
	}
	raise_fd_limit();
	err = loop_init(&d->loop);
	if (err)
		return err;
	err = takeover_begin(d);
	if (err < 0)
		goto out_loop;
	taking = !err;
	err = loader_load(&d->loader, &d->cfg);
	err = err ?: (taking ? takeover_cut(d) : 0);
	if (err) {
		if (taking)
			takeover_abandon(d, "setting up the BPF programs failed");
		goto out_loop;
	}
	setup_cut(d, &d->cfg);
	loader_proxy_maps(&d->loader, &maps);
	d->report.counters_fd = maps.counters_fd;
	d->report.xdp_counters_fd = maps.xdp_counters_fd;
	err = proxy_init(&d->proxy, &d->loop, &d->cfg, &maps, d->cut_ready ? &d->cut : NULL);
	err = err ?: setup_signals(d) ?: open_or_take(d, why, sizeof(why));
	if (err)
		goto out_proxy;
	err = install_routing(d);
	d->routing_installed = !taking;
	if (err)
		goto out_routing;
	err = attach_interfaces(d)	 ?:
		      setup_watchdog(d)	 ?:
		      drop_privileges(d) ?:
					   proxy_start_workers(&d->proxy);
	err = err ?: (taking ? takeover_commit(d) : 0);
	if (err)
		goto out_detach;
	d->routing_installed = 1;

	log_ready(d);
	err = loop_run(&d->loop);
	if (err)
		pr_err("event loop failed: %s", strerror(-err));
	else if (d->failed)
		err = -EIO;
	if (d->handed_over) {
		/* The new daemon owns the filter, routes, pins and quads. */
		if (d->proxy.handover_fd >= 0)
			handover_send(d->proxy.handover_fd, HO_END, NULL, 0, NULL, 0);
		d->loader.n_att = 0;
		d->routing_installed = 0;
	}
	/* Stop accepting and reset what is open before the programs go, so no
	 * packet of a live connection is forwarded to a server that never
	 * knew it. */
	proxy_shutdown(&d->proxy);

out_detach:
	if (d->takeover_fd >= 0)
		takeover_abandon(d, why[0] ? why : strerror(-err));
	loader_detach_all(&d->loader);
out_routing:
	if (d->routing_installed)
		routing_remove(&d->cfg);
out_proxy:
	if (d->takeover_fd >= 0)
		takeover_abandon(d, why[0] ? why : strerror(-err));
	metrics_stop(&d->metrics, &d->loop);
	control_close(&d->control);
	proxy_shutdown(&d->proxy);
	if (d->cut_ready)
		cut_close(&d->cut);
	loader_close(&d->loader);
out_loop:
	handover_msg_free(&d->hello);
	loop_close(&d->loop);
	return err;
}

static int cmd_run(int argc, char **argv)
{
	static struct daemon d;
	char err_text[4096];
	int err;

	d.argc = argc;
	d.argv = argv;
	err = cli_parse_run(argc, argv, &d.cfg, err_text, sizeof(err_text));
	if (err == 1) {
		cli_usage(stdout);
		return 0;
	}
	if (err) {
		fprintf(stderr, "cutthru: %s (see cutthru --help)\n", err_text);
		return EXIT_USAGE;
	}
	if (d.cfg.quiet)
		log_set_level(LOG_LVL_NOTICE);
	if (d.cfg.verbose)
		log_set_level(LOG_LVL_DEBUG);
	return run_daemon(&d) ? 1 : 0;
}

/* Validates a config file as run --config would read it, users files
 * included; every error as FILE:LINE: what. */
static int cmd_check_config(int argc, char **argv)
{
	static struct config cfg;
	struct live_config *lc;
	char *args[] = { "run", "--config", NULL, NULL };
	static char msg[8192];

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: cutthru check-config FILE\n");
		return EXIT_USAGE;
	}
	args[2] = argv[1];
	if (cli_parse_run(3, args, &cfg, msg, sizeof(msg))) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	lc = live_config_new(&cfg, msg, sizeof(msg));
	if (!lc) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	live_config_put(lc);
	printf("%s: ok (%d interface(s), %d service(s))\n", argv[1], cfg.n_ifaces, cfg.n_services);
	return 0;
}

/* reload, status, conns, stats [--json] [--instance NAME]: ask the daemon. */
static int cmd_control(int argc, char **argv)
{
	const char *instance = DEFAULT_INSTANCE;
	int i, json = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--instance") && i + 1 < argc &&
			   valid_instance_name(argv[i + 1])) {
			instance = argv[++i];
		} else {
			fprintf(stderr, "usage: cutthru %s [--json] [--instance NAME]\n", argv[0]);
			return EXIT_USAGE;
		}
	}
	return control_request(instance, argv[0], json);
}

/* What a run leaves on purpose when killed (fail closed), removed by hand:
 * the TC filters of this namespace, the rules, routes and nftables table,
 * the pinned maps and the control socket. */
static int cmd_detach(int argc, char **argv)
{
	static struct config cfg;
	char dir[384], msg[4096], sock[160];
	int i, filters, xdp, pins, err = 0;

	config_defaults(&cfg);
	for (i = 1; i < argc && !err; i++) {
		if (i + 1 >= argc || strncmp(argv[i], "--", 2)) {
			err = -EINVAL;
		} else if (!strcmp(argv[i], "--config")) {
			err = config_file_load(argv[++i], &cfg, msg, sizeof(msg));
			if (err)
				fprintf(stderr, "%s\n", msg);
		} else {
			err = cli_apply(&cfg, argv[i] + 2, argv[i + 1]);
			i++;
		}
	}
	if (err) {
		fprintf(stderr,
			"usage: cutthru detach [--instance NAME] [--config FILE] [--bpffs DIR] "
			"[--mark M] [--table N] [--rule-priority P]\n");
		return EXIT_USAGE;
	}
	if (control_request_quiet(cfg.instance) == 0) {
		fprintf(stderr, "cutthru: a daemon of instance '%s' is running: stop it instead\n",
			cfg.instance);
		return 1;
	}
	filters = loader_detach_stale();
	xdp = loader_detach_stale_xdp();
	routing_remove(&cfg);
	pins = pin_dir(cfg.bpffs, cfg.instance, dir, sizeof(dir)) ? 0 : pin_remove(dir);
	snprintf(sock, sizeof(sock), "%s/%s.sock", CONTROL_DIR, cfg.instance);
	unlink(sock);
	printf("detached: TC filter removed from %d interface(s), XDP prefilter from %d, rules, "
	       "routes and nftables table removed, %d pinned map(s) removed from %s\n",
	       filters < 0 ? 0 : filters, xdp < 0 ? 0 : xdp, pins < 0 ? 0 : pins, dir);
	return filters < 0 || xdp < 0 || pins < 0;
}

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },	   { "check-config", cmd_check_config },
	{ "reload", cmd_control }, { "status", cmd_control },
	{ "conns", cmd_control },  { "stats", cmd_control },
	{ "detach", cmd_detach },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("cutthru %s\n", CUTTHRU_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "cutthru: unknown command '%s' (see cutthru --help)\n", argv[1]);
	return EXIT_USAGE;
}
