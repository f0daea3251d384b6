// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Zero-downtime restart: the wire (handover.h) and the connections on it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>
#include "conn.h"
#include "handover.h"
#include "log.h"

#define PAYLOAD_MAX (256u << 20)
/* Each connection passes at most 6 fds: two legs and two pipes. */
#define CONNS_PER_BATCH (HANDOVER_MAX_FDS / 6)

struct wire_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;
	uint32_t n_fds;
};

struct wire_leg {
	uint64_t bytes_rx, cut_base_written, cut_base_read;
	uint32_t pending; /* buffered bytes (copy) that follow in-band */
	uint32_t pipe_len; /* bytes inside the pipe passed (splice) */
	uint8_t rx_path, rd_eof, wr_shut, has_pipe;
	uint32_t pad;
};

/* One connection; then its user, server name, decision, why, the head for
 * the server (CONNECTING), and each leg's buffered bytes. Text lengths are
 * n + 1, 0 for none. */
struct wire_conn {
	uint64_t id, started_ms, deadline_ms;
	struct cutthru_quad quad;
	struct wire_leg legs[2];
	uint64_t cookies[2];
	uint32_t slots[2];
	uint8_t phase, has_server, data_path, pad;
	uint32_t head_len;
	uint16_t text_len[4];
};

int handover_channel_setup(int fd)
{
	struct timeval tv = { .tv_sec = HANDOVER_TIMEOUT_S };
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

int handover_send(int fd, uint16_t type, const void *data, size_t len, const int *fds, int n_fds)
{
	struct wire_hdr hdr = { .magic = HANDOVER_MAGIC,
				.version = HANDOVER_VERSION,
				.type = type,
				.len = (uint32_t)len,
				.n_fds = (uint32_t)n_fds };
	union {
		char buf[CMSG_SPACE(sizeof(int) * (HANDOVER_MAX_FDS + 13))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)data, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (n_fds > HANDOVER_MAX_FDS + 13 || len > PAYLOAD_MAX)
		return -E2BIG;
	if (n_fds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n_fds);
	}
	/* The fds ride on the first byte; a partial write goes on without. */
	while (msg.msg_iovlen) {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int recv_exact(int fd, void *buf, size_t len)
{
	size_t have = 0;
	ssize_t n;

	while (have < len) {
		n = recv(fd, (char *)buf + have, len - have, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		have += (size_t)n;
	}
	return 0;
}

/* The header alone, with the fds that came with its first byte. */
static int recv_header(int fd, struct wire_hdr *hdr, struct handover_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (HANDOVER_MAX_FDS + 13))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { hdr, sizeof(*hdr) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	do
		n = recvmsg(fd, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(m->fds + m->n_fds, CMSG_DATA(cm), sizeof(int) * (size_t)k);
		m->n_fds += k;
	}
	if (n == 0)
		return -EPIPE;
	if ((size_t)n < sizeof(*hdr))
		return recv_exact(fd, (char *)hdr + n, sizeof(*hdr) - (size_t)n);
	return (msg.msg_flags & MSG_CTRUNC) ? -EMSGSIZE : 0;
}

int handover_recv(int fd, struct handover_msg *msg)
{
	struct wire_hdr hdr;
	int err;

	memset(msg, 0, sizeof(*msg));
	err = recv_header(fd, &hdr, msg);
	if (err)
		return err;
	if (hdr.magic != HANDOVER_MAGIC)
		return -EPROTO;
	if (hdr.version != HANDOVER_VERSION)
		return -EPROTONOSUPPORT;
	if (hdr.n_fds != (uint32_t)msg->n_fds || hdr.len > PAYLOAD_MAX)
		return -EPROTO;
	msg->type = hdr.type;
	msg->len = hdr.len;
	if (!hdr.len)
		return 0;
	msg->data = malloc(hdr.len + 1);
	if (!msg->data)
		return -ENOMEM;
	msg->data[hdr.len] = 0;
	return recv_exact(fd, msg->data, hdr.len);
}

void handover_msg_free(struct handover_msg *msg)
{
	int i;

	for (i = 0; i < msg->n_fds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	free(msg->data);
	memset(msg, 0, sizeof(*msg));
}

void handover_abort(int fd, const char *why)
{
	handover_send(fd, HO_ABORT, why, strlen(why), NULL, 0);
}

/* -- the old side ------------------------------------------------------- */

/* Connecting without a server leg yet: waiting for its 4-tuple (the new
 * daemon then connects it afresh). */
static int can_hand_over(const struct conn *c)
{
	return c->phase == PHASE_RELAYING || c->phase == PHASE_CUT || c->phase == PHASE_CONNECTING;
}

static void put_text(struct wire_conn *w, int i, const char *text)
{
	size_t n = text ? strlen(text) : 0;

	if (n > 1000)
		n = 1000;
	w->text_len[i] = text ? (uint16_t)(n + 1) : 0;
}

static void put_leg(struct wire_leg *w, const struct leg *leg, int *fds, int *n_fds)
{
	memset(w, 0, sizeof(*w));
	w->bytes_rx = leg->bytes_rx;
	w->cut_base_written = leg->cut_base_written;
	w->cut_base_read = leg->cut_base_read;
	w->rd_eof = (uint8_t)leg->rd_eof;
	w->wr_shut = (uint8_t)leg->wr_shut;
	w->rx_path = (uint8_t)leg->rx.path;
	if (leg->rx.path == DATA_PATH_SPLICE && leg->rx.pipe[0] >= 0) {
		w->has_pipe = 1;
		w->pipe_len = (uint32_t)leg->rx.pipe_len;
		fds[(*n_fds)++] = leg->rx.pipe[0];
		fds[(*n_fds)++] = leg->rx.pipe[1];
	} else if (leg->rx.buf.data) {
		w->pending = (uint32_t)relay_buf_pending(&leg->rx.buf);
	}
}

static int put_bytes(FILE *out, const void *data, size_t len)
{
	return len && fwrite(data, 1, len, out) != len ? -ENOMEM : 0;
}

static int put_pending(FILE *out, const struct leg *leg)
{
	size_t n = leg->rx.buf.data ? relay_buf_pending(&leg->rx.buf) : 0;
	void *tmp;
	int err;

	if (!n)
		return 0;
	tmp = malloc(n);
	if (!tmp)
		return -ENOMEM;
	relay_buf_peek(&leg->rx.buf, tmp);
	err = put_bytes(out, tmp, n);
	free(tmp);
	return err;
}

/* One connection into out, its fds appended to fds. */
static int put_conn(FILE *out, const struct conn *c, int *fds, int *n_fds)
{
	const char *texts[4] = { c->user, c->server_name, c->decision, c->why };
	const char *head = NULL;
	struct wire_conn w;
	enum data_path path;
	int i, err = 0;

	memset(&w, 0, sizeof(w));
	w.id = c->id;
	w.started_ms = c->started_ms;
	w.deadline_ms = c->deadline_ms;
	w.quad = c->quad;
	w.phase = (uint8_t)c->phase;
	w.data_path = c->data_path && !data_path_parse(c->data_path, &path) ? (uint8_t)path : 0xff;
	w.head_len = (uint32_t)inspect_pending_head(c, &head);
	memcpy(w.cookies, c->pair.cookies, sizeof(w.cookies));
	memcpy(w.slots, c->pair.slots, sizeof(w.slots));
	fds[(*n_fds)++] = c->client.io.fd;
	if (c->server.io.fd >= 0) {
		w.has_server = 1;
		fds[(*n_fds)++] = c->server.io.fd;
	}
	put_leg(&w.legs[0], &c->client, fds, n_fds);
	put_leg(&w.legs[1], &c->server, fds, n_fds);
	for (i = 0; i < 4; i++)
		put_text(&w, i, texts[i]);
	err = put_bytes(out, &w, sizeof(w));
	for (i = 0; i < 4 && !err; i++)
		if (w.text_len[i])
			err = put_bytes(out, texts[i], w.text_len[i] - 1u);
	err = err ?: put_bytes(out, head, w.head_len);
	err = err ?: put_pending(out, &c->client) ?: put_pending(out, &c->server);
	return err;
}

static int send_batch(int fd, struct conn **batch, int n)
{
	int fds[HANDOVER_MAX_FDS], n_fds = 0, i, err = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++)
		err = put_conn(out, batch[i], fds, &n_fds);
	if (fclose(out))
		err = err ?: -ENOMEM;
	err = err ?: handover_send(fd, HO_CONNS, buf, len, fds, n_fds);
	free(buf);
	return err;
}

int handover_send_conns(struct proxy *p, int fd, uint32_t *sent, uint32_t *kept)
{
	struct conn *batch[CONNS_PER_BATCH];
	struct list_node *node;
	int n = 0, err = 0;

	*sent = *kept = 0;
	for (node = p->conns.next; node != &p->conns && !err; node = node->next) {
		struct conn *c = container_of(node, struct conn, link);

		if (!can_hand_over(c)) {
			(*kept)++;
			continue;
		}
		c->handed = 1;
		batch[n++] = c;
		(*sent)++;
		if (n == CONNS_PER_BATCH) {
			err = send_batch(fd, batch, n);
			n = 0;
		}
	}
	if (!err && n)
		err = send_batch(fd, batch, n);
	return err;
}

int handover_send_allowed(struct proxy *p, struct conn *c)
{
	struct conn *one[1] = { c };

	if (p->handover_fd < 0)
		return -ENOTCONN;
	c->phase = PHASE_CONNECTING;
	return send_batch(p->handover_fd, one, 1);
}

void handover_release_conns(struct proxy *p)
{
	struct list_node *node, *next;

	for (node = p->conns.next; node != &p->conns; node = next) {
		struct conn *c = container_of(node, struct conn, link);

		next = node->next;
		if (c->handed)
			conn_release(c);
	}
}

void handover_keep_conns(struct proxy *p)
{
	struct list_node *node;

	for (node = p->conns.next; node != &p->conns; node = node->next)
		container_of(node, struct conn, link)->handed = 0;
}

/* -- the new side ------------------------------------------------------- */

struct reader {
	const uint8_t *data;
	size_t len, off;
	const int *fds;
	int n_fds, fd_off;
	int *taken; /* the message's own array: taken fds become -1 there */
};

static const void *take_bytes(struct reader *r, size_t n)
{
	const void *at = r->data + r->off;

	if (n > r->len - r->off)
		return NULL;
	r->off += n;
	return at;
}

static int take_fd(struct reader *r)
{
	int fd;

	if (r->fd_off >= r->n_fds)
		return -1;
	fd = r->taken[r->fd_off];
	r->taken[r->fd_off++] = -1;
	return fd;
}

static int adopt_leg(struct proxy *p, struct leg *leg, const struct wire_leg *w, struct reader *r)
{
	size_t cap = p->cfg->buffer_size;

	leg->bytes_rx = w->bytes_rx;
	leg->cut_base_written = w->cut_base_written;
	leg->cut_base_read = w->cut_base_read;
	leg->rd_eof = w->rd_eof;
	leg->wr_shut = w->wr_shut;
	if (w->rx_path >= DATA_PATHS)
		return -EPROTO;
	if (w->rx_path == DATA_PATH_SPLICE) {
		relay_dir_init(&leg->rx, DATA_PATH_SPLICE, 0, &p->pipes);
		if (w->has_pipe) {
			int fds[2];

			fds[0] = take_fd(r);
			fds[1] = take_fd(r);
			/* Sized by the other daemon, maybe to another size. */
			if (fds[0] >= 0 && !relay_dir_adopt_pipe(&leg->rx, fds, w->pipe_len))
				return 0;
			if (fds[0] >= 0)
				close(fds[0]);
			if (fds[1] >= 0)
				close(fds[1]);
			return -EPROTO;
		}
		return 0;
	}
	if (w->rx_path == DATA_PATH_SOCKMAP && !w->pending)
		return relay_dir_init(&leg->rx, DATA_PATH_SOCKMAP, 0, NULL);
	/* copy, or a cut leg holding bytes it moves by hand */
	if (relay_dir_init(&leg->rx, DATA_PATH_COPY, cap > w->pending ? cap : w->pending, NULL))
		return -ENOMEM;
	return 0;
}

static int adopt_pending(struct leg *leg, const struct wire_leg *w, struct reader *r)
{
	const void *bytes = take_bytes(r, w->pending);

	if (!bytes)
		return -EPROTO;
	return relay_buf_put(&leg->rx.buf, bytes, w->pending);
}

static int adopt_texts(struct conn *c, const struct wire_conn *w, struct reader *r)
{
	const char *t[4] = { NULL };
	size_t total = 0;
	char *at;
	int i;

	for (i = 0; i < 4; i++) {
		if (!w->text_len[i])
			continue;
		t[i] = take_bytes(r, w->text_len[i] - 1u);
		if (!t[i])
			return -EPROTO;
		total += w->text_len[i];
	}
	if (w->text_len[0] && !(c->user = strndup(t[0], w->text_len[0] - 1u)))
		return -ENOMEM;
	if (w->text_len[1] && !(c->server_name = strndup(t[1], w->text_len[1] - 1u)))
		return -ENOMEM;
	c->adopted_text = calloc(1, total + 2);
	if (!c->adopted_text)
		return -ENOMEM;
	at = c->adopted_text;
	for (i = 2; i < 4; i++) {
		if (!w->text_len[i])
			continue;
		memcpy(at, t[i], w->text_len[i] - 1u);
		if (i == 2)
			c->decision = at;
		else
			c->why = at;
		at += w->text_len[i];
	}
	return 0;
}

static int adopt_one(struct proxy *p, struct reader *r, uint8_t *used, struct conn **out)
{
	const struct wire_conn *w = take_bytes(r, sizeof(*w));
	const void *head;
	struct conn *c;
	int i, err;

	if (!w || w->phase > PHASE_CUT)
		return -EPROTO;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*out = c;
	c->proxy = p;
	c->live = live_config_get(p->live);
	c->id = w->id;
	c->started_ms = w->started_ms;
	c->deadline_ms = w->deadline_ms;
	c->quad = w->quad;
	c->phase = (enum conn_phase)w->phase;
	c->client.conn = c->server.conn = c;
	c->client.io.fd = take_fd(r);
	c->server.io.fd = w->has_server ? take_fd(r) : -1;
	c->data_path = w->data_path < DATA_PATHS ? data_path_name(w->data_path) : NULL;
	c->service_id = config_find_service(&c->live->cfg, c->quad.family, &c->quad.daddr,
					    ntohs(c->quad.dport));
	relay_dir_init(&c->client.rx, DATA_PATH_SOCKMAP, 0, NULL);
	relay_dir_init(&c->server.rx, DATA_PATH_SOCKMAP, 0, NULL);
	list_init(&c->timer_link);
	list_add_tail(&p->conns, &c->link);
	p->stats.active++;
	if (c->client.io.fd < 0 || (w->has_server && c->server.io.fd < 0))
		return -EPROTO;
	err = adopt_leg(p, &c->client, &w->legs[0], r) ?: adopt_leg(p, &c->server, &w->legs[1], r);
	err = err ?: adopt_texts(c, w, r);
	if (err)
		return err;
	head = take_bytes(r, w->head_len);
	if (!head)
		return -EPROTO;
	err = inspect_adopt_head(c, head, w->head_len);
	err = err						?:
		      adopt_pending(&c->client, &w->legs[0], r) ?:
		      adopt_pending(&c->server, &w->legs[1], r);
	if (err || c->phase != PHASE_CUT)
		return err;
	if (!p->cut)
		return -EOPNOTSUPP;
	memcpy(c->pair.cookies, w->cookies, sizeof(w->cookies));
	memcpy(c->pair.slots, w->slots, sizeof(w->slots));
	for (i = 0; i < 2; i++) {
		if (w->slots[i] >= CUTTHRU_CUT_SOCKS_MAX)
			return -EPROTO;
		used[w->slots[i]] = 1;
		p->flow_conns[w->slots[i]] = c;
	}
	return 0;
}

int handover_adopt_conns(struct proxy *p, struct handover_msg *msg, uint8_t *used, char *why,
			 size_t len)
{
	struct reader r = { .data = msg->data,
			    .len = msg->len,
			    .fds = msg->fds,
			    .n_fds = msg->n_fds,
			    .taken = msg->fds };
	struct conn *c;
	int err = 0;

	while (!err && r.off < r.len) {
		c = NULL;
		err = adopt_one(p, &r, used, &c);
		if (err) {
			snprintf(why, len, "connection %llu: %s",
				 c ? (unsigned long long)c->id : 0ULL,
				 err == -EOPNOTSUPP ?
					 "cut through, but sockmap is not set up here" :
					 strerror(-err));
			if (c)
				conn_release(c);
		}
	}
	return err;
}
