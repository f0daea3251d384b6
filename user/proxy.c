// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The daemon's listeners, accept, the connect timers and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "conn.h"
#include "log.h"

#define ACCEPT_BATCH 64
#define LISTEN_BACKLOG 4096
/* A cut connection whose FIN waits for bytes still inside the kernel is
 * looked at again this often (sockmap tells nobody when it has sent). */
#define FLUSH_POLL_MS 2
#define IDLE_PIPES_MAX 256
/* What a bulk flow's pipe grows to (bench/: 1 MiB halves the CPU per byte
 * of 64 KiB), unless fs.pipe-max-size is lower: beyond it, growing needs
 * CAP_SYS_RESOURCE, which the daemon does not keep. */
#define PIPE_GROW_MAX (1u << 20)

static unsigned long read_proc_ulong(const char *path, unsigned long fallback)
{
	unsigned long v;
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return fallback;
	ok = fscanf(f, "%lu", &v) == 1;
	fclose(f);
	return ok ? v : fallback;
}

static size_t pipe_grow_to(void)
{
	unsigned long max = read_proc_ulong("/proc/sys/fs/pipe-max-size", PIPE_GROW_MAX);

	return max < PIPE_GROW_MAX ? max : PIPE_GROW_MAX;
}

/* Half of what fs.pipe-user-pages-soft lets the daemon's user have in
 * pipes (0: no limit): the other half stays for new connections' pipes
 * and everything else the user runs. */
static size_t pipe_grow_budget(void)
{
	unsigned long pages = read_proc_ulong("/proc/sys/fs/pipe-user-pages-soft", 16384);

	return pages ? pages / 2 * (size_t)sysconf(_SC_PAGESIZE) : SIZE_MAX;
}

/*
 * Out of fds: accept() keeps failing and the listener stays readable. Give
 * up the spare fd, take the connection off the queue, reset it, and take
 * the spare back, so the client hears "no" at once instead of retrying SYNs.
 */
static void shed_connection(struct proxy *p, int listen_fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd;

	p->stats.refused_no_fds++;
	if (p->spare_fd >= 0) {
		close(p->spare_fd);
		p->spare_fd = -1;
	}
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pr_warn("out of file descriptors: refused a connection");
}

static void on_listener(struct loop *loop, struct io *io, uint32_t events)
{
	struct proxy *p = io->ctx;
	struct sockaddr_storage peer;
	socklen_t len;
	int i, fd;

	(void)loop;
	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof(peer);
		fd = accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_accepted(p, fd, &peer);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			shed_connection(p, io->fd);
			continue;
		}
		if (errno != EAGAIN)
			pr_warn("accept: %s", strerror(errno));
		break;
	}
}

static void free_closed(struct proxy *p)
{
	struct conn *c;

	while (!list_empty(&p->closed)) {
		c = container_of(p->closed.next, struct conn, link);
		list_del(&c->link);
		conn_free(c);
	}
}

static void poll_cut(struct proxy *p)
{
	struct list_node *node, *next;

	for (node = p->polling.next; node != &p->polling; node = next) {
		next = node->next;
		conn_cut_poll(container_of(node, struct conn, timer_link));
	}
}

/* Fires the due timers of one list; returns the ms until its next one, or
 * -1 when it is empty. */
static int expire(struct list_node *list, uint64_t now, void (*fire)(struct conn *c))
{
	struct conn *c;

	while (!list_empty(list)) {
		c = container_of(list->next, struct conn, timer_link);
		if (c->deadline_ms > now)
			return (int)(c->deadline_ms - now);
		fire(c);
	}
	return -1;
}

static int earliest(int a, int b)
{
	if (a < 0)
		return b;
	return b < 0 || a < b ? a : b;
}

/* Fires due timers and frees closed connections; says how long the loop
 * may sleep. */
static int before_sleep(struct loop *loop, void *ctx)
{
	struct proxy *p = ctx;
	uint64_t now = now_ms();
	int wait;

	free_closed(p);
	poll_cut(p);
	wait = expire(&p->connecting, now, conn_connect_timeout);
	wait = earliest(wait, expire(&p->inspecting, now, inspect_timeout));
	wait = earliest(wait, expire(&p->lingering, now, inspect_linger_timeout));
	wait = earliest(wait, expire(&p->port_waiting, now, conn_port_retry));
	free_closed(p);
	/* Old side of a takeover: done once every connection left or went. */
	if (p->draining && (list_empty(&p->conns) || now >= p->drain_deadline_ms)) {
		loop->stop = 1;
		return 0;
	}
	if (p->draining)
		wait = earliest(wait, (int)(p->drain_deadline_ms - now));
	return list_empty(&p->polling) ? wait : earliest(wait, FLUSH_POLL_MS);
}

