/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel cut-through: both legs of an allowed connection handed to a
 * sockhash whose sk_skb verdict program (bpf/cut.bpf.c) redirects each
 * leg's received bytes to the other leg's send side.
 */
#ifndef CUTTHRU_CUT_H
#define CUTTHRU_CUT_H

#include <stddef.h>
#include <stdint.h>

struct cut_bpf;

struct cut {
	struct cut_bpf *skel;
	int socks_fd;
	int peers_fd;
};

/*
 * Loads and attaches the verdict program, then proves on two loopback
 * connections that redirection works here, bytes queued before the hand-off
 * included. Returns 0, or -errno with the reason in why.
 */
int cut_init(struct cut *cut, char *why, size_t len);
void cut_close(struct cut *cut);
/* Hands two connected sockets to the kernel; fills their cookies. */
int cut_handoff(struct cut *cut, int fd_a, int fd_b, uint64_t cookies[2]);
/* Forgets the pair (the sockhash drops closed sockets by itself). */
void cut_forget(struct cut *cut, const uint64_t cookies[2]);

/*
 * Bytes fd received in order, and bytes written into its send queue (acked
 * or not), both from tcp_info: what tells whether everything one leg
 * received has been handed to the other before a FIN is passed on.
 */
int tcp_bytes(int fd, uint64_t *received, uint64_t *written);

#endif
