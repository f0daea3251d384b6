// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The inspection phase (the seed's figures 5-6, claims 1 and 20): before
 * the server leg exists, the service's module reads what the client sends
 * first and decides. The server is never connected for a client that is
 * refused, so it never sees an unauthenticated byte, nor even a SYN.
 *
 *   PHASE_INSPECTING      read into a bounded buffer until the module can
 *                         decide (first request head, ClientHello)
 *   PHASE_AUTHENTICATING  a worker checks the password; the client is not
 *                         read meanwhile
 *   PHASE_REFUSING        our answer (401, TLS alert) goes out, then the
 *                         client's remaining bytes are drained a short while
 *                         so that closing does not reset the answer away
 *   allowed               what was read (perhaps rewritten) is written to
 *                         the server leg first, then the data path takes over
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include "addr.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "tls.h"

/* How long a refused client may take to close after our answer, and how
 * much of what it still sends is read and dropped meanwhile. */
#define LINGER_MS 2000
#define LINGER_DISCARD_MAX (256u * 1024)
#define NS_PER_S 1000000000ull

#define USER_HEADER "X-Authenticated-User"

struct inspect {
	char *buf; /* what the client sent, cap bytes at most */
	size_t len, cap;
	char *out; /* the head for the server, or our answer to the client */
	size_t out_len, out_off;
	struct auth_job *job; /* PHASE_AUTHENTICATING */
	int preauth; /* the source's login is cached: only rewrite */
	size_t discarded; /* PHASE_REFUSING */
};

