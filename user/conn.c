// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "conn.h"
#include "log.h"

static const char *const close_reason_names[CLOSE_REASONS] = {
	[CLOSE_NONE] = "none",
	[CLOSE_DONE] = "done",
	[CLOSE_CLIENT_RESET] = "client-reset",
	[CLOSE_SERVER_RESET] = "server-reset",
	[CLOSE_CONNECT_REFUSED] = "connect-refused",
	[CLOSE_CONNECT_TIMEOUT] = "connect-timeout",
	[CLOSE_CONNECT_FAILED] = "connect-failed",
	[CLOSE_NO_RESOURCES] = "no-resources",
	[CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_FLUSH_TIMEOUT] = "flush-timeout",
	[CLOSE_DENIED] = "denied",
	[CLOSE_REFUSED] = "refused",
	[CLOSE_INSPECT_TIMEOUT] = "inspect-timeout",
	[CLOSE_CLIENT_GONE] = "client-gone",
};

const double duration_bucket_s[DURATION_BUCKETS] = { 0.01, 0.1, 1, 10, 60, 600, 3600, 86400 };

/* What a closed connection adds to the metrics' byte and time counters. */
static void count_closed(struct proxy_stats *st, const struct conn *c)
{
	uint64_t ms = now_ms() - c->started_ms;
	enum data_path path;
	int i;

	if (c->data_path && !data_path_parse(c->data_path, &path)) {
		st->bytes[path][0] += c->client.bytes_rx;
		st->bytes[path][1] += c->server.bytes_rx;
	}
	for (i = 0; i < DURATION_BUCKETS; i++)
		if ((double)ms / 1000 <= duration_bucket_s[i])
			st->duration_le[i]++;
	st->duration_count++;
	st->duration_sum_ms += ms;
}

const char *close_reason_name(enum close_reason reason)
{
	return reason < CLOSE_REASONS ? close_reason_names[reason] : "?";
}

/* Close with RST instead of FIN: SO_LINGER with a zero timeout. */
void close_with_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* close() also takes the fd out of epoll: nothing else holds its file. */
static void leg_close(struct leg *leg, int reset)
{
	if (leg->io.fd < 0)
		return;
	leg->io.events = 0;
	if (reset)
		close_with_reset(leg->io.fd);
	else
		close(leg->io.fd);
	leg->io.fd = -1;
}

/*
 * Ends the connection (figure 9): both fds closed (with RST toward a side
 * when the reason says the other side failed), the quad leaves the quad
 * list, the record is logged. The memory waits for proxy's before-sleep
 * hook, since later events of the same epoll batch may still name it.
 */
void conn_close(struct conn *c, enum close_reason reason)
{
	struct proxy *p = c->proxy;
	/* A denial was answered: let the answer reach the client. */
	int reset = reason != CLOSE_DONE && reason != CLOSE_DENIED;

	if (c->phase == PHASE_CLOSED)
		return;
	c->reason = reason;
	if (c->phase == PHASE_CUT)
		conn_cut_closing(c);
	inspect_free(c);
	leg_close(&c->client, reset);
	leg_close(&c->server, reset);
	bpf_map_delete_elem(p->quads_fd, &c->quad);
	access_log_record(p, c);
	count_closed(&p->stats, c);

	c->phase = PHASE_CLOSED;
	p->stats.closed[reason]++;
	p->stats.active--;
	list_del(&c->timer_link);
	list_del(&c->link);
	list_add_tail(&p->closed, &c->link);
}

static void leg_release(struct proxy *p, struct leg *leg)
{
	if (leg->io.fd < 0)
		return;
	/* The file lives on in the other daemon, so close() would not take it
	 * out of this epoll: a later event would name freed memory. */
	io_del(p->loop, &leg->io);
	close(leg->io.fd);
	leg->io.fd = -1;
}

void conn_release(struct conn *c)
{
	struct proxy *p = c->proxy;

	if (c->phase == PHASE_CLOSED)
		return;
	if (c->phase == PHASE_CUT && p->flow_conns) {
		/* The sockhash and peer entries are the other daemon's now. */
		p->flow_conns[c->pair.slots[0]] = NULL;
		p->flow_conns[c->pair.slots[1]] = NULL;
	}
	inspect_free(c);
	leg_release(p, &c->client);
	leg_release(p, &c->server);
	c->phase = PHASE_CLOSED;
	c->handed = 0;
	p->stats.active--;
	list_del(&c->timer_link);
	list_del(&c->link);
	list_add_tail(&p->closed, &c->link);
}

void conn_free(struct conn *c)
{
	free(c->adopted_text);
	relay_dir_free(&c->client.rx);
	relay_dir_free(&c->server.rx);
	free(c->user);
	free(c->server_name);
	live_config_put(c->live);
	free(c);
}

