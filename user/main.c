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
#include "config.h"
#include "daemon.h"
#include "pin.h"
#include "log.h"
#include "notify.h"
#include "privs.h"
#include "routing.h"
#include "takeover.h"

#ifndef CUTTHRU_VERSION
#define CUTTHRU_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

/* main()'s arguments: a restart in place runs the binary with them again. */
static char **program_argv;

static int reload(struct daemon *d, char *msg, size_t len);
static int restart_in_place(struct daemon *d, char *msg, size_t len);

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
	if (si.ssi_signo == SIGUSR2) {
		restart_in_place(d, msg, sizeof(msg));
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
	sigaddset(&set, SIGUSR2);
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
	if (d->took_over)
		notify_ready_as_main("serving");
	else
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

/*
 * SIGUSR2 or "cutthru restart": the binary again, with the same arguments,
 * started by the helper that kept the privileges to do so (restart.h); it
 * takes over from this daemon as any second "run" would.
 */
static int restart_in_place(struct daemon *d, char *msg, size_t len)
{
	pid_t pid;
	int err;

	if (d->ho_peer.fd >= 0 || d->handed_over) {
		snprintf(msg, len, "restart refused: a takeover is under way");
		pr_err("%s", msg);
		return -EBUSY;
	}
	err = restarter_request(&d->restarter, &pid);
	if (err) {
		snprintf(msg, len, "restart failed: starting %s: %s",
			 program_argv ? program_argv[0] : "cutthru", strerror(-err));
		pr_err("%s", msg);
		return err;
	}
	snprintf(msg, len, "restarting: pid %d takes over from pid %d", (int)pid, (int)getpid());
	pr_notice("%s", msg);
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
	if (!strcmp(command, "restart")) {
		err = restart_in_place(d, msg, sizeof(msg));
		fprintf(out, "%s\n", msg);
		return err;
	}
	fprintf(out, "unknown command '%s'\n", command);
	return -EINVAL;
}

/* What the control socket answers, whether opened here or taken over. */
static void wire_control(struct daemon *d)
{
	d->control.handle = on_control;
	d->control.takeover = takeover_on_request;
	d->control.ctx = d;
	d->report.proxy = &d->proxy;
	d->report.started_ms = now_ms();
}

static int open_control(struct daemon *d)
{
	int err;

	err = control_open(&d->control, &d->loop, d->cfg.instance);
	if (err == -EADDRINUSE)
		pr_err("another cutthru of instance '%s' is running (its control socket answers)",
		       d->cfg.instance);
	else if (err)
		pr_err("opening the control socket %s/%s.sock failed: %s", CONTROL_DIR,
		       d->cfg.instance, strerror(-err));
	return err;
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
	wire_control(d);
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
	/* Before anything is loaded, opened or dropped (restart.h). */
	err = restarter_start(&d->restarter, program_argv);
	if (err)
		pr_warn("restart in place unavailable: starting its helper failed: %s",
			strerror(-err));
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
	takeover_leave(d);
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
	restarter_stop(&d->restarter);
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

/* reload, restart, status, conns, stats [--json] [--instance NAME]: ask the
 * daemon. */
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
	{ "run", cmd_run },	    { "check-config", cmd_check_config },
	{ "reload", cmd_control },  { "status", cmd_control },
	{ "conns", cmd_control },   { "stats", cmd_control },
	{ "restart", cmd_control }, { "detach", cmd_detach },
};

int main(int argc, char **argv)
{
	size_t i;

	program_argv = argv;
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