static void on_auth_done(struct loop *loop, struct io *io, uint32_t events)
{
	(void)loop;
	(void)events;
	inspect_auth_done(io->ctx);
}

struct live_config *live_config_new(const struct config *cfg, char *err, size_t errlen)
{
	struct live_config *lc = calloc(1, sizeof(*lc));
	char why[512];
	int i;

	if (!lc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lc->cfg = *cfg;
	lc->refs = 1;
	for (i = 0; i < cfg->n_services; i++) {
		const struct service_policy *sp = &cfg->policies[i];

		if (sp->module != AUTH_HTTP_BASIC || !sp->users_file[0])
			continue;
		if (auth_users_load(sp->users_file, &lc->users[i], why, sizeof(why))) {
			snprintf(err, errlen, "users file %s", why);
			live_config_put(lc);
			return NULL;
		}
	}
	return lc;
}

struct live_config *live_config_get(struct live_config *lc)
{
	lc->refs++;
	return lc;
}

void live_config_put(struct live_config *lc)
{
	int i;

	if (!lc || --lc->refs > 0)
		return;
	for (i = 0; i < CONFIG_SERVICES_MAX; i++)
		auth_users_free(lc->users[i]);
	free(lc);
}

static int needs_auth_workers(const struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->n_services; i++)
		if (cfg->policies[i].module == AUTH_HTTP_BASIC)
			return 1;
	return 0;
}

/* The workers that check passwords, once a service needs them. */
static int start_auth(struct proxy *p, const struct config *cfg)
{
	int ret;

	if (p->auth_started || !needs_auth_workers(cfg))
		return 0;
	ret = auth_pool_start(&p->auth);
	if (ret) {
		pr_err("starting the authentication workers: %s", strerror(-ret));
		return ret;
	}
	p->auth_started = 1;
	return io_add(p->loop, &p->auth_done, p->auth.event_fd, EPOLLIN, on_auth_done, p);
}

int proxy_start_workers(struct proxy *p)
{
	return start_auth(p, p->cfg);
}

int proxy_prepare(struct proxy *p, const struct config *cfg)
{
	if (p->auth_started || !needs_auth_workers(cfg))
		return 0;
	return start_auth(p, cfg);
}

void proxy_use(struct proxy *p, struct live_config *lc)
{
	live_config_put(p->live);
	p->live = lc;
	p->cfg = &lc->cfg;
	p->stats.reloads++;
}

static void on_cut_events(struct loop *loop, struct io *io, uint32_t events)
{
	struct proxy *p = io->ctx;

	(void)loop;
	(void)events;
	cut_consume_events(p->cut);
}

int proxy_set_cut(struct proxy *p, struct cut *cut)
{
	p->cut = cut;
	p->flow_conns = calloc(CUTTHRU_CUT_SOCKS_MAX, sizeof(*p->flow_conns));
	if (!p->flow_conns)
		return -ENOMEM;
	p->cut->report = conn_cut_report;
	p->cut->report_ctx = p;
	return io_add(p->loop, &p->cut_events, cut_events_fd(p->cut), EPOLLIN, on_cut_events, p);
}

int proxy_init(struct proxy *p, struct loop *loop, const struct config *cfg,
	       const struct proxy_maps *maps, struct cut *cut)
{
	int i, err;

	char why[512];

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->live = live_config_new(cfg, why, sizeof(why));
	if (!p->live) {
		pr_err("%s", why);
		return -EINVAL;
	}
	p->cfg = &p->live->cfg;
	p->quads_fd = maps->quads_fd;
	p->auth_sources_fd = maps->auth_sources_fd;
	p->auth_failures_fd = maps->auth_failures_fd;
	p->access_log_fd = -1;
	p->handover_fd = -1;
	p->cut = cut;
	list_init(&p->conns);
	list_init(&p->connecting);
	list_init(&p->port_waiting);
	list_init(&p->inspecting);
	list_init(&p->lingering);
	list_init(&p->polling);
	list_init(&p->closed);
	err = access_log_open(p);
	if (err)
		return err;
	err = pipe_pool_init(&p->pipes, IDLE_PIPES_MAX, (int)cfg->buffer_size, pipe_grow_to(),
			     pipe_grow_budget());
	if (err)
		return err;
	if (cut) {
		err = proxy_set_cut(p, cut);
		if (err)
			return err;
	}
	for (i = 0; i < CUTTHRU_LISTENER_SLOTS; i++)
		p->listeners[i].fd = -1;
	p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (p->spare_fd < 0)
		return -errno;
	loop->before_sleep = before_sleep;
	loop->before_sleep_ctx = p;
	return 0;
}

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) ? -errno : 0;
}