enum close_reason reset_reason(const struct leg *leg)
{
	return leg == &leg->conn->client ? CLOSE_CLIENT_RESET : CLOSE_SERVER_RESET;
}

static struct leg *other_leg(struct leg *leg)
{
	struct conn *c = leg->conn;

	return leg == &c->client ? &c->server : &c->client;
}

/*
 * One direction, from src to dst: read what src sent, write what is pending
 * to dst, and pass src's FIN on once everything before it is written.
 * Returns 0 or the close reason when a side failed.
 */
static enum close_reason pump_direction(struct leg *src, struct leg *dst)
{
	ssize_t n;

	if (src->readable && !src->rd_eof && relay_dir_has_space(&src->rx)) {
		n = relay_dir_fill(&src->rx, src->io.fd);
		if (n > 0)
			src->bytes_rx += (uint64_t)n;
		else if (n == 0)
			src->rd_eof = 1;
		else if (n != -EAGAIN)
			return reset_reason(src);
	}
	if (relay_dir_pending(&src->rx)) {
		n = relay_dir_drain(&src->rx, dst->io.fd);
		if (n < 0 && n != -EAGAIN)
			return reset_reason(dst);
	}
	if (src->rd_eof && !relay_dir_pending(&src->rx) && !dst->wr_shut) {
		/* The last FIN of a connection: conn_pump closes both legs
		 * next, and close() sends it (dst's receive queue is empty,
		 * so no reset). One system call less per connection. */
		if (dst->rd_eof && src->wr_shut && !relay_dir_pending(&dst->rx)) {
			dst->wr_shut = 1;
			return CLOSE_NONE;
		}
		if (shutdown(dst->io.fd, SHUT_WR) && errno != ENOTCONN)
			return reset_reason(dst);
		dst->wr_shut = 1;
	}
	return CLOSE_NONE;
}

/* Read a leg while its buffer has room; want to write to it while the other
 * leg's buffer holds bytes for it. */
static uint32_t leg_interest(const struct leg *leg)
{
	const struct leg *peer = other_leg((struct leg *)leg);
	uint32_t ev = 0;

	if (!leg->rd_eof && relay_dir_has_space(&leg->rx))
		ev |= EPOLLIN;
	if (relay_dir_pending(&peer->rx))
		ev |= EPOLLOUT;
	return ev;
}

static void conn_pump(struct conn *c)
{
	struct loop *loop = c->proxy->loop;
	enum close_reason reason;

	reason = pump_direction(&c->client, &c->server);
	if (!reason)
		reason = pump_direction(&c->server, &c->client);
	if (reason) {
		conn_close(c, reason);
		return;
	}
	c->client.readable = c->server.readable = 0;
	if (c->client.wr_shut && c->server.wr_shut) {
		conn_close(c, CLOSE_DONE);
		return;
	}
	io_set(loop, &c->client.io, leg_interest(&c->client));
	io_set(loop, &c->server.io, leg_interest(&c->server));
}

int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return errno;
	return err;
}

static int start_relaying(struct conn *c, enum data_path path)
{
	struct proxy *p = c->proxy;
	size_t size = c->live->cfg.buffer_size;

	if (relay_dir_init(&c->client.rx, path, size, &p->pipes) ||
	    relay_dir_init(&c->server.rx, path, size, &p->pipes))
		return -ENOMEM;
	c->phase = PHASE_RELAYING;
	list_del(&c->timer_link);
	return 0;
}

/* The service's own data path, else the global one. */
static enum data_path conn_data_path(const struct conn *c)
{
	const struct config *cfg = &c->live->cfg;
	int own = c->service_id > 0 ? cfg->policies[c->service_id - 1].data_path : -1;

	return own >= 0 ? (enum data_path)own : cfg->data_path;
}

static void on_connected(struct conn *c, uint32_t events)
{
	/* Writable without an error is connected; only a failure is asked. */
	int err = events & (EPOLLERR | EPOLLHUP) ? sock_error(c->server.io.fd) : 0;

	enum data_path path = conn_data_path(c);

	if (err) {
		conn_close(c, err == ECONNREFUSED ? CLOSE_CONNECT_REFUSED : CLOSE_CONNECT_FAILED);
		return;
	}
	/* What inspection let through goes first, before any data path. */
	err = inspect_send_head(c);
	if (err == -EAGAIN) {
		io_set(c->proxy->loop, &c->server.io, EPOLLOUT);
		return;
	}
	if (err) {
		conn_close(c, CLOSE_SERVER_RESET);
		return;
	}
	if (path == DATA_PATH_SOCKMAP) {
		if (c->proxy->cut && !conn_cut_start(c)) {
			c->data_path = data_path_name(DATA_PATH_SOCKMAP);
			return;
		}
		/* No kernel cut-through here or for this connection: splice. */
		path = DATA_PATH_SPLICE;
	}
	if (start_relaying(c, path)) {
		conn_close(c, CLOSE_NO_RESOURCES);
		return;
	}
	c->data_path = data_path_name(path);
	/* Whatever the client sent while we connected is waiting: read it. */
	c->client.readable = 1;
	conn_pump(c);
}

