// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "addr.h"
#include "log.h"
#include "metrics.h"

static void counter_header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_verdicts(const struct report *r, FILE *out)
{
	struct cutthru_counter sum[CUTTHRU_REASONS];
	unsigned int i;

	if (read_counters(r->counters_fd, sum))
		return;
	counter_header(out, "cutthru_packets_total", "counter",
		       "Packets the intercepting controller judged, by verdict reason.");
	for (i = 0; i < CUTTHRU_REASONS; i++)
		fprintf(out, "cutthru_packets_total{reason=\"%s\"} %llu\n", reason_name(i),
			(unsigned long long)sum[i].packets);
	if (!read_counters(r->xdp_counters_fd, sum)) {
		counter_header(out, "cutthru_xdp_dropped_packets_total", "counter",
			       "Packets the XDP prefilter dropped before TC, by verdict reason.");
		for (i = 0; i < CUTTHRU_REASONS; i++)
			if (xdp_reason(i))
				fprintf(out,
					"cutthru_xdp_dropped_packets_total{reason=\"%s\"} %llu\n",
					reason_name(i), (unsigned long long)sum[i].packets);
		if (read_counters(r->counters_fd, sum))
			return;
	}
	counter_header(out, "cutthru_syns_intercepted_total", "counter",
		       "New connections steered to the proxy.");
	fprintf(out, "cutthru_syns_intercepted_total %llu\n",
		(unsigned long long)sum[CUTTHRU_STEER_SYN].packets);
}

/* Bytes after sockmap hand-offs: redirected by the kernel, or held and
 * moved by the daemon (cutthru stats: CUT-THROUGH). */
static void render_cut(const struct report *r, FILE *out)
{
	struct cutthru_counter sum[CUTTHRU_CUT_REASONS];
	unsigned int i;

	if (!r->proxy->cut ||
	    read_counter_array(cut_counters_fd(r->proxy->cut), sum, CUTTHRU_CUT_REASONS))
		return;
	counter_header(out, "cutthru_cut_bytes_total", "counter",
		       "Bytes the sockmap verdict saw after hand-offs, by verdict.");
	for (i = 0; i < CUTTHRU_CUT_REASONS; i++)
		fprintf(out, "cutthru_cut_bytes_total{verdict=\"%s\"} %llu\n", cut_reason_name(i),
			(unsigned long long)sum[i].bytes);
}

static void render_connections(const struct report *r, FILE *out)
{
	static const char *const paths[] = { "none", "copy", "splice", "sockmap" };
	unsigned long long count[PHASE_CLOSED + 1][4] = { { 0 } };
	const struct list_node *node;
	unsigned int ph, pa;

	for (node = r->proxy->conns.next; node != &r->proxy->conns; node = node->next) {
		const struct conn *c = container_of(node, struct conn, link);

		for (pa = 1; pa < 4; pa++)
			if (c->data_path && !strcmp(c->data_path, paths[pa]))
				break;
		count[c->phase][pa < 4 ? pa : 0]++;
	}
	counter_header(out, "cutthru_connections", "gauge",
		       "Open proxied connections, by phase and data path.");
	for (ph = 0; ph < PHASE_CLOSED; ph++)
		for (pa = 0; pa < 4; pa++)
			if (count[ph][pa] || pa == 0)
				fprintf(out,
					"cutthru_connections{phase=\"%s\",data_path=\"%s\"} %llu\n",
					phase_name(ph), paths[pa], count[ph][pa]);
}

