// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A connection after the hand-off (PHASE_CUT): the kernel moves the bytes;
 * the daemon passes FIN and RST on, keeps each direction's in-kernel queue
 * bounded, and keeps the record.
 *
 * Flow control, per direction (src receives, dst sends): the verdict
 * redirects what src receives into dst's queue, which the kernel does not
 * bound. When the verdict reports progress and the daemon finds more than
 * CUT_HOLD_BYTES waiting there, it pauses the direction: the verdict then
 * holds new bytes in src's own receive queue, whose window closes. Once
 * dst's queue is empty, the daemon reads the held bytes and writes them to
 * dst itself, and the verdict resumes redirecting when all of them have
 * been written. Bytes never change order (see struct cutthru_cut_flow).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "conn.h"
#include "log.h"

/* Bytes waiting for a peer in the kernel before the direction pauses. */
#define CUT_HOLD_BYTES (16u << 20)
/* How long a FIN may wait for the bytes before it to get through. */
#define CUT_FLUSH_TIMEOUT_MS 10000

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

struct direction {
	struct leg *src;
	struct leg *dst;
	struct cutthru_cut_flow *flow;
};

static void direction(struct conn *c, int i, struct direction *d)
{
	d->src = i ? &c->server : &c->client;
	d->dst = i ? &c->client : &c->server;
	d->flow = cut_flow(c->proxy->cut, c->pair.slots[i]);
}

/* Bytes the verdict redirected toward dst that dst has not taken yet;
 * negative when dst cannot be asked (its error event follows). */
static int64_t peer_queue(const struct direction *d)
{
	uint64_t received, written;

	if (tcp_bytes(d->dst->io.fd, &received, &written))
		return -1;
	written -= d->dst->cut_base_written;
	/* dst took what the daemon wrote (relayed) plus what the kernel sent. */
	return (int64_t)(READ_ONCE(d->flow->redirected) - (written - READ_ONCE(d->flow->relayed)));
}

/*
 * While paused: once dst's kernel queue is empty, move the held bytes from
 * src to dst, never more than were held (anything later is the verdict's),
 * and let the verdict resume. Returns 0 when nothing is left to do, 1 to be
 * looked at again, or a close reason (> 1).
 */
static void release_buffer(struct relay_dir *rx)
{
	if (rx->buf.data) {
		relay_dir_free(rx);
		relay_dir_init(rx, DATA_PATH_SOCKMAP, 0, NULL);
	}
}

static int move_held(struct conn *c, struct direction *d)
{
	struct relay_dir *rx = &d->src->rx;
	uint64_t want;
	ssize_t n;

	if (!READ_ONCE(d->flow->paused) && !relay_dir_pending(rx)) {
		release_buffer(rx);
		return 0;
	}
	if (peer_queue(d) != 0)
		return 1;
	want = READ_ONCE(d->flow->held) - d->flow->relayed - relay_dir_pending(rx);
	/* The buffer exists only while held bytes pass through the daemon. */
	if (want && !rx->buf.data &&
	    relay_dir_init(rx, DATA_PATH_COPY, c->live->cfg.buffer_size, NULL))
		return CLOSE_NO_RESOURCES;
	if (want && relay_buf_space(&rx->buf)) {
		n = relay_buf_fill_max(&rx->buf, d->src->io.fd, want);
		if (n == 0)
			d->src->rd_eof = 1;
		else if (n < 0 && n != -EAGAIN)
			return reset_reason(d->src);
	}
	n = relay_dir_drain(rx, d->dst->io.fd);
	if (n < 0 && n != -EAGAIN)
		return reset_reason(d->dst);
	if (n > 0)
		WRITE_ONCE(d->flow->relayed, d->flow->relayed + (uint64_t)n);
	if (relay_dir_pending(rx))
		return 1;
	/*
	 * Nothing in hand and the kernel queue empty: the verdict resumes at
	 * its next segment once every held byte is written. One it held before
	 * seeing may_resume makes src readable (EPOLLIN is watched from now).
	 */
	WRITE_ONCE(d->flow->may_resume, 1);
	__sync_synchronize();
	return READ_ONCE(d->flow->held) != d->flow->relayed;
}

/* Passes src's FIN to dst once every byte src received is in dst's send
 * queue. Returns 1 while it waits, else 0. */
static int pass_fin(struct direction *d)
{
	uint64_t received, sent, written;

	if (!d->src->rd_eof || d->dst->wr_shut)
		return 0;
	if (tcp_bytes(d->src->io.fd, &received, &sent) || tcp_bytes(d->dst->io.fd, &sent, &written))
		return 0; /* the leg failed: its error event follows */
	/* The FIN advanced rcv_nxt too: it counts as one byte received. Every
	 * other byte src received after what the daemon read itself before the
	 * hand-off (inspection) must be in dst's send queue. */
	if (written - d->dst->cut_base_written + 1 < received - d->src->cut_base_read)
		return 1;
	if (shutdown(d->dst->io.fd, SHUT_WR) == 0 || errno == ENOTCONN)
		d->dst->wr_shut = 1;
	return 0;
}

/* FIN, RST and errors always; while paused and the peer's queue was found
 * empty, held bytes to read; bytes in hand to write. */
static uint32_t cut_interest(struct conn *c, struct leg *leg)
{
	struct direction out, in;
	uint32_t ev = leg->rd_eof ? 0 : EPOLLRDHUP;

	direction(c, leg == &c->server, &out);
	direction(c, leg == &c->client, &in);
	if (READ_ONCE(out.flow->paused) && READ_ONCE(out.flow->may_resume) &&
	    (!out.src->rx.buf.data || relay_buf_space(&out.src->rx.buf)))
		ev |= EPOLLIN;
	if (relay_dir_pending(&in.src->rx))
		ev |= EPOLLOUT;
	return ev;
}