static void on_leg_event(struct loop *loop, struct io *io, uint32_t events)
{
	struct leg *leg = io->ctx;
	struct conn *c = leg->conn;

	(void)loop;
	if (c->phase == PHASE_CLOSED)
		return;
	if (c->phase < PHASE_CONNECTING) {
		inspect_event(c, events);
		return;
	}
	if (c->phase == PHASE_CONNECTING) {
		if (leg == &c->server)
			on_connected(c, events);
		return;
	}
	if (c->phase == PHASE_CUT) {
		conn_cut_event(c, leg, events);
		return;
	}
	/* A pending error (RST, ICMP) fails the leg even when we are not
	 * reading it right now. */
	if ((events & EPOLLERR) && sock_error(io->fd)) {
		conn_close(c, reset_reason(leg));
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		leg->readable = 1;
	conn_pump(c);
}

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) ? -errno : 0;
}

/* The server leg: a socket bound to the client's address (and port, unless
 * --no-spoof-port), connecting to the original destination. */
static int open_server_leg(struct conn *c)
{
	const struct config *cfg = &c->live->cfg;
	const struct cutthru_quad *q = &c->quad;
	struct sockaddr_storage local, remote;
	socklen_t local_len, remote_len;
	int fd, err;

	fd = socket(q->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (q->family == AF_INET)
		err = set_int_opt(fd, SOL_IP, IP_TRANSPARENT, 1);
	else
		err = set_int_opt(fd, SOL_IPV6, IPV6_TRANSPARENT, 1);
	err = err ?: set_int_opt(fd, SOL_SOCKET, SO_MARK, (int)cfg->sock_mark);
	/* Two connections from one client port to different servers share a
	 * local address; connect() keeps their 4-tuples apart. */
	err = err ?: set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	err = err ?: set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (!err && !cfg->spoof_port)
		err = set_int_opt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1);
	if (err)
		goto err_close;

	local_len = addr_to_sockaddr(q->family, &q->saddr, cfg->spoof_port ? ntohs(q->sport) : 0,
				     &local);
	remote_len = addr_to_sockaddr(q->family, &q->daddr, ntohs(q->dport), &remote);
	if (bind(fd, (struct sockaddr *)&local, local_len))
		goto err_errno;
	if (connect(fd, (struct sockaddr *)&remote, remote_len) && errno != EINPROGRESS)
		goto err_errno;
	return fd;

err_errno:
	err = -errno;
err_close:
	close(fd);
	return err;
}

static int read_quad(int fd, const struct sockaddr_storage *peer, struct cutthru_quad *q)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	uint16_t sport, dport;
	uint8_t family;

	/* With bpf_sk_assign the accepted socket's local address is the
	 * original destination. */
	if (getsockname(fd, (struct sockaddr *)&local, &len))
		return -errno;
	memset(q, 0, sizeof(*q));
	sockaddr_to_addr(peer, &q->family, &q->saddr, &sport);
	sockaddr_to_addr(&local, &family, &q->daddr, &dport);
	q->sport = htons(sport);
	q->dport = htons(dport);
	return 0;
}

static struct conn *conn_new(struct proxy *p, int client_fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->proxy = p;
	c->live = live_config_get(p->live);
	c->id = ++p->next_id;
	c->started_ms = now_ms();
	c->phase = PHASE_CONNECTING;
	c->client.conn = c;
	c->server.conn = c;
	c->client.io.fd = client_fd;
	c->server.io.fd = -1;
	/* Empty directions (no buffer, no pipe) until a data path is chosen. */
	relay_dir_init(&c->client.rx, DATA_PATH_SOCKMAP, 0, NULL);
	relay_dir_init(&c->server.rx, DATA_PATH_SOCKMAP, 0, NULL);
	list_init(&c->timer_link);
	list_add_tail(&p->conns, &c->link);
	p->stats.active++;
	p->stats.accepted++;
	return c;
}

/*
 * The client reused its port while the server leg of its previous
 * connection from that port still passes that connection's last bytes to
 * the server: the proxy acknowledged them to the client, which then closed
 * and is free to connect again, but the server leg's 4-tuple is still
 * taken (connect() fails with EADDRNOTAVAIL). The new server leg waits for
 * it, trying again this often, within the connect timeout.
 */
