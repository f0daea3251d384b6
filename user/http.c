// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * HTTP/1.x request heads (RFC 9112) and Basic credentials (RFC 7617).
 *
 * The parser walks the bytes once, in order, and decides each byte as soon as
 * it sees it; running out of bytes is always "need more" (0). That is what
 * makes an answer final: more bytes can only turn a 0 into something else.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "http.h"

/* Bytes after which a head that has not ended is refused; keeps offsets and
 * the int return in range whatever the caller's limit is. */
#define HEAD_SCAN_MAX ((uint32_t)INT_MAX)

struct cursor {
	const unsigned char *buf;
	uint32_t len;
	uint32_t pos;
};

/* tchar of RFC 9110 5.6.2: the bytes of methods and field names. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Request-target: visible ASCII only; URIs have no other bytes. */
static int is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* field-vchar, SP or HTAB: everything but CTLs and DEL (obs-text allowed). */
static int is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* CRLF at the cursor: 1 and past it, 0 for more bytes, -EINVAL otherwise. */
static int take_crlf(struct cursor *c)
{
	if (c->pos >= c->len)
		return 0;
	if (c->buf[c->pos] != '\r')
		return -EINVAL;
	if (c->pos + 1 >= c->len)
		return 0;
	if (c->buf[c->pos + 1] != '\n')
		return -EINVAL;
	c->pos += 2;
	return 1;
}

/* A non-empty run of bytes that is_ok accepts, then the single byte end. */
static int take_run(struct cursor *c, int (*is_ok)(unsigned char), unsigned char end,
		    struct http_span *span)
{
	uint32_t start = c->pos;

	while (c->pos < c->len && is_ok(c->buf[c->pos]))
		c->pos++;
	if (c->pos >= c->len)
		return 0;
	if (c->buf[c->pos] != end || c->pos == start)
		return -EINVAL;
	span->off = start;
	span->len = c->pos - start;
	c->pos++;
	return 1;
}

/* "HTTP/1.0" or "HTTP/1.1", compared byte by byte as far as there are bytes. */
static int take_version(struct cursor *c, struct http_request *req)
{
	static const char prefix[] = "HTTP/1.";
	uint32_t start = c->pos;
	size_t i;

	for (i = 0; i < sizeof(prefix) - 1; i++, c->pos++) {
		if (c->pos >= c->len)
			return 0;
		if (c->buf[c->pos] != (unsigned char)prefix[i])
			return -EINVAL;
	}
	if (c->pos >= c->len)
		return 0;
	if (c->buf[c->pos] != '0' && c->buf[c->pos] != '1')
		return -EINVAL;
	req->version_minor = c->buf[c->pos] - '0';
	c->pos++;
	req->version.off = start;
	req->version.len = c->pos - start;
	return take_crlf(c);
}

static int take_request_line(struct cursor *c, struct http_request *req)
{
	int ret;

	ret = take_run(c, is_tchar, ' ', &req->method);
	if (ret <= 0)
		return ret;
	ret = take_run(c, is_target_char, ' ', &req->target);
	if (ret <= 0)
		return ret;
	return take_version(c, req);
}

/* The value after "name:" up to and past its CRLF, OWS trimmed off both ends. */
static int take_value(struct cursor *c, struct http_span *value)
{
	uint32_t start, end;

	while (c->pos < c->len && is_ows(c->buf[c->pos]))
		c->pos++;
	start = end = c->pos;
	while (c->pos < c->len && is_value_char(c->buf[c->pos])) {
		if (!is_ows(c->buf[c->pos]))
			end = c->pos + 1;
		c->pos++;
	}
	value->off = start;
	value->len = end - start;
	return take_crlf(c);
}

static int take_header(struct cursor *c, struct http_header *h)
{
	uint32_t start = c->pos;
	int ret;

	/* A token right up to the colon: rules out obs-fold (a line starting
	 * with SP/HTAB) and "Name :" both. */
	ret = take_run(c, is_tchar, ':', &h->name);
	if (ret <= 0)
		return ret;
	ret = take_value(c, &h->value);
	if (ret <= 0)
		return ret;
	h->line.off = start;
	h->line.len = c->pos - start;
	return 1;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	struct cursor c = { (const unsigned char *)buf, len > HEAD_SCAN_MAX ? HEAD_SCAN_MAX : len,
			    0 };
	int ret;

	req->n_headers = 0;
	req->head_len = 0;
	ret = take_request_line(&c, req);
	if (ret <= 0)
		goto out;
	for (;;) {
		if (c.pos < c.len && c.buf[c.pos] == '\r') {
			ret = take_crlf(&c);
			if (ret <= 0)
				goto out;
			req->head_len = c.pos;
			return (int)c.pos;
		}
		if (c.pos < c.len && req->n_headers == HTTP_HEADERS_MAX)
			return -E2BIG;
		ret = take_header(&c, &req->headers[req->n_headers]);
		if (ret <= 0)
			goto out;
		req->n_headers++;
	}
out:
	if (ret == 0 && len >= HEAD_SCAN_MAX)
		return -E2BIG;
	return ret;
}

int http_span_equal_nocase(const char *buf, struct http_span span, const char *str)
{
	size_t n = strlen(str);
	uint32_t i;

	if (span.len != n)
		return 0;
	for (i = 0; i < span.len; i++)
		if (lower(buf[span.off + i]) != lower(str[i]))
			return 0;
	return 1;
}

