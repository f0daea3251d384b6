// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target of user/http.c. Beyond "no crash", each input checks:
 * - the answer against a second, deliberately different reading of RFC 9112
 *   (split at the first CRLFCRLF, then line by line), spans included;
 * - every span inside the buffer and inside head_len, lines back to back;
 * - prefixes (copied to buffers of exactly their size, so ASan sees any read
 *   past the end) answer 0 or the whole input's answer, and a complete head
 *   answers the same with the extra bytes cut off;
 * - Basic credentials decoded from the input (and from its Authorization
 *   header) encode back to exactly the base64 given, and small output
 *   buffers give -ENAMETOOLONG exactly when the credentials do not fit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http.h"
#include "check.h"

static int ref_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && memchr(extra, c, sizeof(extra) - 1));
}

static int ref_all(const uint8_t *p, size_t n, int (*ok)(unsigned char))
{
	for (size_t i = 0; i < n; i++)
		if (!ok(p[i]))
			return 0;
	return 1;
}

static int ref_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

static int ref_field_byte(unsigned char c)
{
	return c == 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0x80;
}

static const uint8_t *find_seq(const uint8_t *p, size_t n, const char *seq)
{
	size_t k = strlen(seq);

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, seq, k) == 0)
			return p + i;
	return NULL;
}

static void span_is(struct http_span s, size_t off, size_t len)
{
	CHECK(s.off == off && s.len == len);
}

/* The request line [0, n): "METHOD SP TARGET SP HTTP/1.x". */
static int ref_request_line(const uint8_t *p, size_t n, const struct http_request *req, int check)
{
	const uint8_t *sp1 = memchr(p, ' ', n), *sp2;

	if (!sp1)
		return 0;
	sp2 = memchr(sp1 + 1, ' ', n - (sp1 + 1 - p));
	if (!sp2 || memchr(sp2 + 1, ' ', n - (sp2 + 1 - p)))
		return 0;
	if (sp1 == p || sp2 == sp1 + 1 || !ref_all(p, sp1 - p, ref_tchar) ||
	    !ref_all(sp1 + 1, sp2 - sp1 - 1, ref_vchar))
		return 0;
	if (n - (sp2 + 1 - p) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.0", 8) && memcmp(sp2 + 1, "HTTP/1.1", 8)))
		return 0;
	if (check) {
		span_is(req->method, 0, sp1 - p);
		span_is(req->target, sp1 + 1 - p, sp2 - sp1 - 1);
		span_is(req->version, sp2 + 1 - p, 8);
		CHECK(req->version_minor == p[n - 1] - '0');
	}
	return 1;
}

/* A header line [off, off + n) without its CRLF. */
static int ref_header(const uint8_t *buf, size_t off, size_t n, const struct http_header *h,
		      int check)
{
	const uint8_t *p = buf + off, *colon = memchr(p, ':', n);
	size_t v, e;

	if (!colon || colon == p || !ref_all(p, colon - p, ref_tchar))
		return 0;
	v = colon + 1 - p;
	if (!ref_all(p + v, n - v, ref_field_byte))
		return 0;
	e = n;
	while (v < e && (p[v] == ' ' || p[v] == '\t'))
		v++;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	if (check) {
		span_is(h->name, off, colon - p);
		span_is(h->line, off, n + 2);
		CHECK(h->value.len == e - v);
		if (e > v)
			CHECK(h->value.off == off + v);
	}
	return 1;
}

/*
 * The other reading: the head ends at the first CRLFCRLF, if any. Returns
 * what http_parse_request must return, or 1 for "0 or an error" when there
 * is no CRLFCRLF; with check, also compares req's spans.
 */
static int reference(const uint8_t *buf, size_t size, const struct http_request *req, int check)
{
	const uint8_t *end = find_seq(buf, size, "\r\n\r\n"), *eol;
	size_t head, off, n_headers = 0;

	if (!end)
		return 1;
	head = end - buf + 4;
	eol = find_seq(buf, head, "\r\n");
	if (memchr(buf, '\n', eol - buf) || memchr(buf, '\r', eol - buf) ||
	    !ref_request_line(buf, eol - buf, req, check))
		return -EINVAL;
	for (off = eol - buf + 2; off < head - 2; off = eol - buf + 2) {
		eol = find_seq(buf + off, head - off, "\r\n");
		/* A 65th line is refused at its first byte, unless that byte
		 * is a CR and so could have begun the empty line. */
		if (n_headers == HTTP_HEADERS_MAX)
			return buf[off] == '\r' ? -EINVAL : -E2BIG;
		if (memchr(buf + off, '\n', eol - buf - off) ||
		    memchr(buf + off, '\r', eol - buf - off) ||
		    !ref_header(buf, off, eol - buf - off, &req->headers[n_headers], check))
			return -EINVAL;
		n_headers++;
	}
	if (check)
		CHECK(req->n_headers == n_headers);
	return (int)head;
}

static void check_spans(const struct http_request *req, int ret)
{
	uint32_t i, next;

	CHECK(req->head_len == (uint32_t)ret);
	CHECK(req->method.len > 0 && req->target.len > 0 && req->version.len == 8);
	CHECK(req->version_minor == 0 || req->version_minor == 1);
	CHECK(req->n_headers <= HTTP_HEADERS_MAX);
	next = req->version.off + req->version.len + 2;
	for (i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		CHECK(h->line.off == next);
		CHECK(h->name.off == h->line.off && h->name.len > 0);
		CHECK(h->value.off >= h->name.off + h->name.len + 1);
		CHECK(h->value.off + h->value.len + 2 <= h->line.off + h->line.len);
		next = h->line.off + h->line.len;
		CHECK(next <= req->head_len);
	}
	CHECK(next + 2 == req->head_len);
}

static int parse_copy(const uint8_t *data, size_t len, struct http_request *req)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	memcpy(copy, data, len);
	ret = http_parse_request(copy, len, req);
	free(copy);
	return ret;
}