#define PORT_RETRY_MS 20

/* By connect_by_ms: the list is short and seldom used, so a walk is fine. */
static void add_connecting(struct proxy *p, struct conn *c)
{
	struct list_node *pos = p->connecting.prev;

	while (pos != &p->connecting &&
	       container_of(pos, struct conn, timer_link)->deadline_ms > c->connect_by_ms)
		pos = pos->prev;
	c->deadline_ms = c->connect_by_ms;
	list_add_tail(pos->next, &c->timer_link);
}

static enum close_reason server_leg_failure(const struct conn *c, int err)
{
	if (err == -EMFILE || err == -ENFILE)
		return CLOSE_NO_RESOURCES;
	/* Its 4-tuple was never freed in time. */
	if (err == -EADDRNOTAVAIL && c->port_waited)
		return CLOSE_CONNECT_TIMEOUT;
	return CLOSE_CONNECT_FAILED;
}

static void try_server_leg(struct conn *c)
{
	struct proxy *p = c->proxy;
	uint64_t now = now_ms();
	int fd;

	list_del(&c->timer_link);
	fd = open_server_leg(c);
	if (fd == -EADDRNOTAVAIL && c->live->cfg.spoof_port &&
	    now + PORT_RETRY_MS < c->connect_by_ms) {
		if (!c->port_waited++)
			p->stats.port_waits++;
		c->deadline_ms = now + PORT_RETRY_MS;
		list_add_tail(&p->port_waiting, &c->timer_link);
		return;
	}
	if (fd < 0) {
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
			p->stats.refused_no_fds++;
		pr_debug("conn %llu: server leg: %s", (unsigned long long)c->id, strerror(-fd));
		conn_close(c, server_leg_failure(c, fd));
		return;
	}
	add_connecting(p, c);
	if (io_add(p->loop, &c->server.io, fd, EPOLLOUT, on_leg_event, &c->server)) {
		c->server.io.fd = fd;
		conn_close(c, CLOSE_NO_RESOURCES);
	}
}

void conn_connect(struct conn *c)
{
	/* A takeover is under way: the new daemon connects it. */
	if (c->proxy->draining && !handover_send_allowed(c->proxy, c)) {
		conn_release(c);
		return;
	}
	c->phase = PHASE_CONNECTING;
	c->connect_by_ms = now_ms() + c->live->cfg.connect_timeout_ms;
	/* The client leg is not read until the server leg is up: what it sends
	 * meanwhile waits in its receive queue. */
	if (c->client.io.events)
		io_set(c->proxy->loop, &c->client.io, 0);
	try_server_leg(c);
}

void conn_port_retry(struct conn *c)
{
	try_server_leg(c);
}

void conn_accepted(struct proxy *p, int client_fd, const struct sockaddr_storage *peer)
{
	struct conn *c = conn_new(p, client_fd);

	if (!c) {
		close_with_reset(client_fd);
		return;
	}
	/* TCP_NODELAY came with the listener's options. */
	if (read_quad(client_fd, peer, &c->quad)) {
		conn_close(c, CLOSE_CONNECT_FAILED);
		return;
	}
	c->client.io.cb = on_leg_event;
	c->client.io.ctx = &c->client;
	c->service_id = config_find_service(&c->live->cfg, c->quad.family, &c->quad.daddr,
					    ntohs(c->quad.dport));
	switch (inspect_begin(c)) {
	case 0:
		conn_connect(c);
		break;
	case 1:
		break;
	default:
		conn_close(c, CLOSE_NO_RESOURCES);
	}
}

void conn_resume(struct conn *c)
{
	struct proxy *p = c->proxy;
	struct leg *legs[2] = { &c->client, &c->server };
	int i;

	for (i = 0; i < 2; i++) {
		legs[i]->io.cb = on_leg_event;
		legs[i]->io.ctx = legs[i];
		legs[i]->io.events = 0;
	}
	switch (c->phase) {
	case PHASE_CONNECTING:
		if (c->server.io.fd < 0) {
			conn_connect(c);
			return;
		}
		c->connect_by_ms = c->deadline_ms;
		add_connecting(p, c);
		if (io_set(p->loop, &c->server.io, EPOLLOUT))
			conn_close(c, CLOSE_NO_RESOURCES);
		return;
	case PHASE_RELAYING:
		/* Whatever arrived meanwhile waits in the queues: look at once. */
		c->client.readable = c->server.readable = 1;
		conn_pump(c);
		return;
	case PHASE_CUT:
		conn_cut_poll(c);
		return;
	default:
		conn_close(c, CLOSE_NO_RESOURCES);
	}
}

void conn_connect_timeout(struct conn *c)
{
	conn_close(c, CLOSE_CONNECT_TIMEOUT);
}