static void render_daemon(const struct report *r, FILE *out)
{
	const struct proxy_stats *st = &r->proxy->stats;
	unsigned int i;

	counter_header(out, "cutthru_logins_total", "counter",
		       "Logins by result (cached: an earlier login of the source stood in).");
	fprintf(out, "cutthru_logins_total{result=\"ok\"} %llu\n", (unsigned long long)st->auth_ok);
	fprintf(out, "cutthru_logins_total{result=\"failed\"} %llu\n",
		(unsigned long long)st->auth_failed);
	fprintf(out, "cutthru_logins_total{result=\"cached\"} %llu\n",
		(unsigned long long)st->auth_cached);
	counter_header(out, "cutthru_connections_accepted_total", "counter",
		       "Connections accepted.");
	fprintf(out, "cutthru_connections_accepted_total %llu\n", (unsigned long long)st->accepted);
	counter_header(out, "cutthru_connections_closed_total", "counter",
		       "Connections closed, by reason.");
	for (i = 1; i < CLOSE_REASONS; i++)
		fprintf(out, "cutthru_connections_closed_total{reason=\"%s\"} %llu\n",
			close_reason_name(i), (unsigned long long)st->closed[i]);
	counter_header(out, "cutthru_bytes_total", "counter",
		       "Bytes of closed connections, by data path and direction.");
	for (i = 0; i < DATA_PATHS; i++) {
		fprintf(out, "cutthru_bytes_total{data_path=\"%s\",direction=\"to_server\"} %llu\n",
			data_path_name(i), (unsigned long long)st->bytes[i][0]);
		fprintf(out, "cutthru_bytes_total{data_path=\"%s\",direction=\"to_client\"} %llu\n",
			data_path_name(i), (unsigned long long)st->bytes[i][1]);
	}
	counter_header(out, "cutthru_connection_duration_seconds", "histogram",
		       "How long closed connections lasted.");
	for (i = 0; i < DURATION_BUCKETS; i++)
		fprintf(out, "cutthru_connection_duration_seconds_bucket{le=\"%g\"} %llu\n",
			duration_bucket_s[i], (unsigned long long)st->duration_le[i]);
	fprintf(out, "cutthru_connection_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)st->duration_count);
	fprintf(out, "cutthru_connection_duration_seconds_sum %.3f\n",
		(double)st->duration_sum_ms / 1000);
	fprintf(out, "cutthru_connection_duration_seconds_count %llu\n",
		(unsigned long long)st->duration_count);
	counter_header(out, "cutthru_reloads_total", "counter", "Configuration reloads.");
	fprintf(out, "cutthru_reloads_total %llu\n", (unsigned long long)st->reloads);
}

int metrics_render(const struct report *r, FILE *out)
{
	render_verdicts(r, out);
	render_cut(r, out);
	render_connections(r, out);
	render_daemon(r, out);
	return 0;
}

static enum MHD_Result serve(void *ctx, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **state)
{
	const struct metrics *m = ctx;
	struct MHD_Response *resp;
	char *body = NULL;
	size_t len = 0;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;
	FILE *out;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	out = open_memstream(&body, &len);
	if (!out)
		return MHD_NO;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		fprintf(out, "only GET\n");
	} else if (strcmp(url, "/metrics")) {
		status = MHD_HTTP_NOT_FOUND;
		fprintf(out, "see /metrics\n");
	} else {
		metrics_render(m->report, out);
	}
	fclose(out);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_mhd(struct loop *loop, struct io *io, uint32_t events)
{
	struct metrics *m = io->ctx;

	(void)loop;
	(void)events;
	MHD_run(m->mhd);
}

int metrics_start(struct metrics *m, struct loop *loop, const char *addr,
		  const struct report *report)
{
	return metrics_start_fd(m, loop, addr, report, -1);
}

int metrics_start_fd(struct metrics *m, struct loop *loop, const char *addr,
		     const struct report *report, int listen_fd)
{
	struct endpoint_prefix ep;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL;

	memset(m, 0, sizeof(*m));
	m->io.fd = -1;
	m->report = report;
	if (!addr[0])
		return 0;
	if (endpoint_prefix_parse(addr, &ep))
		return -EINVAL;
	addr_to_sockaddr(ep.prefix.family, &ep.prefix.addr, ep.port, &ss);
	if (ep.prefix.family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (listen_fd >= 0)
		m->mhd = MHD_start_daemon(flags, ep.port, NULL, NULL, serve, m,
					  MHD_OPTION_LISTEN_SOCKET, listen_fd,
					  MHD_OPTION_CONNECTION_TIMEOUT, 10u,
					  MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
	else
		m->mhd = MHD_start_daemon(flags, ep.port, NULL, NULL, serve, m,
					  MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_TIMEOUT,
					  10u, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
	if (!m->mhd)
		return errno ? -errno : -EADDRNOTAVAIL;
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || io_add(loop, &m->io, info->epoll_fd, EPOLLIN, on_mhd, m)) {
		MHD_stop_daemon(m->mhd);
		m->mhd = NULL;
		return -EIO;
	}
	return 0;
}

void metrics_tick(struct metrics *m)
{
	if (m->mhd)
		MHD_run(m->mhd);
}

int metrics_listen_fd(const struct metrics *m)
{
	const union MHD_DaemonInfo *info;

	if (!m->mhd)
		return -1;
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	return info ? info->listen_fd : -1;
}

int metrics_quiesce(struct metrics *m)
{
	MHD_socket fd;

	if (!m->mhd)
		return -1;
	fd = MHD_quiesce_daemon(m->mhd);
	return fd == MHD_INVALID_SOCKET ? -1 : fd;
}

void metrics_stop(struct metrics *m, struct loop *loop)
{
	if (!m->mhd)
		return;
	io_del(loop, &m->io);
	MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
}