static const struct service_policy *conn_policy(const struct conn *c)
{
	const struct config *cfg = &c->live->cfg;

	return c->service_id > 0 ? &cfg->policies[c->service_id - 1] : NULL;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: the maps' times compare. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void source_key(const struct conn *c, struct cutthru_source_key *key)
{
	memset(key, 0, sizeof(*key));
	key->service_id = c->live->cfg.service_uids[c->service_id - 1];
	key->family = c->quad.family;
	key->addr = c->quad.saddr;
}

static void move_timer(struct conn *c, struct list_node *list, uint32_t timeout_ms)
{
	c->deadline_ms = now_ms() + timeout_ms;
	list_del(&c->timer_link);
	list_add_tail(list, &c->timer_link);
}

/* --- the authenticated-source cache and the failed-login limiter --- */

/* Is there a live login of this source to this service? Takes its user. */
static int cached_login(struct conn *c, const struct service_policy *sp)
{
	struct cutthru_auth_source src;
	struct cutthru_source_key key;
	int fd = c->proxy->auth_sources_fd;
	uint64_t now = monotonic_ns();

	if (!sp->uauth_idle_s)
		return 0;
	source_key(c, &key);
	if (bpf_map_lookup_elem(fd, &key, &src))
		return 0;
	if (now >= src.expires_ns || now - src.last_seen_ns >= src.idle_ns) {
		bpf_map_delete_elem(fd, &key);
		return 0;
	}
	src.last_seen_ns = now;
	bpf_map_update_elem(fd, &key, &src, BPF_EXIST);
	src.user[sizeof(src.user) - 1] = '\0';
	c->user = strdup(src.user);
	return c->user != NULL;
}

static void record_login(struct conn *c, const struct service_policy *sp)
{
	struct cutthru_auth_source src = { 0 };
	struct cutthru_source_key key;
	uint64_t now = monotonic_ns();

	source_key(c, &key);
	bpf_map_delete_elem(c->proxy->auth_failures_fd, &key);
	if (!sp->uauth_idle_s)
		return;
	src.last_seen_ns = now;
	src.idle_ns = sp->uauth_idle_s * NS_PER_S;
	src.expires_ns = sp->uauth_absolute_s ? now + sp->uauth_absolute_s * NS_PER_S : UINT64_MAX;
	src.flags = sp->after_auth_forward ? CUTTHRU_AUTH_FORWARD : 0;
	snprintf(src.user, sizeof(src.user), "%s", c->user);
	if (bpf_map_update_elem(c->proxy->auth_sources_fd, &key, &src, BPF_ANY))
		pr_warn("conn %llu: remembering the login: %s", (unsigned long long)c->id,
			strerror(errno));
}

static int source_blocked(const struct conn *c)
{
	struct cutthru_auth_failures f;
	struct cutthru_source_key key;

	source_key(c, &key);
	return !bpf_map_lookup_elem(c->proxy->auth_failures_fd, &key, &f) &&
	       monotonic_ns() < f.blocked_until_ns;
}

/* "198.19.2.0/24:80" */
static void service_str(const struct conn *c, char *buf, size_t len)
{
	const struct endpoint_prefix *svc = &c->live->cfg.services[c->service_id - 1];
	char prefix[ENDPOINT_STRLEN];

	prefix_str(&svc->prefix, prefix, sizeof(prefix));
	snprintf(buf, len, svc->prefix.family == AF_INET6 ? "[%s]:%u" : "%s:%u", prefix, svc->port);
}

/* Counts a failed login; max_failures within the window block the source's
 * SYNs to the service (in BPF) for block_s. */
static void record_failure(struct conn *c, const struct service_policy *sp)
{
	struct cutthru_auth_failures f = { 0 };
	char client[ENDPOINT_STRLEN], service[ENDPOINT_STRLEN + 8];
	struct cutthru_source_key key;
	uint64_t now = monotonic_ns();

	if (!sp->max_failures)
		return;
	source_key(c, &key);
	bpf_map_lookup_elem(c->proxy->auth_failures_fd, &key, &f);
	if (!f.window_start_ns || now - f.window_start_ns >= sp->failure_window_s * NS_PER_S) {
		f.window_start_ns = now;
		f.failures = 0;
	}
	if (++f.failures >= sp->max_failures) {
		f.blocked_until_ns = now + sp->block_s * NS_PER_S;
		f.window_start_ns = 0;
		f.failures = 0;
		inet_ntop(c->quad.family, c->quad.saddr.bytes, client, sizeof(client));
		service_str(c, service, sizeof(service));
		pr_warn("source %s blocked from %s for %u s after %u failed logins", client,
			service, sp->block_s, sp->max_failures);
	}
	if (bpf_map_update_elem(c->proxy->auth_failures_fd, &key, &f, BPF_ANY))
		pr_warn("conn %llu: counting a failed login: %s", (unsigned long long)c->id,
			strerror(errno));
}

/* --- decisions --- */

static void allow(struct conn *c, const char *why)
{
	c->decision = "allow";
	c->why = why;
	conn_connect(c);
}

/* Sends what is left of our answer; then stops sending (FIN). */
static int send_answer(struct conn *c)
{
	struct inspect *in = c->insp;
	ssize_t n;

	while (in->out_off < in->out_len) {
		n = send(c->client.io.fd, in->out + in->out_off, in->out_len - in->out_off,
			 MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? -EAGAIN : -errno;
		in->out_off += (size_t)n;
	}
	shutdown(c->client.io.fd, SHUT_WR);
	return 0;
}

/* Refuses with an answer the client understands (takes answer, malloc'd). */
static void deny(struct conn *c, const char *why, char *answer, size_t len)
{
	struct inspect *in = c->insp;
	int err;

	c->decision = "deny";
	c->why = why;
	c->proxy->stats.inspect_refused++;
	free(in->out);
	in->out = answer;
	in->out_len = len;
	in->out_off = 0;
	c->phase = PHASE_REFUSING;
	move_timer(c, &c->proxy->lingering, LINGER_MS);
	err = send_answer(c);
	if (err && err != -EAGAIN) {
		conn_close(c, CLOSE_CLIENT_RESET);
		return;
	}
	io_set(c->proxy->loop, &c->client.io, err ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Refuses with a reset: for what does not deserve an answer. */
static void refuse(struct conn *c, const char *why)
{
	c->decision = "deny";
	c->why = why;
	c->proxy->stats.inspect_refused++;
	conn_close(c, CLOSE_REFUSED);
}

/* --- http-basic --- */

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Service Unavailable";
	}
}

static void deny_http(struct conn *c, int status, const char *why)
{
	const struct service_policy *sp = conn_policy(c);
	char challenge[SERVICE_NAME_MAX + 64] = "";
	char *answer;
	int len;

	if (status == 401)
		snprintf(challenge, sizeof(challenge),
			 "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n", sp->realm);
	len = asprintf(&answer,
		       "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain; charset=utf-8\r\n"
		       "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n"
		       "\r\n%d %s\n",
		       status, status_text(status), challenge, strlen(status_text(status)) + 5,
		       status, status_text(status));
	if (len < 0) {
		refuse(c, why);
		return;
	}
	deny(c, why, answer, (size_t)len);
}

static int header_is(const char *buf, const struct http_header *h, const char *name)
{
	return h->name.len == strlen(name) && !strncasecmp(buf + h->name.off, name, h->name.len);
}

/* CGI, PHP and some proxies read X_Authenticated_User as the same header:
 * any spelling with '_' for '-' is the client naming itself too. */
static int header_is_user(const char *buf, const struct http_header *h)
{
	const char *want = USER_HEADER;
	uint32_t i;

	if (h->name.len != strlen(want))
		return 0;
	for (i = 0; i < h->name.len; i++) {
		char ch = buf[h->name.off + i];

		if (ch == '_')
			ch = '-';
		if (tolower((unsigned char)ch) != tolower((unsigned char)want[i]))
			return 0;
	}
	return 1;
}

static void append(char *out, size_t *len, const char *src, size_t n)
{
	memcpy(out + *len, src, n);
	*len += n;
}

/*
 * The head as the server gets it: the request line and the headers, less
 * Authorization when stripped and less any X-Authenticated-User the client
 * sent when we add ours (a client must not name itself), then the rest of
 * what the client sent, untouched.
 */
static int rewrite_head(struct conn *c, const struct http_request *req)
{
	const struct service_policy *sp = conn_policy(c);
	struct inspect *in = c->insp;
	size_t first = req->n_headers ? req->headers[0].line.off : req->head_len - 2;
	size_t len = 0, size;
	uint32_t i;
	char *out;

	size = in->len + sizeof(USER_HEADER) + CUTTHRU_USER_MAX + 4;
	out = malloc(size);
	if (!out)
		return -ENOMEM;
	append(out, &len, in->buf, first);
	for (i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		if (sp->strip_credentials && header_is(in->buf, h, "Authorization"))
			continue;
		if (sp->user_header && header_is_user(in->buf, h))
			continue;
		append(out, &len, in->buf + h->line.off, h->line.len);
	}
	if (sp->user_header && c->user)
		len += (size_t)snprintf(out + len, size - len, USER_HEADER ": %s\r\n", c->user);
	append(out, &len, "\r\n", 2);
	append(out, &len, in->buf + req->head_len, in->len - req->head_len);
	in->out = out;
	in->out_len = len;
	in->out_off = 0;
	return 0;
}

static void allow_http(struct conn *c, const char *why)
{
	struct http_request req;

	/* Parsed before: cannot fail now. */
	if (http_parse_request(c->insp->buf, c->insp->len, &req) <= 0 || rewrite_head(c, &req)) {
		refuse(c, "out-of-memory");
		return;
	}
	allow(c, why);
}

static void check_password(struct conn *c, const char *user, const char *password)
{
	const struct service_policy *sp = conn_policy(c);
	struct auth_job *job = calloc(1, sizeof(*job));

	if (!job) {
		refuse(c, "out-of-memory");
		return;
	}
	job->owner = c;
	job->users = c->live->users[c->service_id - 1];
	job->pam_service = sp->pam_service;
	snprintf(job->user, sizeof(job->user), "%s", user);
	snprintf(job->password, sizeof(job->password), "%s", password);
	c->insp->job = job;
	c->phase = PHASE_AUTHENTICATING;
	io_set(c->proxy->loop, &c->client.io, 0);
	auth_pool_submit(&c->proxy->auth, job);
}

static void decide_http_basic(struct conn *c)
{
	struct inspect *in = c->insp;
	char user[CUTTHRU_USER_MAX], password[AUTH_PASSWORD_MAX];
	const struct http_header *h;
	struct http_request req;
	int ret, idx;

	ret = http_parse_request(in->buf, in->len, &req);
	if (ret == 0 && in->len < in->cap)
		return; /* more to come */
	if (ret == 0 || ret == -E2BIG) {
		deny_http(c, 431, "request-too-large");
		return;
	}
	if (ret < 0) {
		deny_http(c, 400, "malformed-request");
		return;
	}
	if (in->preauth) {
		allow_http(c, "cached-login");
		return;
	}
	idx = http_find_header(in->buf, &req, "Authorization");
	if (idx == -ENOENT) {
		deny_http(c, 401, "no-credentials");
		return;
	}
	if (idx < 0) {
		deny_http(c, 400, "duplicate-credentials");
		return;
	}
	if (source_blocked(c)) {
		refuse(c, "source-blocked");
		return;
	}
	h = &req.headers[idx];
	if (http_basic_decode(in->buf + h->value.off, h->value.len, user, sizeof(user), password,
			      sizeof(password))) {
		record_failure(c, conn_policy(c));
		deny_http(c, 400, "malformed-credentials");
		return;
	}
	check_password(c, user, password);
	explicit_bzero(password, sizeof(password));
}

static void on_auth_result(struct conn *c, const struct auth_job *job)
{
	const struct service_policy *sp = conn_policy(c);

	c->insp->job = NULL;
	c->phase = PHASE_INSPECTING;
	if (job->result == -EACCES) {
		c->proxy->stats.auth_failed++;
		c->user = strdup(job->user);
		record_failure(c, sp);
		deny_http(c, 401, "bad-credentials");
		return;
	}
	if (job->result) {
		pr_warn("conn %llu: checking the password of %s: %s", (unsigned long long)c->id,
			job->user, strerror(-job->result));
		deny_http(c, 503, "auth-unavailable");
		return;
	}
	c->proxy->stats.auth_ok++;
	c->user = strdup(job->user);
	if (!c->user) {
		refuse(c, "out-of-memory");
		return;
	}
	record_login(c, sp);
	allow_http(c, "password");
}

void inspect_auth_done(struct proxy *p)
{
	struct auth_job *job, *next;

	for (job = auth_pool_take_done(&p->auth); job; job = next) {
		next = job->next;
		if (job->owner)
			on_auth_result(job->owner, job);
		free(job);
	}
}

/* --- tls-sni --- */

/* A fatal unrecognized_name alert (RFC 6066), in a TLS 1.2 record. */
static void deny_tls(struct conn *c, const char *why)
{
	static const char alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112 };
	char *answer = malloc(sizeof(alert));

	if (!answer) {
		refuse(c, why);
		return;
	}
	memcpy(answer, alert, sizeof(alert));
	deny(c, why, answer, sizeof(alert));
}

static int name_allowed(const struct service_policy *sp, const char *name)
{
	const char *pattern;

	for (pattern = service_sni_first(sp); pattern; pattern = service_sni_next(pattern))
		if (sni_match(pattern, name))
			return 1;
	return 0;
}

static void decide_tls_sni(struct conn *c)
{
	struct inspect *in = c->insp;
	char name[TLS_SNI_MAX + 1];
	size_t hello_len;
	int ret;

	ret = tls_client_hello_sni((const uint8_t *)in->buf, in->len, in->cap, name, sizeof(name),
				   &hello_len);
	if (ret == -EAGAIN && in->len < in->cap)
		return;
	if (ret == -EAGAIN || ret == -E2BIG) {
		refuse(c, "client-hello-too-large");
		return;
	}
	if (ret < 0) {
		refuse(c, "not-tls");
		return;
	}
	if (ret == 0) {
		deny_tls(c, "no-server-name");
		return;
	}
	c->server_name = strdup(name);
	if (!name_allowed(conn_policy(c), name)) {
		deny_tls(c, "server-name-denied");
		return;
	}
	/* The ClientHello (and anything after it) goes on unchanged. */
	in->out = in->buf;
	in->out_len = in->len;
	in->out_off = 0;
	in->buf = NULL;
	allow(c, "server-name");
}

/* --- the phase's events --- */

static void decide(struct conn *c)
{
	if (conn_policy(c)->module == AUTH_HTTP_BASIC)
		decide_http_basic(c);
	else
		decide_tls_sni(c);
}

static void read_first_bytes(struct conn *c)
{
	struct inspect *in = c->insp;
	ssize_t n;

	n = read(c->client.io.fd, in->buf + in->len, in->cap - in->len);
	if (n == 0) {
		conn_close(c, CLOSE_CLIENT_GONE);
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c, CLOSE_CLIENT_RESET);
		return;
	}
	in->len += (size_t)n;
	c->client.bytes_rx += (uint64_t)n;
	/* A request head can only have ended, or turned bad, at a line end:
	 * parsing again only then keeps a byte-at-a-time client linear. */
	if (conn_policy(c)->module == AUTH_HTTP_BASIC && !memchr(in->buf + in->len - n, '\n', n) &&
	    in->len < in->cap)
		return;
	decide(c);
}

