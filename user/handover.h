/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Zero-downtime restart: a new daemon of the same instance takes the
 * listeners and every live connection from the running one, over its
 * control socket, file descriptors passed with SCM_RIGHTS.
 *
 * The exchange (after the request line "takeover VERSION"):
 *   old -> new  HELLO      what must match (interfaces, mark, table, ...);
 *                          the cut-through maps' fds
 *   new -> old  GO         the new daemon is set up (programs loaded)
 *   old -> new  LISTENERS  listeners, control and metrics sockets, counters
 *   old -> new  CONNS...   connections, batched (at most 240 fds a message)
 *   old -> new  END_BATCH  how many connections in inspection remain
 *   new -> old  COMMIT     listeners in the sockmap, filter replaced
 *   old -> new  COMMITTED  the old daemon will not touch them again
 *   old -> new  CONNS...   connections allowed while it finished inspecting
 *   old -> new  END        it exits
 * Either side may send ABORT (a reason) instead, before COMMITTED; the old
 * daemon then goes on serving everything.
 */
#ifndef CUTTHRU_HANDOVER_H
#define CUTTHRU_HANDOVER_H

#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include "cli.h"
#include "cut.h"

#define HANDOVER_VERSION 2
#define HANDOVER_MAGIC 0x43544f48u /* "HOTC" */
#define HANDOVER_MAX_FDS 240 /* SCM_RIGHTS carries at most 253 */
#define HANDOVER_TIMEOUT_S 10

enum handover_type {
	HO_HELLO = 1,
	HO_GO,
	HO_ABORT,
	HO_LISTENERS,
	HO_CONNS,
	HO_END_BATCH,
	HO_COMMIT,
	HO_COMMITTED,
	HO_END,
};

struct handover_hello {
	uint32_t pid;
	uint32_t n_ifaces;
	char ifaces[CONFIG_IFACES_MAX][IF_NAMESIZE];
	uint32_t steer_mark, table, rule_priority;
	uint32_t n_conns;
	uint32_t cut_maps; /* fds that came with it: 0 or CUT_MAPS */
	char bpffs[SERVICE_PATH_MAX];
};

/* A message as received: its payload (malloc()ed) and fds. */
struct handover_msg {
	uint16_t type;
	uint8_t *data;
	size_t len;
	int fds[HANDOVER_MAX_FDS + 13];
	int n_fds;
};

/* Blocking, bounded by HANDOVER_TIMEOUT_S each way. */
int handover_channel_setup(int fd);
int handover_send(int fd, uint16_t type, const void *data, size_t len, const int *fds, int n_fds);
int handover_recv(int fd, struct handover_msg *msg);
/* Frees the payload and closes the fds nobody took (those not -1). */
void handover_msg_free(struct handover_msg *msg);
/* Sends ABORT with a reason; best effort. */
void handover_abort(int fd, const char *why);

struct proxy;

/* Old side: everything but the connections still in inspection, in
 * batches; marks them handed. Returns 0 or -errno; *sent, *kept counted. */
int handover_send_conns(struct proxy *p, int fd, uint32_t *sent, uint32_t *kept);
/* Old side, once COMMITTED: forgets the handed connections. */
void handover_release_conns(struct proxy *p);
/* Old side, on failure: the handed ones are ours again. */
void handover_keep_conns(struct proxy *p);

/* New side: the connections of one CONNS message, added to p (not yet
 * served: conn_resume() once committed). used[] marks their flow slots. */
int handover_adopt_conns(struct proxy *p, struct handover_msg *msg, uint8_t *used, char *why,
			 size_t len);

#endif