/*
 * A transparent listener on loopback and a kernel-chosen port: nobody can
 * reach it by address; connections only arrive through bpf_sk_assign, and
 * then carry the original destination as their local address.
 */
int proxy_listen(struct proxy *p, int family)
{
	int slot = family == AF_INET ? CUTTHRU_LISTENER_INET : CUTTHRU_LISTENER_INET6;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr *sa = family == AF_INET ? (struct sockaddr *)&sin :
						  (struct sockaddr *)&sin6;
	socklen_t salen = family == AF_INET ? sizeof(sin) : sizeof(sin6);
	int fd, err;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET) {
		err = set_int_opt(fd, SOL_IP, IP_TRANSPARENT, 1);
	} else {
		err = set_int_opt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1);
		err = err ?: set_int_opt(fd, SOL_IPV6, IPV6_V6ONLY, 1);
	}
	/* Accepted sockets inherit the mark, so their packets (SYN-ACK on) are
	 * routed normally and exempt from conntrack. */
	err = err ?: set_int_opt(fd, SOL_SOCKET, SO_MARK, (int)p->cfg->sock_mark);
	/* Inherited by every accepted socket: a relay must not add delay. */
	err = err ?: set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (err)
		goto err_close;
	if (bind(fd, sa, salen) || listen(fd, LISTEN_BACKLOG)) {
		err = -errno;
		goto err_close;
	}
	err = io_add(p->loop, &p->listeners[slot], fd, EPOLLIN, on_listener, p);
	if (err)
		goto err_close;
	return fd;

err_close:
	close(fd);
	return err;
}

void proxy_accepting(struct proxy *p, int on)
{
	int i;

	for (i = 0; i < CUTTHRU_LISTENER_SLOTS; i++)
		if (p->listeners[i].fd >= 0)
			io_set(p->loop, &p->listeners[i], on ? EPOLLIN : 0);
}

int proxy_adopt_listener(struct proxy *p, int slot, int fd)
{
	if (slot < 0 || slot >= CUTTHRU_LISTENER_SLOTS)
		return -EINVAL;
	return io_add(p->loop, &p->listeners[slot], fd, EPOLLIN, on_listener, p);
}

void proxy_close_listeners(struct proxy *p)
{
	int i;

	for (i = 0; i < CUTTHRU_LISTENER_SLOTS; i++) {
		if (p->listeners[i].fd < 0)
			continue;
		io_del(p->loop, &p->listeners[i]);
		close(p->listeners[i].fd);
		p->listeners[i].fd = -1;
	}
}

void proxy_shutdown(struct proxy *p)
{
	struct conn *c;

	proxy_close_listeners(p);
	while (!list_empty(&p->conns)) {
		c = container_of(p->conns.next, struct conn, link);
		conn_close(c, CLOSE_SHUTDOWN);
	}
	free_closed(p);
	if (p->spare_fd >= 0)
		close(p->spare_fd);
	p->spare_fd = -1;
	if (p->pipes.idle)
		pipe_pool_free(&p->pipes);
	if (p->cut)
		io_del(p->loop, &p->cut_events);
	free(p->flow_conns);
	p->flow_conns = NULL;
	free(p->cut_move_buf);
	p->cut_move_buf = NULL;
	if (p->handover_fd >= 0)
		close(p->handover_fd);
	p->handover_fd = -1;
	p->draining = 0;
	proxy_free_auth(p);
}

void proxy_free_auth(struct proxy *p)
{
	if (p->auth_started) {
		io_del(p->loop, &p->auth_done);
		auth_pool_stop(&p->auth);
		p->auth_started = 0;
	}
	live_config_put(p->live);
	p->live = NULL;
	p->cfg = NULL;
	if (p->access_log_fd >= 0)
		close(p->access_log_fd);
	p->access_log_fd = -1;
}
