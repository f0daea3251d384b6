// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What the control socket answers: status, the connection list and the
 * counters, as aligned tables for people or JSON for programs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "addr.h"
#include "conn.h"
#include "report.h"

static const char *const reason_names[CUTTHRU_REASONS] = {
	[CUTTHRU_PASS_NOT_IP] = "pass_not_ip",
	[CUTTHRU_PASS_LOCAL] = "pass_local",
	[CUTTHRU_PASS_UNPROTECTED] = "pass_unprotected",
	[CUTTHRU_PASS_NOT_TCP] = "pass_not_tcp",
	[CUTTHRU_PASS_AUTHENTICATED] = "pass_authenticated",
	[CUTTHRU_STEER_SYN] = "steer_syn",
	[CUTTHRU_STEER_FLOW] = "steer_flow",
	[CUTTHRU_STEER_ICMP] = "steer_icmp",
	[CUTTHRU_STEER_NO_CONN] = "steer_no_conn",
	[CUTTHRU_DROP_NOT_ADMITTED] = "drop_not_admitted",
	[CUTTHRU_DROP_NO_LISTENER] = "drop_no_listener",
	[CUTTHRU_DROP_NO_CONN] = "drop_no_conn",
	[CUTTHRU_DROP_ASSIGN] = "drop_assign",
	[CUTTHRU_DROP_MALFORMED] = "drop_malformed",
	[CUTTHRU_DROP_FRAGMENT] = "drop_fragment",
	[CUTTHRU_DROP_UNPARSED] = "drop_unparsed",
	[CUTTHRU_DROP_AUTH_BLOCKED] = "drop_auth_blocked",
	[CUTTHRU_DROP_SYN_RATE] = "drop_syn_rate",
};

const char *reason_name(unsigned int reason)
{
	return reason < CUTTHRU_REASONS && reason_names[reason] ? reason_names[reason] : "?";
}

static const char *const phase_names[] = {
	[PHASE_INSPECTING] = "inspecting", [PHASE_AUTHENTICATING] = "authenticating",
	[PHASE_REFUSING] = "refusing",	   [PHASE_CONNECTING] = "connecting",
	[PHASE_RELAYING] = "relaying",	   [PHASE_CUT] = "cut",
	[PHASE_CLOSED] = "closed",
};

const char *phase_name(enum conn_phase phase)
{
	return phase <= PHASE_CLOSED ? phase_names[phase] : "?";
}

