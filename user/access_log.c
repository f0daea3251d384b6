// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The access log: one line per connection when it closes, plain key=value
 * or JSON lines, to --access-log FILE (opened for appending, written with
 * one write(2) per line so lines of a log rotated by copy stay whole) or,
 * without it, to the daemon's log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "addr.h"
#include "conn.h"
#include "log.h"

#define RECORD_MAX 1024

int access_log_open(struct proxy *p)
{
	const char *path = p->cfg->access_log;

	if (!path[0])
		return 0;
	p->access_log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (p->access_log_fd < 0) {
		pr_err("access log %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* 2026-11-27T17:30:00.123Z */
static void utc_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* A JSON string body: quotes, backslashes and control bytes escaped. */
static void json_escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 7 < len; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
}

struct record {
	char time[40];
	char client[ENDPOINT_STRLEN];
	char server[ENDPOINT_STRLEN];
	char user[2 * CUTTHRU_USER_MAX * 3];
	char name[800];
	const char *decision, *why, *path, *close;
	unsigned long long id, to_server, to_client, ms;
};

static void fill_record(const struct conn *c, struct record *r, int json)
{
	const struct cutthru_quad *q = &c->quad;

	utc_time(r->time, sizeof(r->time));
	endpoint_str(q->family, &q->saddr, ntohs(q->sport), r->client, sizeof(r->client));
	endpoint_str(q->family, &q->daddr, ntohs(q->dport), r->server, sizeof(r->server));
	if (json) {
		json_escape(c->user ? c->user : "", r->user, sizeof(r->user));
		json_escape(c->server_name ? c->server_name : "", r->name, sizeof(r->name));
	} else {
		/* Both were checked to hold no space or control byte. */
		snprintf(r->user, sizeof(r->user), "%s", c->user ? c->user : "-");
		snprintf(r->name, sizeof(r->name), "%s", c->server_name ? c->server_name : "-");
	}
	r->decision = c->decision ? c->decision : "allow";
	r->why = c->why ? c->why : "no-inspection";
	r->path = c->data_path ? c->data_path : "none";
	r->close = close_reason_name(c->reason);
	r->id = (unsigned long long)c->id;
	r->to_server = (unsigned long long)c->client.bytes_rx;
	r->to_client = (unsigned long long)c->server.bytes_rx;
	r->ms = (unsigned long long)(now_ms() - c->started_ms);
}

static int format_plain(const struct record *r, char *buf, size_t len)
{
	return snprintf(buf, len,
			"%s conn=%llu client=%s service=%s user=%s server_name=%s "
			"decision=%s decision_reason=%s data_path=%s bytes_to_server=%llu "
			"bytes_to_client=%llu ms=%llu close=%s\n",
			r->time, r->id, r->client, r->server, r->user, r->name, r->decision, r->why,
			r->path, r->to_server, r->to_client, r->ms, r->close);
}

static int format_json(const struct record *r, char *buf, size_t len)
{
	return snprintf(buf, len,
			"{\"time\":\"%s\",\"conn\":%llu,\"client\":\"%s\",\"service\":\"%s\","
			"\"user\":\"%s\",\"server_name\":\"%s\",\"decision\":\"%s\","
			"\"decision_reason\":\"%s\",\"data_path\":\"%s\",\"bytes_to_server\":%llu,"
			"\"bytes_to_client\":%llu,\"ms\":%llu,\"close\":\"%s\"}\n",
			r->time, r->id, r->client, r->server, r->user, r->name, r->decision, r->why,
			r->path, r->to_server, r->to_client, r->ms, r->close);
}

void access_log_record(struct proxy *p, const struct conn *c)
{
	int json = p->cfg->access_log_format == ACCESS_LOG_JSON;
	char line[RECORD_MAX];
	struct record r;
	int n;

	fill_record(c, &r, json);
	n = json ? format_json(&r, line, sizeof(line)) : format_plain(&r, line, sizeof(line));
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1; /* cannot happen: every field is bounded */
	if (p->access_log_fd < 0) {
		/* The log has its own time stamps (journald's, or none). */
		line[n - 1] = '\0';
		pr_info("%s", json ? line : line + strlen(r.time) + 1);
		return;
	}
	if (write(p->access_log_fd, line, (size_t)n) != n)
		pr_warn("access log: %s", strerror(errno));
}