/* Reads and drops what a refused client still sends, until it closes. */
static void drain_refused(struct conn *c)
{
	struct inspect *in = c->insp;
	char sink[4096];
	ssize_t n;

	for (;;) {
		n = read(c->client.io.fd, sink, sizeof(sink));
		if (n > 0) {
			in->discarded += (size_t)n;
			if (in->discarded < LINGER_DISCARD_MAX)
				continue;
		} else if (n < 0 && errno == EAGAIN) {
			return;
		}
		/* EOF, an error or enough: the answer had its chance. */
		conn_close(c, CLOSE_DENIED);
		return;
	}
}

void inspect_event(struct conn *c, uint32_t events)
{
	int err;

	if (c->phase == PHASE_INSPECTING) {
		read_first_bytes(c);
		return;
	}
	if (c->phase != PHASE_REFUSING)
		return;
	if (c->insp->out_off < c->insp->out_len) {
		err = send_answer(c);
		if (err && err != -EAGAIN) {
			conn_close(c, CLOSE_CLIENT_RESET);
			return;
		}
		io_set(c->proxy->loop, &c->client.io, err ? EPOLLIN | EPOLLOUT : EPOLLIN);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		drain_refused(c);
}

void inspect_timeout(struct conn *c)
{
	if (!c->decision) {
		c->decision = "deny";
		c->why = c->phase == PHASE_AUTHENTICATING ? "auth-timeout" : "incomplete-request";
	}
	conn_close(c, CLOSE_INSPECT_TIMEOUT);
}

void inspect_linger_timeout(struct conn *c)
{
	conn_close(c, CLOSE_DENIED);
}

int inspect_begin(struct conn *c)
{
	const struct service_policy *sp = conn_policy(c);
	struct proxy *p = c->proxy;
	struct inspect *in;

	if (!sp || sp->module == AUTH_NONE)
		return 0;
	if (sp->module == AUTH_HTTP_BASIC && cached_login(c, sp)) {
		p->stats.auth_cached++;
		c->decision = "allow";
		c->why = "cached-login";
		/* Nothing to rewrite: no need to read the request at all. */
		if (!sp->user_header && !sp->strip_credentials)
			return 0;
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->cap = c->live->cfg.inspect_buffer;
	in->buf = malloc(in->cap);
	if (!in->buf) {
		free(in);
		return -ENOMEM;
	}
	in->preauth = c->decision != NULL;
	c->insp = in;
	c->phase = PHASE_INSPECTING;
	move_timer(c, &p->inspecting, c->live->cfg.inspect_timeout_ms);
	if (io_set(p->loop, &c->client.io, EPOLLIN))
		return -ENOMEM;
	return 1;
}

int inspect_send_head(struct conn *c)
{
	struct inspect *in = c->insp;
	ssize_t n;

	if (!in)
		return 0;
	while (in->out_off < in->out_len) {
		n = send(c->server.io.fd, in->out + in->out_off, in->out_len - in->out_off,
			 MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? -EAGAIN : -errno;
		in->out_off += (size_t)n;
	}
	/* Done with inspection: its memory goes before the long part. */
	inspect_free(c);
	return 0;
}

size_t inspect_pending_head(const struct conn *c, const char **data)
{
	const struct inspect *in = c->insp;

	if (!in || !in->out || in->out_off >= in->out_len)
		return 0;
	*data = in->out + in->out_off;
	return in->out_len - in->out_off;
}

int inspect_adopt_head(struct conn *c, const void *head, size_t len)
{
	struct inspect *in;

	if (!len)
		return 0;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->out = malloc(len);
	if (!in->out) {
		free(in);
		return -ENOMEM;
	}
	memcpy(in->out, head, len);
	in->out_len = len;
	c->insp = in;
	return 0;
}

void inspect_free(struct conn *c)
{
	struct inspect *in = c->insp;

	if (!in)
		return;
	/* A worker still has the job: it is freed when it comes back. */
	if (in->job)
		in->job->owner = NULL;
	free(in->buf);
	free(in->out);
	free(in);
	c->insp = NULL;
}