int http_find_header(const char *buf, const struct http_request *req, const char *name)
{
	int found = -ENOENT;
	uint32_t i;

	for (i = 0; i < req->n_headers && i < HTTP_HEADERS_MAX; i++) {
		if (!http_span_equal_nocase(buf, req->headers[i].name, name))
			continue;
		if (found >= 0)
			return -EEXIST;
		found = (int)i;
	}
	return found;
}

/* Number of headers named name. */
static int count_headers(const char *buf, const struct http_request *req, const char *name)
{
	int n = 0;
	uint32_t i;

	for (i = 0; i < req->n_headers && i < HTTP_HEADERS_MAX; i++)
		n += http_span_equal_nocase(buf, req->headers[i].name, name);
	return n;
}

static int content_length_valid(const char *buf, struct http_span value)
{
	uint32_t i;

	/* 18 digits fit any 64-bit arithmetic a server may do on them. */
	if (value.len == 0 || value.len > 18)
		return 0;
	for (i = 0; i < value.len; i++)
		if (buf[value.off + i] < '0' || buf[value.off + i] > '9')
			return 0;
	return 1;
}

int http_check_framing(const char *buf, const struct http_request *req)
{
	int hosts = count_headers(buf, req, "host");
	int cl = http_find_header(buf, req, "content-length");
	int te = http_find_header(buf, req, "transfer-encoding");

	if (hosts > 1 || (req->version_minor == 1 && hosts != 1))
		return -EINVAL;
	if (cl == -EEXIST || te == -EEXIST || (cl >= 0 && te >= 0))
		return -EINVAL;
	if (cl >= 0 && !content_length_valid(buf, req->headers[cl].value))
		return -EINVAL;
	if (te >= 0 && (req->version_minor != 1 ||
			!http_span_equal_nocase(buf, req->headers[te].value, "chunked")))
		return -EINVAL;
	return 0;
}

/* Value of a base64 character, -1 for anything else ('=' included). */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Where decoded bytes go: user up to the first colon, then pass. */
struct cred_sink {
	char *user, *pass;
	size_t user_size, pass_size;
	size_t user_len, pass_len;
	int in_pass;
	int too_long;
	int bad;
};

static void sink_put(struct cred_sink *s, unsigned char b)
{
	if (b < 0x20 || b == 0x7f) {
		s->bad = 1;
		return;
	}
	if (!s->in_pass && b == ':') {
		s->in_pass = 1;
		return;
	}
	if (!s->in_pass) {
		if (s->user_len + 1 < s->user_size)
			s->user[s->user_len] = (char)b;
		else
			s->too_long = 1;
		s->user_len++;
	} else {
		if (s->pass_len + 1 < s->pass_size)
			s->pass[s->pass_len] = (char)b;
		else
			s->too_long = 1;
		s->pass_len++;
	}
}

/* One group of four base64 characters into the sink; the last group may
 * carry one or two '='. Returns 0 or -EINVAL. */
static int b64_group(const unsigned char *g, int last, struct cred_sink *s)
{
	int v[4], pad = 0, i;
	uint32_t bits = 0;

	if (last)
		pad = g[3] != '=' ? 0 : g[2] != '=' ? 1 : 2;
	for (i = 0; i < 4 - pad; i++) {
		v[i] = b64_value(g[i]);
		if (v[i] < 0)
			return -EINVAL;
		bits |= (uint32_t)v[i] << (18 - 6 * i);
	}
	/* The bits the padding leaves unused must be zero (canonical form). */
	if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
		return -EINVAL;
	for (i = 0; i < 3 - pad; i++)
		sink_put(s, (bits >> (16 - 8 * i)) & 0xff);
	return 0;
}

/* After "Basic": one or more SP, then where the base64 starts; -EINVAL. */
static int basic_payload(const char *value, size_t len, size_t *start)
{
	static const char scheme[] = "basic";
	size_t i = sizeof(scheme) - 1;

	if (len <= i)
		return -EINVAL;
	for (i = 0; i < sizeof(scheme) - 1; i++)
		if (lower(value[i]) != (unsigned char)scheme[i])
			return -EINVAL;
	if (value[i] != ' ')
		return -EINVAL;
	while (i < len && value[i] == ' ')
		i++;
	*start = i;
	return 0;
}

static int basic_decode(const char *value, size_t len, struct cred_sink *s)
{
	const unsigned char *b64;
	size_t start, n, i;
	int ret;

	ret = basic_payload(value, len, &start);
	if (ret)
		return ret;
	b64 = (const unsigned char *)value + start;
	n = len - start;
	if (n == 0 || n % 4)
		return -EINVAL;
	for (i = 0; i < n; i += 4) {
		ret = b64_group(b64 + i, i + 4 == n, s);
		if (ret)
			return ret;
	}
	if (s->bad || !s->in_pass || s->user_len == 0)
		return -EINVAL;
	if (s->too_long)
		return -ENAMETOOLONG;
	return 0;
}

int http_basic_decode(const char *value, size_t len, char *user, size_t user_size, char *pass,
		      size_t pass_size)
{
	struct cred_sink s = {
		.user = user, .pass = pass, .user_size = user_size, .pass_size = pass_size
	};
	int ret;

	/* A NUL needs room too; without it nothing can be returned. */
	if (user_size == 0 || pass_size == 0)
		s.too_long = 1;
	ret = basic_decode(value, len, &s);
	if (ret) {
		if (user_size)
			memset(user, 0, user_size);
		if (pass_size)
			memset(pass, 0, pass_size);
		return ret;
	}
	user[s.user_len] = '\0';
	pass[s.pass_len] = '\0';
	return 0;
}
