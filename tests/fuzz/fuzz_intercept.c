// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer harness for the intercepting controller (bpf/intercept.bpf.c,
 * cutthru_intercept): each input becomes one Ethernet frame, run through the
 * program with BPF_PROG_TEST_RUN in the test world of tests/bpf/fixture.c,
 * and checked against the oracle (oracle.c), which reads the frame its own
 * way. Checked for every frame:
 *
 * - the property: a frame the oracle finds exposed (its innermost
 *   destination is a protected service, or it is what the security model
 *   drops because it cannot be looked into) does not leave as a plain
 *   pass-through: TC_ACT_OK, no steering mark, counted under a PASS_ reason;
 * - exactly one reason counter moved, by one packet and the frame's bytes;
 * - the verdict is TC_ACT_SHOT exactly when the reason is a drop;
 * - the steering mark is set exactly when the reason is a STEER_ one.
 *
 * A failure prints what it found and aborts, so libFuzzer keeps the input
 * (-artifact_prefix). Under test run bpf_sk_assign() refuses every skb
 * (see tests/bpf/test_intercept.c), so steerable packets show as
 * DROP_ASSIGN, which is not a pass-through.
 *
 * Input: the first byte picks the mode. Even: the rest is the frame, byte
 * for byte. Odd: the rest are choices for the structured builder (frame.c).
 *
 * CUTTHRU_FUZZ_OMIT_SERVICE=N leaves service N (1-based) out of the
 * program's maps while the oracle still protects it: a broken program, for
 * the self-check that the property can fail. CUTTHRU_FUZZ_STATS=1 prints,
 * at exit, how many frames met each (reason, oracle rule) pair.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/libbpf.h>
#include "cutthru/abi.h"
#include "fixture.h"
#include "frame.h"
#include "oracle.h"

#define FRAME_CAP 1514 /* an Ethernet frame without FCS */
#define LIBBPF_LOG_MAX (1 << 20)

static struct fixture fx = { .live_fd = -1 };
static struct oracle_config config;
static struct frame_pools pools;
static struct cutthru_counter last[CUTTHRU_REASONS];
static char artifact_prefix[512] = "./";

/*
 * Coverage the program itself cannot give (libFuzzer sees only this
 * process): one counter per (reason, oracle rule) pair met, so an input
 * reaching a new verdict for a kind of frame is kept in the corpus.
 */
__attribute__((used, section("__libfuzzer_extra_counters"))) static __u8
	verdict_pairs[CUTTHRU_REASONS * ORACLE_RULES];

/* Frames per (reason, rule), for CUTTHRU_FUZZ_STATS. */
static __u64 pair_counts[CUTTHRU_REASONS][ORACLE_RULES];

static void print_stats(void)
{
	__u32 r, rule;

	fprintf(stderr, "fuzz_intercept: frames by verdict reason and oracle rule:\n");
	for (r = 0; r < CUTTHRU_REASONS; r++)
		for (rule = 0; rule < ORACLE_RULES; rule++)
			if (pair_counts[r][rule])
				fprintf(stderr, "  %-18s %-60s %llu\n", fixture_reason_name(r),
					oracle_rule_text(rule),
					(unsigned long long)pair_counts[r][rule]);
}

/* --- Set-up. -------------------------------------------------------------- */

/* libbpf's messages, kept: on a failed load they hold the verifier log. */
static char *libbpf_log;
static size_t libbpf_log_len;

static int keep_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	va_copy(copy, ap);
	if (!libbpf_log)
		libbpf_log = calloc(1, LIBBPF_LOG_MAX);
	if (libbpf_log && libbpf_log_len < LIBBPF_LOG_MAX - 1) {
		n = vsnprintf(libbpf_log + libbpf_log_len, LIBBPF_LOG_MAX - libbpf_log_len, fmt,
			      copy);
		if (n > 0)
			libbpf_log_len += (size_t)n;
		if (libbpf_log_len > LIBBPF_LOG_MAX - 1)
			libbpf_log_len = LIBBPF_LOG_MAX - 1;
	}
	va_end(copy);
	return vfprintf(stderr, fmt, ap);
}

/* A program the verifier refused: its log is the reproducer. */
static void save_load_log(void)
{
	char path[600];
	FILE *f;

	if (!libbpf_log_len)
		return;
	snprintf(path, sizeof(path), "%sverifier.log", artifact_prefix);
	f = fopen(path, "w");
	if (!f || fwrite(libbpf_log, 1, libbpf_log_len, f) != libbpf_log_len)
		fprintf(stderr, "fuzz_intercept: could not write %s\n", path);
	else
		fprintf(stderr,
			"fuzz_intercept: libbpf's messages (the verifier's log) saved in %s\n",
			path);
	if (f)
		fclose(f);
}

