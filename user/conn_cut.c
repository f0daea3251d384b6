// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A connection after the hand-off (PHASE_CUT): the kernel moves the bytes;
 * the daemon passes FIN and RST on, keeps each direction's in-kernel queue
 * bounded, and keeps the record.
 *
 * Flow control, per direction (src receives, dst sends): the verdict
 * redirects what src receives into dst's psock queue, which the kernel
 * neither charges nor bounds, so it does so only on credit (flow->limit):
 * at most CUT_QUEUE_BYTES more than dst has taken into its send queue. The
 * daemon renews the credit whenever the verdict reports progress. Without
 * credit the verdict holds new bytes in src's own receive queue, bounded by
 * its fixed receive buffer (CUT_RCVBUF), whose window closes. Once dst has
 * taken every redirected byte, the daemon moves the held bytes to dst
 * itself, and the verdict redirects again when all of them have been
 * written. Bytes never change order (see struct cutthru_cut_flow).
 *
 * The daemon peeks at held bytes, writes them and only then consumes what
 * dst took. Consuming opens src's window again, and a segment that arrives
 * while any held byte is not written is held too: read first, the sender
 * refilled the window while the daemon wrote, and the hold went on for as
 * long as the sender kept up (in a bulk upload, 90 % of the bytes went
 * through the daemon; now about half).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "conn.h"
#include "log.h"

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

/* Redirected bytes dst has taken into its send queue (the rest of what
 * it took there the daemon wrote); negative when dst cannot be asked (its
 * error event follows). */
static int64_t peer_taken(const struct direction *d)
{
	uint64_t received, written;

	if (tcp_bytes(d->dst->io.fd, &received, &written))
		return -1;
	written -= d->dst->cut_base_written;
	return (int64_t)(written - READ_ONCE(d->flow->relayed));
}

/* Lets the verdict redirect up to CUT_QUEUE_BYTES beyond what dst took.
 * Returns the bytes redirected that dst has not taken yet (< 0: error). */
static int64_t grant(const struct direction *d)
{
	int64_t taken = peer_taken(d);

	if (taken < 0)
		return -1;
	if ((uint64_t)taken + CUT_QUEUE_BYTES > READ_ONCE(d->flow->limit))
		WRITE_ONCE(d->flow->limit, (uint64_t)taken + CUT_QUEUE_BYTES);
	return (int64_t)(READ_ONCE(d->flow->redirected) - (uint64_t)taken);
}

/* Only bytes an older daemon handed over fill a buffer here; once they are
 * written it goes. */
static void release_buffer(struct relay_dir *rx)
{
	if (rx->buf.data) {
		relay_dir_free(rx);
		relay_dir_init(rx, DATA_PATH_SOCKMAP, 0, NULL);
	}
}

/* Writes held bytes to dst, then consumes from src what dst took. */
static int move_peeked(struct conn *c, struct direction *d, uint64_t want)
{
	struct proxy *p = c->proxy;
	ssize_t n, taken;

	if (!p->cut_move_buf && !(p->cut_move_buf = malloc(CUT_MOVE_BYTES)))
		return CLOSE_NO_RESOURCES;
	n = recv(d->src->io.fd, p->cut_move_buf, want < CUT_MOVE_BYTES ? want : CUT_MOVE_BYTES,
		 MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		d->src->rd_eof = 1;
	if (n <= 0)
		return n < 0 && errno != EAGAIN && errno != EINTR ? reset_reason(d->src) : 0;
	taken = send(d->dst->io.fd, p->cut_move_buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (taken < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return reset_reason(d->dst);
		d->dst->cut_send_full = 1;
		return 0;
	}
	/* The same bytes again, now gone from src: nothing else reads it. */
	if (recv(d->src->io.fd, p->cut_move_buf, (size_t)taken, MSG_DONTWAIT) != taken)
		return reset_reason(d->src);
	WRITE_ONCE(d->flow->relayed, d->flow->relayed + (uint64_t)taken);
	return 0;
}

/* Moves held bytes, at most up to `held` (anything later is the verdict's
 * to count): first those an older daemon handed over in its buffer. */
static int move_some(struct conn *c, struct direction *d, uint64_t held)
{
	struct relay_dir *rx = &d->src->rx;
	ssize_t n;

	d->dst->cut_send_full = 0;
	if (relay_dir_pending(rx)) {
		n = relay_dir_drain(rx, d->dst->io.fd);
		if (n < 0 && n != -EAGAIN)
			return reset_reason(d->dst);
		if (n > 0)
			WRITE_ONCE(d->flow->relayed, d->flow->relayed + (uint64_t)n);
		if (relay_dir_pending(rx))
			return 0;
		release_buffer(rx);
	}
	if (held == d->flow->relayed)
		return 0;
	return move_peeked(c, d, held - d->flow->relayed);
}

/*
 * Renews the credit and, while the verdict holds, moves the held bytes from
 * src to dst once dst has taken every redirected byte. Returns 0 when
 * nothing is held, 1 to be looked at again, or a close reason (> 1).
 */
static int move_held(struct conn *c, struct direction *d)
{
	/* Read first: a byte held after this may follow a redirected one that
	 * the queue below does not show yet. */
	uint64_t held = READ_ONCE(d->flow->held);
	int64_t queued;
	int r;

	__sync_synchronize();
	queued = grant(d);
	if (held == d->flow->relayed && !relay_dir_pending(&d->src->rx)) {
		d->src->cut_holding = d->src->cut_moving = 0;
		return 0;
	}
	if (!d->src->cut_holding) {
		d->src->cut_holding = 1;
		c->proxy->stats.cut_paused++;
	}
	if (queued != 0)
		return 1; /* the peer is behind: look again */
	d->src->cut_moving = 1;
	r = move_some(c, d, held);
	if (r)
		return r;
	/* The credit again, now that dst took what was written. */
	grant(d);
	return 1;
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

/*
 * FIN, RST and errors always. Bytes held: before the daemon knows of a hold,
 * so that it learns of it even if the report was lost (after a FIN the leg
 * is always readable; a FIN waiting is polled anyway); while it moves them,
 * as long as the peer takes them. Room for bytes the peer's queue refused.
 */
static uint32_t cut_interest(struct conn *c, struct leg *leg)
{
	struct leg *peer = leg == &c->client ? &c->server : &c->client;
	uint32_t ev = leg->rd_eof ? 0 : EPOLLRDHUP;

	if ((!leg->cut_holding && !leg->rd_eof) ||
	    (leg->cut_moving && !peer->cut_send_full && !relay_dir_pending(&leg->rx)))
		ev |= EPOLLIN;
	if (relay_dir_pending(&peer->rx) || leg->cut_send_full)
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
	/* A hold that has begun is the polling's to watch. */
	if (READ_ONCE(d.flow->held) != READ_ONCE(d.flow->relayed))
		conn_cut_poll(c);
	else
		grant(&d);
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