static void check_prefix(const uint8_t *data, size_t size, size_t k, int full,
			 const struct http_request *want)
{
	static struct http_request req;
	int ret = parse_copy(data, k, &req);

	CHECK(ret == 0 || ret == full);
	if (full > 0 && k >= (size_t)full) {
		CHECK(ret == full);
		CHECK(memcmp(&req.method, &want->method, 3 * sizeof(req.method)) == 0);
		CHECK(req.n_headers == want->n_headers);
		CHECK(memcmp(req.headers, want->headers, req.n_headers * sizeof(req.headers[0])) ==
		      0);
	} else if (full > 0) {
		CHECK(ret == 0);
	}
	(void)size;
}

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i < n; i += 3) {
		uint32_t v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The credentials must be well-formed, and be the only decoding of the
 * base64 that follows "Basic" and its spaces. */
static void check_credentials(const char *value, size_t len, const char *user, const char *pass)
{
	size_t ulen = strlen(user), plen = strlen(pass), start = 5;
	uint8_t *joined = malloc(ulen + plen + 1);
	char *encoded = malloc((ulen + plen + 3) / 3 * 4 + 1);

	CHECK(ulen > 0 && !strchr(user, ':'));
	for (size_t i = 0; i < ulen; i++)
		CHECK((uint8_t)user[i] >= 0x20 && user[i] != 0x7f);
	for (size_t i = 0; i < plen; i++)
		CHECK((uint8_t)pass[i] >= 0x20 && pass[i] != 0x7f);
	CHECK(len > start && strncasecmp(value, "basic ", 6) == 0);
	while (start < len && value[start] == ' ')
		start++;
	memcpy(joined, user, ulen);
	joined[ulen] = ':';
	memcpy(joined + ulen + 1, pass, plen);
	b64_encode(joined, ulen + plen + 1, encoded);
	CHECK(strlen(encoded) == len - start && memcmp(encoded, value + start, len - start) == 0);
	free(joined);
	free(encoded);
}

/* Buffers of exactly the size needed, and one byte less (heap, so that ASan
 * sees a write past the end). */
static void check_exact_sizes(const char *value, size_t len, size_t ulen, size_t plen)
{
	char *user = malloc(ulen + 1), *pass = malloc(plen + 1);

	CHECK(http_basic_decode(value, len, user, ulen + 1, pass, plen + 1) == 0);
	CHECK(strlen(user) == ulen && strlen(pass) == plen);
	CHECK(http_basic_decode(value, len, user, ulen, pass, plen + 1) == -ENAMETOOLONG);
	CHECK(http_basic_decode(value, len, user, ulen + 1, pass, plen) == -ENAMETOOLONG);
	free(user);
	free(pass);
}

static void check_basic(const uint8_t *data, size_t len, size_t small_user, size_t small_pass)
{
	char *value = malloc(len ? len : 1), *user = malloc(len + 1), *pass = malloc(len + 1);
	char *su = malloc(small_user ? small_user : 1), *sp = malloc(small_pass ? small_pass : 1);
	int ret, small;

	memcpy(value, data, len);
	/* len + 1 bytes always fit: the decoding is shorter than its base64. */
	ret = http_basic_decode(value, len, user, len + 1, pass, len + 1);
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0)
		check_credentials(value, len, user, pass);
	else
		CHECK(all_zero(user, len + 1) && all_zero(pass, len + 1));

	small = http_basic_decode(value, len, su, small_user, sp, small_pass);
	if (ret == -EINVAL) {
		CHECK(small == -EINVAL);
	} else if (strlen(user) < small_user && strlen(pass) < small_pass) {
		CHECK(small == 0 && strcmp(su, user) == 0 && strcmp(sp, pass) == 0);
	} else {
		CHECK(small == -ENAMETOOLONG);
	}
	if (small)
		CHECK(all_zero(su, small_user) && all_zero(sp, small_pass));
	if (ret == 0)
		check_exact_sizes(value, len, strlen(user), strlen(pass));
	free(value);
	free(user);
	free(pass);
	free(su);
	free(sp);
}