static void find_artifact_prefix(int argc, char **argv)
{
	static const char flag[] = "-artifact_prefix=";
	int i;

	for (i = 1; i < argc; i++)
		if (!strncmp(argv[i], flag, sizeof(flag) - 1))
			snprintf(artifact_prefix, sizeof(artifact_prefix), "%s",
				 argv[i] + sizeof(flag) - 1);
}

static void to_prefix(const char *text, int plen, __u16 port, struct oracle_prefix *pfx)
{
	pfx->family = strchr(text, ':') ? AF_INET6 : AF_INET;
	pfx->plen = plen;
	pfx->port = port;
	if (inet_pton(pfx->family, text, pfx->addr) != 1) {
		fprintf(stderr, "fuzz_intercept: bad address %s in the fixture\n", text);
		exit(1);
	}
}

/* The oracle's own copy of the configuration the maps were filled with. */
static void make_config(void)
{
	size_t i;

	for (i = 0; i < fixture_n_services && i < ORACLE_SERVICES_MAX; i++)
		to_prefix(fixture_services[i].addr, fixture_services[i].plen,
			  fixture_services[i].port, &config.services[config.n_services++]);
	for (i = 0; i < fixture_n_local_addrs && i < ORACLE_LOCALS_MAX; i++) {
		const char *a = fixture_local_addrs[i];

		to_prefix(a, strchr(a, ':') ? 128 : 32, 0, &config.locals[config.n_locals++]);
	}
}

