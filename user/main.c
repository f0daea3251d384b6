// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cutthru: subcommands, and the set-up and teardown of "run". */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "cli.h"
#include "conn.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
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
};

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

	(void)events;
	if (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		pr_notice("received signal %u, stopping", si.ssi_signo);
		loop->stop = 1;
	}
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
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
	if (tc < 0 || routing < 0) {
		pr_err("restoring what was removed from under cutthru failed: %s",
		       strerror(-(tc < 0 ? tc : routing)));
		d->failed = 1;
		loop->stop = 1;
		return;
	}
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
		  "table %u",
		  d->cfg.n_ifaces, d->cfg.n_services, data_path_name(d->cfg.data_path),
		  d->cfg.spoof_port ? "spoofed" : "fresh", d->cfg.steer_mark, d->cfg.table);
}

/* The kernel cut-through, if asked for and if it proves itself here;
 * otherwise splice, said in one line. */
static void setup_cut(struct daemon *d)
{
	char why[256];

	if (d->cfg.data_path != DATA_PATH_SOCKMAP)
		return;
	if (cut_init(&d->cut, why, sizeof(why))) {
		pr_warn("sockmap cut-through unavailable, using splice: %s", why);
		d->cfg.data_path = DATA_PATH_SPLICE;
		return;
	}
	d->cut_ready = 1;
	pr_warn("the sockmap data path is experimental: under bulk transfers both ways at once "
		"it has been seen to deliver bytes twice (README, Data paths)");
}

static int run_daemon(struct daemon *d)
{
	char why[256];
	int err;

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
	err = loader_load(&d->loader, &d->cfg);
	if (err)
		goto out_loop;
	setup_cut(d);
	err = proxy_init(&d->proxy, &d->loop, &d->cfg, loader_quads_fd(&d->loader),
			 d->cut_ready ? &d->cut : NULL);
	err = err ?: setup_signals(d) ?: open_listeners(d);
	if (err)
		goto out_proxy;
	err = routing_install(&d->cfg);
	d->routing_installed = 1;
	if (err)
		goto out_routing;
	err = attach_interfaces(d) ?: setup_watchdog(d);
	if (err)
		goto out_detach;

	log_ready(d);
	err = loop_run(&d->loop);
	if (err)
		pr_err("event loop failed: %s", strerror(-err));
	else if (d->failed)
		err = -EIO;
	/* Stop accepting and reset what is open before the programs go, so no
	 * packet of a live connection is forwarded to a server that never
	 * knew it. */
	proxy_shutdown(&d->proxy);

out_detach:
	loader_detach_all(&d->loader);
out_routing:
	routing_remove(&d->cfg);
out_proxy:
	proxy_shutdown(&d->proxy);
	if (d->cut_ready)
		cut_close(&d->cut);
	loader_close(&d->loader);
out_loop:
	loop_close(&d->loop);
	return err;
}

static int cmd_run(int argc, char **argv)
{
	static struct daemon d;
	char err_text[256];
	int err;

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

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
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
