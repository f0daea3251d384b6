/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel cut-through: both legs of an allowed connection handed to a
 * sockhash whose sk_skb verdict program (bpf/cut.bpf.c) redirects each
 * leg's received bytes to the other leg's send side, with flow control
 * shared through a mapped array (struct cutthru_cut_flow).
 */
#ifndef CUTTHRU_CUT_H
#define CUTTHRU_CUT_H

#include <stddef.h>
#include <stdint.h>
#include "cutthru/abi.h"

/*
 * What one direction may keep in the router while its reader is behind:
 * redirected bytes not yet in the peer's send queue (credit granted to the
 * verdict), and each leg's receive buffer (sk_rcvbuf), which bounds the
 * bytes the verdict holds.
 */
#define CUT_QUEUE_BYTES (4u << 20)
#define CUT_RCVBUF (4 << 20)
/* At most this many held bytes are moved at once (one buffer per daemon). */
#define CUT_MOVE_BYTES (1u << 20)

struct cut_bpf;
struct ring_buffer;
struct bpf_program;

/* Called for each flow the verdict reports (ring buffer). */
typedef void (*cut_report_cb)(void *ctx, uint32_t flow_slot);

struct cut {
	struct cut_bpf *skel;
	struct bpf_program *verdict; /* the one attached */
	int no_overlap_skip; /* kernel before 6.3: the plain verdict */
	int socks_fd;
	int peers_fd;
	struct cutthru_cut_flow *flows; /* cut_flows, mmap()ed */
	size_t flows_len;
	uint32_t *free_slots; /* a stack of unused flow slots */
	uint32_t n_free;
	struct ring_buffer *events;
	cut_report_cb report;
	void *report_ctx;
};

/* Per handed-off connection: the legs' cookies and their flows' slots
 * (index 0: what leg A receives, toward B; 1: the other way). */
struct cut_pair {
	uint64_t cookies[2];
	uint32_t slots[2];
};

/*
 * Loads and attaches the verdict program, then proves on two loopback
 * connections that redirection works here, bytes queued before the hand-off
 * included. Returns 0, or -errno with the reason in why.
 */
int cut_init(struct cut *cut, char *why, size_t len);
/*
 * The same on the maps of a running daemon (zero-downtime restart): its
 * sockets never leave the sockhash and their flow records stay where the
 * verdict finds them. The self-test uses two flow slots no connection is
 * ever given, so that it cannot touch one of the old daemon's.
 */
#define CUT_MAPS 5 /* cut_socks, cut_peers, cut_flows, cut_events, cut_counters */
int cut_init_shared(struct cut *cut, const int map_fds[CUT_MAPS], char *why, size_t len);
/* The fds of those maps, in that order, to hand to the next daemon. */
void cut_map_fds(const struct cut *cut, int map_fds[CUT_MAPS]);
/* Flow slots the connections taken over hold: no longer free here.
 * used[slot] != 0 for each. */
void cut_claim_slots(struct cut *cut, const uint8_t *used);
void cut_close(struct cut *cut);
/* The ring buffer's fd, for the event loop, and its consumer. */
int cut_events_fd(const struct cut *cut);
void cut_consume_events(struct cut *cut);
/* The verdict's per-CPU counters (CUTTHRU_CUT_REASONS slots), and what
 * each slot counts. */
int cut_counters_fd(const struct cut *cut);
const char *cut_reason_name(unsigned int reason);
/* Hands two connected sockets to the kernel. */
int cut_handoff(struct cut *cut, int fd_a, int fd_b, struct cut_pair *pair);
/* Forgets the pair (the sockhash drops closed sockets by itself). */
void cut_forget(struct cut *cut, struct cut_pair *pair);

static inline struct cutthru_cut_flow *cut_flow(struct cut *cut, uint32_t slot)
{
	return &cut->flows[slot];
}

/*
 * Bytes fd received in order, and bytes written into its send queue (acked
 * or not), both from tcp_info: what tells whether everything one leg
 * received has been handed to the other before a FIN is passed on.
 */
int tcp_bytes(int fd, uint64_t *received, uint64_t *written);

#endif