static void schedule_poll(struct conn *c, int waiting_fin, int moving)
{
	struct proxy *p = c->proxy;

	if (!waiting_fin && !moving) {
		list_del(&c->timer_link);
		return;
	}
	if (!list_linked(&c->timer_link)) {
		c->deadline_ms = now_ms() + CUT_FLUSH_TIMEOUT_MS;
		list_add_tail(&p->polling, &c->timer_link);
	}
	/* Only a FIN that waits (no held bytes moving) can time out. */
	if (moving)
		c->deadline_ms = now_ms() + CUT_FLUSH_TIMEOUT_MS;
}

void conn_cut_poll(struct conn *c)
{
	struct direction d[2];
	int i, r, waiting_fin = 0, moving = 0;

	for (i = 0; i < 2; i++) {
		direction(c, i, &d[i]);
		r = move_held(c, &d[i]);
		if (r > 1) {
			conn_close(c, (enum close_reason)r);
			return;
		}
		moving |= r;
		waiting_fin |= pass_fin(&d[i]);
	}
	if (c->client.wr_shut && c->server.wr_shut) {
		conn_close(c, CLOSE_DONE);
		return;
	}
	if (waiting_fin && !moving && now_ms() >= c->deadline_ms && list_linked(&c->timer_link)) {
		conn_close(c, CLOSE_FLUSH_TIMEOUT);
		return;
	}
	schedule_poll(c, waiting_fin, moving);
	io_set(c->proxy->loop, &c->client.io, cut_interest(c, &c->client));
	io_set(c->proxy->loop, &c->server.io, cut_interest(c, &c->server));
}

void conn_cut_event(struct conn *c, struct leg *leg, uint32_t events)
{
	int err = (events & EPOLLERR) ? sock_error(leg->io.fd) : 0;

	if (err) {
		pr_debug("conn %llu: %s leg: %s", (unsigned long long)c->id,
			 leg == &c->client ? "client" : "server", strerror(err));
		conn_close(c, reset_reason(leg));
		return;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP))
		leg->rd_eof = 1;
	conn_cut_poll(c);
}

void conn_cut_report(void *ctx, uint32_t slot)
{
	struct proxy *p = ctx;
	struct conn *c = p->flow_conns[slot];
	struct direction d;

	if (!c || c->phase != PHASE_CUT)
		return;
	direction(c, slot == c->pair.slots[1], &d);
	if (READ_ONCE(d.flow->paused) || peer_queue(&d) <= (int64_t)CUT_HOLD_BYTES)
		return;
	WRITE_ONCE(d.flow->paused, 1);
	p->stats.cut_paused++;
	conn_cut_poll(c);
}

/*
 * After the hand-off the kernel consumes what the legs receive, so their
 * receive queues stay empty and a close() by a dying daemon would send a
 * FIN that looks like a clean end. With a zero linger time it sends a
 * reset: a client still sending hears at once that the connection broke.
 * A clean end turns it off again first.
 */
static void set_reset_on_close(struct conn *c, int on)
{
	struct linger lg = { .l_onoff = on, .l_linger = 0 };

	setsockopt(c->client.io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(c->server.io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Both legs to the kernel. Whatever inspection read from the client has
 * been written to the server already, so no byte is held here that would
 * have to go first. */
int conn_cut_start(struct conn *c)
{
	struct proxy *p = c->proxy;
	uint64_t received;
	int err;

	/* Before the hand-off: from then on the kernel writes to both legs, and
	 * reads them. */
	c->client.cut_base_read = c->client.bytes_rx;
	c->server.cut_base_read = c->server.bytes_rx;
	err = tcp_bytes(c->client.io.fd, &received, &c->client.cut_base_written) ?:
		      tcp_bytes(c->server.io.fd, &received, &c->server.cut_base_written);
	if (!err)
		err = cut_handoff(p->cut, c->client.io.fd, c->server.io.fd, &c->pair);
	if (err) {
		p->stats.cut_failed++;
		pr_debug("conn %llu: hand-off refused (%s): splicing", (unsigned long long)c->id,
			 strerror(-err));
		return err;
	}
	p->flow_conns[c->pair.slots[0]] = c;
	p->flow_conns[c->pair.slots[1]] = c;
	set_reset_on_close(c, 1);
	p->stats.cut++;
	c->phase = PHASE_CUT;
	list_del(&c->timer_link);
	conn_cut_poll(c);
	return 0;
}

/* After the hand-off the daemon no longer sees every byte: the kernel's
 * per-socket counts are the record. */
static void read_cut_bytes(struct leg *leg)
{
	uint64_t written;

	if (tcp_bytes(leg->io.fd, &leg->bytes_rx, &written))
		return;
	/* A FIN moves rcv_nxt by one too. */
	if (leg->rd_eof && leg->bytes_rx)
		leg->bytes_rx--;
}

void conn_cut_closing(struct conn *c)
{
	struct proxy *p = c->proxy;

	read_cut_bytes(&c->client);
	read_cut_bytes(&c->server);
	if (c->reason == CLOSE_DONE)
		set_reset_on_close(c, 0);
	p->flow_conns[c->pair.slots[0]] = NULL;
	p->flow_conns[c->pair.slots[1]] = NULL;
	cut_forget(p->cut, &c->pair);
}
