/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The world the intercepting controller is tested in, shared by the packet
 * table (test_intercept.c) and the fuzzer (tests/fuzz/): a network
 * namespace of the caller's own with the addresses below on lo, the program
 * loaded with its maps filled the way user/loader.c fills them, listeners in
 * the sockmap, and connections whose sockets the program finds (established
 * ones and TIME_WAIT ones).
 */
#ifndef CUTTHRU_TESTS_FIXTURE_H
#define CUTTHRU_TESTS_FIXTURE_H

#include <stddef.h>
#include <bpf/libbpf.h>
#include "cutthru/abi.h"

#define STEER_MARK 0x43540000u

/* Clients: admitted, not admitted; the proxy's own addresses. */
#define C4 "198.18.1.5"
#define C4_LIVE "198.18.1.7"
#define X4 "198.18.9.9"
#define OWN4 "198.18.1.1"
#define C6 "2001:db8:1::5"
#define C6_LIVE "2001:db8:1::7"
#define X6 "2001:db8:9::9"
#define OWN6 "2001:db8:1::1"
/* The proxy's own address inside the prefix service 198.19.3.0/24:443. */
#define OWN_IN_P4 "198.19.3.1"
/* Protected services, an address in the prefix service, an unprotected one. */
#define S4 "198.19.2.2"
#define S6 "2001:db8:2::2"
#define P4 "198.19.3.77"
#define U4 "198.19.4.4"
#define U6 "2001:db8:4::4"

#define CPORT 40000

/* A protected service as the loader is given it: prefix and TCP port. */
struct fixture_service {
	const char *addr;
	int plen;
	__u16 port;
	int limiter; /* failed logins may block its sources (service 1) */
};

/* Service ids are 1-based, in this order, as the loader numbers them. */
extern const struct fixture_service fixture_services[];
extern const size_t fixture_n_services;
/* The proxy's own addresses (the local_addrs map). */
extern const char *const fixture_local_addrs[];
extern const size_t fixture_n_local_addrs;

struct fixture {
	struct intercept_bpf *skel;
	int prog_fd;
	int counters_fd;
	int listeners_fd;
	int quads_fd;
	struct xdp_bpf *xdp_skel; /* the XDP prefilter, on the same maps */
	int xdp_prog_fd;
	int xdp_counters_fd;
	int ncpus;
	struct cutthru_counter *percpu; /* ncpus * CUTTHRU_REASONS */
	int listen_fd[CUTTHRU_LISTENER_SLOTS];
	int wildcard_fd; /* someone's listener on :443, the prefix service's port */
	int est_fd[4]; /* IPv4 client, server; IPv6 client, server */
	__u16 port_est4, port_est6, port_tw4, port_tw4x;
	/* Left out of the maps (1-based service id), 0 for none: a broken
	 * program for the fuzzer's self-check. */
	unsigned int omit_service;
	int live_fd; /* packet socket on lo, once attached */
	int lo_ifindex;
	struct bpf_tc_hook hook;
	struct bpf_tc_opts tc_opts;
};

/* "what: strerror(err)" into why; returns -1. */
int fixture_fail(char *why, size_t len, const char *what, int err);
/* An address of either family (by the text's shape) into the ABI's form. */
void fixture_addr(const char *text, __u8 *family, union cutthru_addr *addr);

/* Namespace, program, maps, sockets. On failure why names what failed; a
 * verifier rejection has been printed by libbpf. Needs CAP_SYS_ADMIN. */
int fixture_setup(struct fixture *fx, char *why, size_t len);
void fixture_teardown(struct fixture *fx);
/* Puts the daemon's listeners in the sockmap (on) or takes them out. */
int fixture_set_listeners(struct fixture *fx, int on);

/* Every reason's counter, summed over the CPUs. Returns 0 or -errno. */
int fixture_read_counters(struct fixture *fx, struct cutthru_counter sum[CUTTHRU_REASONS]);
/* One frame through cutthru_intercept with BPF_PROG_TEST_RUN: its return
 * value and the mark it left. Returns 0 or -errno. */
int fixture_test_run(struct fixture *fx, const __u8 *frame, size_t len, __u32 *retval, __u32 *mark);
/* The XDP prefilter's drop counters, summed over the CPUs. */
int fixture_read_xdp_counters(struct fixture *fx, struct cutthru_counter sum[CUTTHRU_REASONS]);
/* One frame through cutthru_xdp with BPF_PROG_TEST_RUN: its return value
 * and the frame it left (*out_len: out's size in, the frame's length out). */
int fixture_xdp_run(struct fixture *fx, const __u8 *frame, size_t len, __u32 *retval, __u8 *out,
		    __u32 *out_len);
/* "DROP_NO_CONN" and the like. */
const char *fixture_reason_name(__u32 reason);

#endif