int read_counter_array(int fd, struct cutthru_counter *sum, unsigned int n)
{
	int ncpus = libbpf_num_possible_cpus(), cpu;
	struct cutthru_counter *per_cpu;
	__u32 r;

	if (ncpus <= 0)
		return ncpus ?: -EINVAL;
	per_cpu = calloc((size_t)ncpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	memset(sum, 0, n * sizeof(*sum));
	for (r = 0; r < n; r++) {
		if (bpf_map_lookup_elem(fd, &r, per_cpu)) {
			free(per_cpu);
			return -errno;
		}
		for (cpu = 0; cpu < ncpus; cpu++) {
			sum[r].packets += per_cpu[cpu].packets;
			sum[r].bytes += per_cpu[cpu].bytes;
		}
	}
	free(per_cpu);
	return 0;
}

int read_counters(int fd, struct cutthru_counter sum[CUTTHRU_REASONS])
{
	return read_counter_array(fd, sum, CUTTHRU_REASONS);
}

static void service_text(const struct config *cfg, int id, char *buf, size_t len)
{
	const struct endpoint_prefix *svc;
	char prefix[ENDPOINT_STRLEN];

	if (id <= 0 || id > cfg->n_services) {
		snprintf(buf, len, "-");
		return;
	}
	svc = &cfg->services[id - 1];
	prefix_str(&svc->prefix, prefix, sizeof(prefix));
	snprintf(buf, len, svc->prefix.family == AF_INET6 ? "[%s]:%u" : "%s:%u", prefix, svc->port);
}

int report_status(const struct report *r, int json, FILE *out)
{
	const struct config *cfg = r->proxy->cfg;
	const struct proxy_stats *st = &r->proxy->stats;
	unsigned long long up = (unsigned long long)(now_ms() - r->started_ms) / 1000;
	char svc[ENDPOINT_STRLEN + 8];
	int i;

	if (json) {
		fprintf(out,
			"{\"pid\":%d,\"instance\":\"%s\",\"uptime_s\":%llu,\"config\":\"%s\","
			"\"data_path\":\"%s\",\"sockmap_ready\":%s,\"connections\":%llu,"
			"\"accepted\":%llu,\"reloads\":%llu,\"interfaces\":[",
			(int)getpid(), cfg->instance, up, cfg->config_path,
			data_path_name(cfg->data_path), r->proxy->cut ? "true" : "false",
			(unsigned long long)st->active, (unsigned long long)st->accepted,
			(unsigned long long)st->reloads);
		for (i = 0; i < cfg->n_ifaces; i++)
			fprintf(out, "%s\"%s\"", i ? "," : "", cfg->ifaces[i]);
		fprintf(out, "],\"services\":[");
		for (i = 0; i < cfg->n_services; i++) {
			service_text(cfg, i + 1, svc, sizeof(svc));
			fprintf(out, "%s{\"protect\":\"%s\",\"auth\":\"%s\"}", i ? "," : "", svc,
				auth_module_name(cfg->policies[i].module));
		}
		fprintf(out, "]}\n");
		return 0;
	}
	fprintf(out, "instance      %s (pid %d, up %llu s)\n", cfg->instance, (int)getpid(), up);
	fprintf(out, "config        %s\n", cfg->config_path[0] ? cfg->config_path : "(flags)");
	fprintf(out, "data path     %s%s\n", data_path_name(cfg->data_path),
		r->proxy->cut ? ", sockmap ready" : "");
	fprintf(out, "connections   %llu open, %llu accepted, %llu reloads\n",
		(unsigned long long)st->active, (unsigned long long)st->accepted,
		(unsigned long long)st->reloads);
	fprintf(out, "interfaces   ");
	for (i = 0; i < cfg->n_ifaces; i++)
		fprintf(out, " %s", cfg->ifaces[i]);
	fprintf(out, "\n");
	for (i = 0; i < cfg->n_services; i++) {
		service_text(cfg, i + 1, svc, sizeof(svc));
		fprintf(out, "service       %-24s auth %s\n", svc,
			auth_module_name(cfg->policies[i].module));
	}
	return 0;
}

/* Bytes each way: counted by the daemon, or by the kernel once cut. */
static void conn_bytes(const struct conn *c, uint64_t *to_server, uint64_t *to_client)
{
	uint64_t written;

	*to_server = c->client.bytes_rx;
	*to_client = c->server.bytes_rx;
	if (c->phase == PHASE_CUT) {
		tcp_bytes(c->client.io.fd, to_server, &written);
		tcp_bytes(c->server.io.fd, to_client, &written);
	}
}

static void print_conn(const struct conn *c, int json, int first, FILE *out)
{
	char client[ENDPOINT_STRLEN], server[ENDPOINT_STRLEN], svc[ENDPOINT_STRLEN + 8];
	const struct cutthru_quad *q = &c->quad;
	unsigned long long age = (unsigned long long)(now_ms() - c->started_ms);
	uint64_t up, down;

	endpoint_str(q->family, &q->saddr, ntohs(q->sport), client, sizeof(client));
	endpoint_str(q->family, &q->daddr, ntohs(q->dport), server, sizeof(server));
	service_text(&c->live->cfg, c->service_id, svc, sizeof(svc));
	conn_bytes(c, &up, &down);
	if (json) {
		/* User names hold no quote, backslash or control byte (inspect.c). */
		fprintf(out,
			"%s{\"id\":%llu,\"client\":\"%s\",\"server\":\"%s\",\"service\":\"%s\","
			"\"user\":\"%s\",\"phase\":\"%s\",\"data_path\":\"%s\","
			"\"bytes_to_server\":%llu,\"bytes_to_client\":%llu,\"age_ms\":%llu}",
			first ? "" : ",", (unsigned long long)c->id, client, server, svc,
			c->user ? c->user : "", phase_name(c->phase),
			c->data_path ? c->data_path : "none", (unsigned long long)up,
			(unsigned long long)down, age);
		return;
	}
	fprintf(out, "%-6llu %-40s %-40s %-12s %-14s %-8s %12llu %12llu %8.1f\n",
		(unsigned long long)c->id, client, server, c->user ? c->user : "-",
		phase_name(c->phase), c->data_path ? c->data_path : "-", (unsigned long long)up,
		(unsigned long long)down, (double)age / 1000);
}

int report_conns(const struct report *r, int json, FILE *out)
{
	const struct list_node *node;
	int first = 1;

	if (json)
		fprintf(out, "[");
	else
		fprintf(out, "%-6s %-40s %-40s %-12s %-14s %-8s %12s %12s %8s\n", "ID", "CLIENT",
			"SERVER", "USER", "PHASE", "PATH", "TO_SERVER", "TO_CLIENT", "AGE_S");
	for (node = r->proxy->conns.next; node != &r->proxy->conns; node = node->next) {
		print_conn(container_of(node, struct conn, link), json, first, out);
		first = 0;
	}
	if (json)
		fprintf(out, "]\n");
	return 0;
}

/* The reasons the XDP prefilter drops under (bpf/xdp.bpf.c). */
int xdp_reason(unsigned int reason)
{
	return reason == CUTTHRU_DROP_NOT_ADMITTED || reason == CUTTHRU_DROP_AUTH_BLOCKED ||
	       reason == CUTTHRU_DROP_SYN_RATE;
}

/*
 * The sockmap verdict's counts: redirected bytes the kernel moved; held ones
 * waited for a slow peer in the leg's own queue and the daemon moved them.
 * Zero where sockmap is not in use.
 */
static void print_cut_verdicts(const struct cutthru_counter sum[CUTTHRU_CUT_REASONS], int json,
			       FILE *out)
{
	unsigned int i;

	if (json)
		fprintf(out, ",\"cut_verdicts\":{");
	else
		fprintf(out, "\n%-28s %14s %16s\n", "CUT-THROUGH", "SEGMENTS", "BYTES");
	for (i = 0; i < CUTTHRU_CUT_REASONS; i++) {
		unsigned long long segs = sum[i].packets, bytes = sum[i].bytes;

		if (json)
			fprintf(out, "%s\"%s\":{\"segments\":%llu,\"bytes\":%llu}", i ? "," : "",
				cut_reason_name(i), segs, bytes);
		else
			fprintf(out, "%-28s %14llu %16llu\n", cut_reason_name(i), segs, bytes);
	}
	if (json)
		fprintf(out, "}");
}

int report_stats(const struct report *r, int json, FILE *out)
{
	struct cutthru_counter sum[CUTTHRU_REASONS], xdp[CUTTHRU_REASONS];
	struct cutthru_counter cut[CUTTHRU_CUT_REASONS] = { { 0 } };
	const struct proxy_stats *st = &r->proxy->stats;
	int xdp_on = r->proxy->cfg->xdp_mode != XDP_MODE_OFF;
	unsigned int i;
	int err;

	err = read_counters(r->counters_fd, sum) ?: read_counters(r->xdp_counters_fd, xdp);
	if (!err && r->proxy->cut)
		err = read_counter_array(cut_counters_fd(r->proxy->cut), cut, CUTTHRU_CUT_REASONS);
	if (err) {
		fprintf(out, "reading the counters: %s\n", strerror(-err));
		return err;
	}
	if (!json) {
		/* TC counts every packet it judges; XDP only what it drops (the
		 * packets it passes are counted by TC). */
		fprintf(out, "%-22s %-5s %14s %16s\n", "REASON", "STAGE", "PACKETS", "BYTES");
		for (i = 0; i < CUTTHRU_REASONS; i++)
			fprintf(out, "%-22s %-5s %14llu %16llu\n", reason_name(i), "tc",
				(unsigned long long)sum[i].packets,
				(unsigned long long)sum[i].bytes);
		for (i = 0; xdp_on && i < CUTTHRU_REASONS; i++)
			if (xdp_reason(i))
				fprintf(out, "%-22s %-5s %14llu %16llu\n", reason_name(i), "xdp",
					(unsigned long long)xdp[i].packets,
					(unsigned long long)xdp[i].bytes);
		fprintf(out, "\n%-22s %14s\n", "DAEMON", "COUNT");
		fprintf(out, "%-22s %14llu\n%-22s %14llu\n%-22s %14llu\n%-22s %14llu\n", "accepted",
			(unsigned long long)st->accepted, "auth_ok",
			(unsigned long long)st->auth_ok, "auth_failed",
			(unsigned long long)st->auth_failed, "auth_cached",
			(unsigned long long)st->auth_cached);
		fprintf(out, "%-22s %14llu\n%-22s %14llu\n", "port_waits",
			(unsigned long long)st->port_waits, "cut_paused",
			(unsigned long long)st->cut_paused);
		fprintf(out, "%-22s %14llu\n%-22s %14zu\n", "pipes_grown",
			(unsigned long long)r->proxy->pipes.grows, "pipe_bytes_grown",
			r->proxy->pipes.grown);
		for (i = 1; i < CLOSE_REASONS; i++)
			fprintf(out, "closed_%-15s %14llu\n", close_reason_name(i),
				(unsigned long long)st->closed[i]);
		print_cut_verdicts(cut, 0, out);
		return 0;
	}
	fprintf(out, "{\"verdicts\":{");
	for (i = 0; i < CUTTHRU_REASONS; i++)
		fprintf(out, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}", i ? "," : "",
			reason_name(i), (unsigned long long)sum[i].packets,
			(unsigned long long)sum[i].bytes);
	fprintf(out, "},\"xdp_verdicts\":{");
	for (i = 0; i < CUTTHRU_REASONS; i++)
		fprintf(out, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}", i ? "," : "",
			reason_name(i), (unsigned long long)xdp[i].packets,
			(unsigned long long)xdp[i].bytes);
	fprintf(out,
		"},\"daemon\":{\"accepted\":%llu,\"auth_ok\":%llu,\"auth_failed\":%llu,"
		"\"auth_cached\":%llu,\"refused_no_fds\":%llu,\"port_waits\":%llu,\"cut\":%llu,"
		"\"cut_paused\":%llu,\"pipes_grown\":%llu,\"pipe_bytes_grown\":%zu,\"closed\":{",
		(unsigned long long)st->accepted, (unsigned long long)st->auth_ok,
		(unsigned long long)st->auth_failed, (unsigned long long)st->auth_cached,
		(unsigned long long)st->refused_no_fds, (unsigned long long)st->port_waits,
		(unsigned long long)st->cut, (unsigned long long)st->cut_paused,
		(unsigned long long)r->proxy->pipes.grows, r->proxy->pipes.grown);
	for (i = 1; i < CLOSE_REASONS; i++)
		fprintf(out, "%s\"%s\":%llu", i > 1 ? "," : "", close_reason_name(i),
			(unsigned long long)st->closed[i]);
	fprintf(out, "}}");
	print_cut_verdicts(cut, 1, out);
	fprintf(out, "}\n");
	return 0;
}