static void check_parsed(const uint8_t *data, const struct http_request *req)
{
	const char *buf = (const char *)data;
	int idx = http_find_header(buf, req, "authorization");
	uint32_t i;

	/* Each header is found by its own name, unless another has it too. */
	for (i = 0; i < req->n_headers; i++) {
		struct http_span s = req->headers[i].name;
		char *name = strndup(buf + s.off, s.len);
		int found = http_find_header(buf, req, name), others = 0;

		for (uint32_t j = 0; j < req->n_headers; j++)
			others += j != i && req->headers[j].name.len == s.len &&
				  strncasecmp(buf + req->headers[j].name.off, name, s.len) == 0;
		CHECK(found == (others ? -EEXIST : (int)i));
		free(name);
	}
	if (idx >= 0)
		check_basic(data + req->headers[idx].value.off, req->headers[idx].value.len, 8, 8);
	CHECK(http_check_framing(buf, req) == 0 || http_check_framing(buf, req) == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	int ret = http_parse_request((const char *)data, size, &req);
	int want = reference(data, size, &req, 0);

	CHECK(ret > 0 || ret == 0 || ret == -EINVAL || ret == -E2BIG);
	if (want == 1)
		CHECK(ret <= 0);
	else
		CHECK(ret == want);
	if (ret > 0) {
		reference(data, size, &req, 1);
		check_spans(&req, ret);
		check_parsed(data, &req);
		check_prefix(data, size, ret, ret, &req);
		check_prefix(data, size, ret - 1, ret, &req);
	}
	check_prefix(data, size, size / 2, ret, &req);
	if (size)
		check_prefix(data, size, data[0] % size, ret, &req);
	check_basic(data, size, size ? 1 + data[size - 1] % 16 : 0, size ? data[size - 1] / 16 : 1);
	return 0;
}
