/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One proxied connection (the seed's figures 7-9): the client leg, accepted
 * as the server, and the server leg, opened as the client; its phase, its
 * buffers and its event record. struct proxy holds what they share.
 */
#ifndef CUTTHRU_CONN_H
#define CUTTHRU_CONN_H

#include <stdint.h>
#include <sys/socket.h>
#include "cutthru/abi.h"
#include "auth.h"
#include "cli.h"
#include "cut.h"
#include "list.h"
#include "loop.h"
#include "relay.h"

enum conn_phase {
	PHASE_INSPECTING, /* reading the client's first bytes; no server leg */
	PHASE_AUTHENTICATING, /* a worker checks the credentials */
	PHASE_REFUSING, /* our answer (401, TLS alert) goes out, then close */
	PHASE_CONNECTING, /* client accepted, server leg not up yet */
	PHASE_RELAYING, /* both legs up, bytes moving through the daemon */
	PHASE_CUT, /* handed to the kernel: sockmap moves the bytes */
	PHASE_CLOSED, /* both fds closed; freed before the next sleep */
};

enum close_reason {
	CLOSE_NONE = 0,
	CLOSE_DONE, /* both sides finished with FIN */
	CLOSE_CLIENT_RESET,
	CLOSE_SERVER_RESET,
	CLOSE_CONNECT_REFUSED,
	CLOSE_CONNECT_TIMEOUT,
	CLOSE_CONNECT_FAILED,
	CLOSE_NO_RESOURCES, /* out of fds or memory */
	CLOSE_SHUTDOWN, /* the daemon is stopping */
	CLOSE_FLUSH_TIMEOUT, /* cut: bytes before a FIN never got through */
	CLOSE_DENIED, /* inspection said no and told the client (401, alert) */
	CLOSE_REFUSED, /* inspection said no with a reset (malformed, blocked) */
	CLOSE_INSPECT_TIMEOUT, /* no complete request or ClientHello in time */
	CLOSE_CLIENT_GONE, /* the client left before inspection decided */
	CLOSE_REASONS,
};

const char *close_reason_name(enum close_reason reason);

struct conn;

struct leg {
	struct io io;
	struct conn *conn;
	struct relay_dir rx; /* read from this leg, to be written to the other */
	uint64_t bytes_rx;
	int rd_eof; /* the peer sent FIN and we read it */
	int wr_shut; /* we sent FIN (shutdown(SHUT_WR)) */
	int readable; /* the last wake-up said there is something to read */
	uint64_t cut_base_written; /* tcp_bytes() written at the hand-off: the
				    * SYN may count as one, the inspected
				    * head written before it too */
	uint64_t cut_base_read; /* bytes the daemon read before the hand-off */
	int cut_holding; /* cut: the verdict holds what this leg receives */
	int cut_moving; /* ...and the daemon moves it: the peer took the rest */
	int cut_send_full; /* cut: a held byte written to it met a full queue */
};

struct inspect; /* inspect.c: the state of PHASE_INSPECTING..REFUSING */

/*
 * A configuration in force, with what it loaded (users files). A reload
 * makes a new one; each connection keeps the one it was accepted under
 * until it closes, so a reload never changes a connection under way.
 */
struct live_config {
	struct config cfg;
	struct auth_users *users[CONFIG_SERVICES_MAX]; /* http-basic files */
	int refs;
};

/* Loads what cfg names (users files); one message in err on failure. */
struct live_config *live_config_new(const struct config *cfg, char *err, size_t errlen);
struct live_config *live_config_get(struct live_config *lc);
void live_config_put(struct live_config *lc);

/* The event record is the quad, the phase, the reason and the byte counts. */
struct conn {
	struct proxy *proxy;
	struct leg client;
	struct leg server;
	enum conn_phase phase;
	enum close_reason reason;
	struct cutthru_quad quad; /* client -> original destination */
	struct live_config *live; /* the configuration it was accepted under */
	int service_id; /* index + 1 into live->cfg.services */
	struct inspect *insp; /* until the connection is allowed or closed */
	char *user; /* the login (http-basic), NULL without */
	char *server_name; /* the TLS server name (tls-sni), NULL without */
	const char *decision; /* "allow", "deny"; NULL: none needed */
	const char *why; /* the decision's reason */
	const char *data_path; /* how the bytes moved: copy, splice, sockmap */
	uint64_t id;
	uint64_t started_ms;
	uint64_t deadline_ms; /* connect deadline; then, cut, the FIN-flush one */
	uint64_t connect_by_ms; /* the connect deadline, while port_waiting */
	unsigned int port_waited; /* times the server leg found its 4-tuple taken */
	struct cut_pair pair; /* PHASE_CUT: cookies and flows (0: client's) */
	int handed; /* sent to a new daemon (zero-downtime restart), not yet released */
	char *adopted_text; /* taken over: decision and why live here */
	struct list_node link; /* proxy->conns or proxy->closed */
	struct list_node timer_link; /* on one of proxy's timer lists or polling */
};

/* Upper bounds (seconds) of the connection-duration histogram's buckets. */
#define DURATION_BUCKETS 8
extern const double duration_bucket_s[DURATION_BUCKETS];

struct proxy_stats {
	uint64_t accepted;
	uint64_t active;
	uint64_t refused_no_fds; /* accept() or socket() ran out of fds */
	uint64_t port_waits; /* server legs that waited for their 4-tuple */
	uint64_t cut; /* connections handed to the kernel */
	uint64_t cut_failed; /* hand-offs refused: relayed by splice instead */
	uint64_t cut_paused; /* times a cut direction paused for a slow peer */
	uint64_t auth_ok;
	uint64_t auth_failed;
	uint64_t auth_cached; /* the source's earlier login stood in */
	uint64_t inspect_refused;
	uint64_t reloads;
	uint64_t closed[CLOSE_REASONS];
	uint64_t bytes[DATA_PATHS][2]; /* closed connections: to server, client */
	uint64_t duration_le[DURATION_BUCKETS]; /* cumulative, as Prometheus */
	uint64_t duration_count;
	uint64_t duration_sum_ms;
};

struct proxy {
	struct loop *loop;
	const struct config *cfg; /* &live->cfg */
	int quads_fd; /* the BPF quad list, to remove closed connections */
	struct io listeners[CUTTHRU_LISTENER_SLOTS];
	int spare_fd; /* given up to accept and reset when fds run out */
	struct list_node conns; /* open connections */
	/* By deadline: each list has one timeout, so it is FIFO. */
	struct list_node connecting; /* connect_timeout_ms */
	struct list_node inspecting; /* inspect_timeout_ms */
	struct list_node lingering; /* LINGER_MS: refused, draining the client */
	struct list_node port_waiting; /* PORT_RETRY_MS: 4-tuple still taken */
	struct list_node polling; /* cut, with held bytes or a FIN to pass on */
	struct pipe_pool pipes; /* DATA_PATH_SPLICE */
	struct cut *cut; /* DATA_PATH_SOCKMAP, when its self-test passed */
	struct conn **flow_conns; /* cut flow slot -> its connection */
	struct io cut_events; /* the verdict's reports */
	char *cut_move_buf; /* CUT_MOVE_BYTES, once a cut leg held bytes */
	struct list_node closed; /* to free once no event can refer to them */
	struct live_config *live; /* the configuration new connections get */
	struct auth_pool auth; /* password checks, off the loop */
	int auth_started;
	struct io auth_done;
	int auth_sources_fd; /* BPF: logged-in sources */
	int auth_failures_fd; /* BPF: failed logins, blocks */
	int access_log_fd; /* -1: records go to the log */
	struct proxy_stats stats;
	uint64_t next_id;
	/* Zero-downtime restart, old side: the channel to the new daemon while
	 * connections still in inspection are finished here and sent on as
	 * soon as they are allowed (-1: none). */
	int handover_fd;
	int draining;
	uint64_t drain_deadline_ms;
};

/* The intercepting controller's maps the daemon writes. */
struct proxy_maps {
	int quads_fd;
	int auth_sources_fd;
	int auth_failures_fd;
	int counters_fd;
	int xdp_counters_fd; /* the XDP prefilter's drops */
};

/* proxy.c */
int proxy_init(struct proxy *p, struct loop *loop, const struct config *cfg,
	       const struct proxy_maps *maps, struct cut *cut);
/* The password workers, when a service needs them: after privs_drop(),
 * which must be alone in the process. */
int proxy_start_workers(struct proxy *p);
/* A reload in two steps: what may fail first (workers cfg needs), then,
 * once the BPF side follows cfg too, the switch: new connections follow lc
 * from then on; those open keep theirs. */
int proxy_prepare(struct proxy *p, const struct config *cfg);
void proxy_use(struct proxy *p, struct live_config *lc);
/* The kernel cut-through, ready (its self-test passed). */
int proxy_set_cut(struct proxy *p, struct cut *cut);
/* What proxy_init set up for logins and the access log (also on its failure). */
void proxy_free_auth(struct proxy *p);
/* Opens the transparent listener of one family. Returns its fd or -errno. */
int proxy_listen(struct proxy *p, int family);
/* Resets every connection and closes the listeners. */
void proxy_shutdown(struct proxy *p);
/* Zero-downtime restart: stop or resume accepting (the listener stays); a
 * listener received from the old daemon; closing the listeners once they
 * were handed over (never shut down: the new daemon accepts on them). */
void proxy_accepting(struct proxy *p, int on);
int proxy_adopt_listener(struct proxy *p, int slot, int fd);
void proxy_close_listeners(struct proxy *p);

/* conn.c */
void conn_accepted(struct proxy *p, int client_fd, const struct sockaddr_storage *peer);
void conn_close(struct conn *c, enum close_reason reason);
void conn_connect_timeout(struct conn *c);
void conn_port_retry(struct conn *c);
int sock_error(int fd);
void close_with_reset(int fd);
/* Opens the server leg and waits for it (PHASE_CONNECTING). */
void conn_connect(struct conn *c);
enum close_reason reset_reason(const struct leg *leg);
/* Zero-downtime restart. conn_release forgets a connection another daemon
 * now holds: its fds closed here with neither reset nor shutdown (the
 * sockets live on in the other process), its quad and sockhash entries
 * left to the other. conn_resume starts serving one taken over. */
void conn_release(struct conn *c);
void conn_resume(struct conn *c);

/* inspect.c: before the server leg, the service's module decides */
/* Returns 1 when inspection holds the connection, 0 when it may connect to
 * the server at once, or -errno. */
int inspect_begin(struct conn *c);
void inspect_event(struct conn *c, uint32_t events);
void inspect_timeout(struct conn *c);
void inspect_linger_timeout(struct conn *c);
/* The eventfd of the auth workers is readable. */
void inspect_auth_done(struct proxy *p);
/* Writes what inspection let through to the server leg, once it is up.
 * Returns 0 when all is written, -EAGAIN to wait for EPOLLOUT, or -errno. */
int inspect_send_head(struct conn *c);
void inspect_free(struct conn *c);
/* The head still to be written to the server leg (CONNECTING); and the
 * same, given to a connection taken over. */
size_t inspect_pending_head(const struct conn *c, const char **data);
int inspect_adopt_head(struct conn *c, const void *head, size_t len);

/* access_log.c: one record per connection */
int access_log_open(struct proxy *p);
void access_log_record(struct proxy *p, const struct conn *c);

/* handover.c: a connection allowed while the old daemon finishes it goes
 * to the new one instead of connecting here. Returns 0 when sent. */
int handover_send_allowed(struct proxy *p, struct conn *c);

/* conn_cut.c: the connection once handed to the kernel */
int conn_cut_start(struct conn *c);
void conn_cut_event(struct conn *c, struct leg *leg, uint32_t events);
/* Moves held bytes and passes on FINs; for connections on proxy->polling. */
void conn_cut_poll(struct conn *c);
/* The verdict reported that flow_slot redirected more: is its peer behind? */
void conn_cut_report(void *proxy, uint32_t flow_slot);
void conn_cut_closing(struct conn *c);
void conn_free(struct conn *c);

#endif