/* What the structured mode picks from: the test world's addresses and ports. */
static void make_pools(void)
{
	static const char *const v4[] = { S4, P4, C4, X4, OWN4, U4 };
	static const char *const v6[] = { S6, C6, X6, OWN6, U6 };
	const __u16 ports[] = { 80,
				443,
				81,
				CPORT,
				fx.port_est4,
				fx.port_est6,
				fx.port_tw4,
				fx.port_tw4x,
				4789,
				8472,
				4790,
				6081,
				0 };
	size_t i;

	for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
		inet_pton(AF_INET, v4[i], pools.v4[pools.n_v4++]);
	for (i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		inet_pton(AF_INET6, v6[i], pools.v6[pools.n_v6++]);
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		pools.ports[pools.n_ports++] = ports[i];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *omit = getenv("CUTTHRU_FUZZ_OMIT_SERVICE");
	char why[256] = "";
	int err;

	find_artifact_prefix(*argc, *argv);
	libbpf_set_print(keep_libbpf_log);
	fx.omit_service = omit ? (unsigned int)atoi(omit) : 0;
	if (fixture_setup(&fx, why, sizeof(why))) {
		fprintf(stderr, "fuzz_intercept: setting up: %s\n", why);
		save_load_log();
		exit(1);
	}
	if (fx.omit_service)
		fprintf(stderr, "fuzz_intercept: SELF-CHECK: service %u left out of the maps\n",
			fx.omit_service);
	make_config();
	make_pools();
	if (getenv("CUTTHRU_FUZZ_STATS"))
		atexit(print_stats);
	err = fixture_read_counters(&fx, last);
	if (err) {
		fprintf(stderr, "fuzz_intercept: reading the counters: %s\n", strerror(-err));
		exit(1);
	}
	return 0;
}

/* --- One frame. ------------------------------------------------------------- */

struct outcome {
	__u32 verdict;
	__u32 mark;
	int reason; /* the one that moved, or -1 */
	char detail[256]; /* what moved when it was not exactly one; an error */
};

static void dump_frame(const __u8 *frame, size_t len)
{
	size_t i;

	fprintf(stderr, "frame (%zu bytes):", len);
	for (i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", frame[i]);
	fprintf(stderr, "\n");
}

static void fail(const char *what, const struct oracle_result *o, const struct outcome *out,
		 const __u8 *frame, size_t len)
{
	char dest[80];

	oracle_format_dest(&o->inner, dest, sizeof(dest));
	fprintf(stderr,
		"\nFUZZ FAILURE: %s\n"
		"  innermost destination %s (%s: %s)\n"
		"  layers: %s\n"
		"  verdict %s, reason %s, mark %#x%s\n",
		what, dest, o->exposed ? "exposed" : "not exposed", oracle_rule_text(o->rule),
		o->path,
		out->verdict == TC_ACT_OK   ? "TC_ACT_OK" :
		out->verdict == TC_ACT_SHOT ? "TC_ACT_SHOT" :
					      "(other)",
		out->reason >= 0 ? fixture_reason_name((__u32)out->reason) : "(none)", out->mark,
		out->detail);
	dump_frame(frame, len);
	abort();
}

/* Which reason moved since the last frame: exactly one, by one packet. */
static int counted_reason(const struct cutthru_counter *now, size_t len, struct outcome *out)
{
	int moved = 0, reason = -1, ok = 1;
	size_t used = (size_t)snprintf(out->detail, sizeof(out->detail), "; counted:");
	__u32 r;

	for (r = 0; r < CUTTHRU_REASONS; r++) {
		__u64 pkts = now[r].packets - last[r].packets;
		__u64 bytes = now[r].bytes - last[r].bytes;

		if (!pkts && !bytes)
			continue;
		moved++;
		reason = (int)r;
		ok &= pkts == 1 && bytes == len;
		if (used < sizeof(out->detail))
			used += (size_t)snprintf(out->detail + used, sizeof(out->detail) - used,
						 " %s (%llu packets, %llu bytes)",
						 fixture_reason_name(r), (unsigned long long)pkts,
						 (unsigned long long)bytes);
	}
	if (moved == 1 && ok) {
		out->detail[0] = '\0';
		return reason;
	}
	return -1;
}

/* BPF_PROG_TEST_RUN refuses an IPv4 or IPv6 frame (by its outer ethertype)
 * shorter than the fixed IP header: the program never sees it. */
static int refused_by_test_run(const __u8 *frame, size_t len)
{
	__u16 type = (__u16)(frame[12] << 8 | frame[13]);

	return (type == ETH_P_IP && len < ETH_HLEN + 20) ||
	       (type == ETH_P_IPV6 && len < ETH_HLEN + 40);
}

static void check(const __u8 *frame, size_t len)
{
	struct cutthru_counter now[CUTTHRU_REASONS];
	struct outcome out = { .reason = -1 };
	struct oracle_result o;
	int err, steer, drop;

	oracle_judge(&config, frame, len, &o);
	err = fixture_test_run(&fx, frame, len, &out.verdict, &out.mark);
	if (err == -EINVAL && refused_by_test_run(frame, len))
		return;
	if (err) {
		snprintf(out.detail, sizeof(out.detail), "; test run: %s", strerror(-err));
		fail("BPF_PROG_TEST_RUN failed", &o, &out, frame, len);
	}
	err = fixture_read_counters(&fx, now);
	if (err) {
		snprintf(out.detail, sizeof(out.detail), "; reading them: %s", strerror(-err));
		fail("the counters could not be read", &o, &out, frame, len);
	}
	out.reason = counted_reason(now, len, &out);
	memcpy(last, now, sizeof(last));
	if (out.reason < 0)
		fail("not exactly one reason counted the frame", &o, &out, frame, len);
	verdict_pairs[out.reason * ORACLE_RULES + o.rule] = 1;
	pair_counts[out.reason][o.rule]++;

	drop = out.reason >= CUTTHRU_DROP_NOT_ADMITTED;
	steer = out.reason >= CUTTHRU_STEER_SYN && !drop;
	if (out.verdict != (drop ? TC_ACT_SHOT : TC_ACT_OK))
		fail("the verdict does not match the reason", &o, &out, frame, len);
	if (out.mark != (steer ? STEER_MARK : 0))
		fail("the mark does not match the reason", &o, &out, frame, len);
	if (o.exposed && out.reason < CUTTHRU_STEER_SYN)
		fail("PROPERTY: an exposed frame left as a plain pass-through", &o, &out, frame,
		     len);
}

int LLVMFuzzerTestOneInput(const __u8 *data, size_t size)
{
	static __u8 frame[FRAME_CAP];
	size_t len;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		len = frame_build(&pools, data + 1, size - 1, frame, sizeof(frame));
	} else {
		len = size - 1 < sizeof(frame) ? size - 1 : sizeof(frame);
		memcpy(frame, data + 1, len);
	}
	/* BPF_PROG_TEST_RUN wants at least an Ethernet header. */
	if (len >= ETH_HLEN)
		check(frame, len);
	return 0;
}
