// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of user/http.c: request heads, header lookup, framing checks,
 * Basic credentials. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal with its length, NULs inside included. */
#define S(lit) lit, sizeof(lit) - 1

struct head_case {
	const char *text;
	size_t len;
	const char *method, *target;
	int minor;
	uint32_t n_headers;
	const char *name0, *value0; /* first header, if any */
};

static const struct head_case valid_heads[] = {
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/", 1, 1, "Host", "a" },
	{ S("GET / HTTP/1.0\r\n\r\n"), "GET", "/", 0, 0, NULL, NULL },
	{ S("POST /form?a=1&b=%20 HTTP/1.1\r\nHost: 198.19.2.2\r\nContent-Length: 3\r\n\r\n"),
	  "POST", "/form?a=1&b=%20", 1, 2, "Host", "198.19.2.2" },
	{ S("OPTIONS * HTTP/1.1\r\nHost:a\r\n\r\n"), "OPTIONS", "*", 1, 1, "Host", "a" },
	{ S("CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n"), "CONNECT",
	  "www.example.org:443", 1, 1, "Host", "www.example.org:443" },
	{ S("GET http://www.example.org/x HTTP/1.1\r\nHost: www.example.org\r\n\r\n"), "GET",
	  "http://www.example.org/x", 1, 1, "Host", "www.example.org" },
	/* OWS around the value is not part of it; inside it is. */
	{ S("GET / HTTP/1.1\r\nX-A: \t a \t b \t\r\n\r\n"), "GET", "/", 1, 1, "X-A", "a \t b" },
	{ S("GET / HTTP/1.1\r\nX-Empty:\r\n\r\n"), "GET", "/", 1, 1, "X-Empty", "" },
	{ S("GET / HTTP/1.1\r\nX-Empty:   \r\n\r\n"), "GET", "/", 1, 1, "X-Empty", "" },
	/* obs-text (bytes >= 0x80) is allowed in values. */
	{ S("GET / HTTP/1.1\r\nX-Name: J\xc3\xa9r\xc3\xb4me\r\n\r\n"), "GET", "/", 1, 1, "X-Name",
	  "J\xc3\xa9r\xc3\xb4me" },
	/* Every tchar in a method and a field name. */
	{ S("!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"),
	  "!#$%&'*+-.^_`|~09azAZ", "/", 1, 1, "!#$%&'*+-.^_`|~09azAZ", "v" },
	/* A colon in the value is just a byte of it. */
	{ S("GET / HTTP/1.1\r\nHost: a:80\r\n\r\n"), "GET", "/", 1, 1, "Host", "a:80" },
};

/* Each violates one rule; every one must be -EINVAL. */
static const struct {
	const char *why;
	const char *text;
	size_t len;
} malformed_heads[] = {
	{ "bare LF ends the request line", S("GET / HTTP/1.1\nHost: a\r\n\r\n") },
	{ "bare LF ends a header", S("GET / HTTP/1.1\r\nHost: a\n\r\n") },
	{ "bare LF ends the head", S("GET / HTTP/1.1\r\nHost: a\r\n\n") },
	{ "bare CR in a value", S("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") },
	{ "bare CR ends the head", S("GET / HTTP/1.1\r\nHost: a\r\n\rx") },
	{ "CR CR LF", S("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n") },
	{ "obs-fold with SP", S("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n") },
	{ "obs-fold with HTAB", S("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n") },
	{ "whitespace before the first header", S("GET / HTTP/1.1\r\n Host: a\r\n\r\n") },
	{ "SP between name and colon", S("GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n") },
	{ "HTAB between name and colon", S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n") },
	{ "empty field name", S("GET / HTTP/1.1\r\n: a\r\n\r\n") },
	{ "no colon", S("GET / HTTP/1.1\r\nHost a\r\n\r\n") },
	{ "non-token in a name", S("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n") },
	{ "non-ASCII in a name", S("GET / HTTP/1.1\r\nH\xc3\xa9: a\r\n\r\n") },
	{ "NUL in a value", S("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n") },
	{ "DEL in a value", S("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n") },
	{ "ESC in a value", S("GET / HTTP/1.1\r\nHost: a\x1b\r\n\r\n") },
	{ "VT in a value", S("GET / HTTP/1.1\r\nHost: a\x0b\r\n\r\n") },
	{ "NUL in a name", S("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n") },
	{ "non-token in the method", S("G@T / HTTP/1.1\r\n\r\n") },
	{ "empty method", S(" / HTTP/1.1\r\n\r\n") },
	{ "two SP after the method", S("GET  / HTTP/1.1\r\n\r\n") },
	{ "two SP after the target", S("GET /  HTTP/1.1\r\n\r\n") },
	{ "HTAB as separator", S("GET\t/ HTTP/1.1\r\n\r\n") },
	{ "SP after the version", S("GET / HTTP/1.1 \r\n\r\n") },
	{ "empty line before the request", S("\r\nGET / HTTP/1.1\r\n\r\n") },
	{ "HTAB in the target", S("GET /a\tb HTTP/1.1\r\n\r\n") },
	{ "NUL in the target", S("GET /a\0b HTTP/1.1\r\n\r\n") },
	{ "DEL in the target", S("GET /\x7f HTTP/1.1\r\n\r\n") },
	{ "non-ASCII in the target", S("GET /\xc3\xa9 HTTP/1.1\r\n\r\n") },
	{ "HTTP/0.9 request", S("GET /\r\n\r\n") },
	{ "no version", S("GET / \r\n\r\n") },
	{ "HTTP/2.0", S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") },
	{ "HTTP/1.2", S("GET / HTTP/1.2\r\n\r\n") },
	{ "HTTP/1.10", S("GET / HTTP/1.10\r\n\r\n") },
	{ "lower-case http", S("GET / http/1.1\r\n\r\n") },
	{ "HTTP/1", S("GET / HTTP/1\r\n\r\n") },
	{ "TLS instead of HTTP", S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") },
};

/* buf copied into an allocation of exactly len bytes: ASan sees any read
 * past the end. */
static int parse_exact(const char *buf, size_t len, struct http_request *req)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	ret = http_parse_request(copy, len, req);
	free(copy);
	return ret;
}

static void assert_span(const char *buf, struct http_span s, const char *want)
{
	if (s.len != strlen(want) || memcmp(buf + s.off, want, s.len) != 0)
		fail_msg("span [%u, +%u) = \"%.*s\", want \"%s\"", s.off, s.len, (int)s.len,
			 buf + s.off, want);
}

static void check_valid(const struct head_case *c, struct http_request *req)
{
	int ret = parse_exact(c->text, c->len, req);

	if (ret != (int)c->len)
		fail_msg("\"%s\": %d, want %zu", c->text, ret, c->len);
	assert_int_equal(req->head_len, c->len);
	assert_span(c->text, req->method, c->method);
	assert_span(c->text, req->target, c->target);
	assert_span(c->text, req->version, c->minor ? "HTTP/1.1" : "HTTP/1.0");
	assert_int_equal(req->version_minor, c->minor);
	assert_int_equal(req->n_headers, c->n_headers);
	if (c->name0) {
		assert_span(c->text, req->headers[0].name, c->name0);
		assert_span(c->text, req->headers[0].value, c->value0);
		assert_int_equal(req->headers[0].line.off, req->version.off + 10);
		assert_memory_equal(c->text + req->headers[0].line.off + req->headers[0].line.len -
					    2,
				    "\r\n", 2);
	}
}

static void test_valid_heads(void **state)
{
	static struct http_request req;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(valid_heads); i++)
		check_valid(&valid_heads[i], &req);
}

/* Every shorter prefix needs more bytes; nothing else is ever said. */
static void test_valid_prefixes(void **state)
{
	static struct http_request req;
	size_t i, k;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(valid_heads); i++) {
		for (k = 0; k < valid_heads[i].len; k++) {
			ret = parse_exact(valid_heads[i].text, k, &req);
			if (ret != 0)
				fail_msg("\"%s\" cut at %zu: %d, want 0", valid_heads[i].text, k,
					 ret);
		}
	}
}

/* What follows the head (a body, the next request) changes nothing. */
static void test_valid_with_more_bytes(void **state)
{
	static struct http_request req;
	static const char *const tails[] = { "x", "\r\n", "\n", "GET / HTTP/1.1\r\n\r\n",
					     "\0\0\0" };
	char buf[512];
	size_t i, t;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(valid_heads); i++) {
		for (t = 0; t < ARRAY_SIZE(tails); t++) {
			size_t tail_len = t == 4 ? 3 : strlen(tails[t]);

			memcpy(buf, valid_heads[i].text, valid_heads[i].len);
			memcpy(buf + valid_heads[i].len, tails[t], tail_len);
			assert_int_equal(parse_exact(buf, valid_heads[i].len + tail_len, &req),
					 valid_heads[i].len);
			assert_int_equal(req.n_headers, valid_heads[i].n_headers);
		}
	}
}

static void test_spans_multi_header(void **state)
{
	static const char text[] = "GET /x HTTP/1.1\r\nHost: a\r\nX-B:  b b \r\nX-C:\r\n\r\nBODY";
	static struct http_request req;
	size_t i;

	(void)state;
	assert_int_equal(parse_exact(text, sizeof(text) - 1, &req), sizeof(text) - 1 - 4);
	assert_int_equal(req.n_headers, 3);
	assert_span(text, req.headers[0].line, "Host: a\r\n");
	assert_span(text, req.headers[1].line, "X-B:  b b \r\n");
	assert_span(text, req.headers[1].value, "b b");
	assert_span(text, req.headers[2].line, "X-C:\r\n");
	assert_span(text, req.headers[2].value, "");
	/* Lines are back to back from the request line to the empty line. */
	for (i = 1; i < req.n_headers; i++)
		assert_int_equal(req.headers[i].line.off,
				 req.headers[i - 1].line.off + req.headers[i - 1].line.len);
	assert_int_equal(req.headers[2].line.off + req.headers[2].line.len + 2, req.head_len);
}

static void test_malformed_heads(void **state)
{
	static struct http_request req;
	size_t i, k;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(malformed_heads); i++) {
		ret = parse_exact(malformed_heads[i].text, malformed_heads[i].len, &req);
		if (ret != -EINVAL)
			fail_msg("%s: %d, want -EINVAL", malformed_heads[i].why, ret);
		/* A prefix either needs more or is already refused. */
		for (k = 0; k < malformed_heads[i].len; k++) {
			ret = parse_exact(malformed_heads[i].text, k, &req);
			if (ret != 0 && ret != -EINVAL)
				fail_msg("%s, cut at %zu: %d", malformed_heads[i].why, k, ret);
		}
	}
}

/* Refused at the first byte that cannot be right, not at the end of the
 * line: a client cannot hold an answer back by never ending a line. */
static void test_refused_early(void **state)
{
	static struct http_request req;

	(void)state;
	assert_int_equal(parse_exact(S("\x16\x03"), &req), -EINVAL);
	assert_int_equal(parse_exact(S("GET / HTTP/1.1\r\nHost\t"), &req), -EINVAL);
	assert_int_equal(parse_exact(S("GET / HTTP/1.1\r\nHost: a\n"), &req), -EINVAL);
	assert_int_equal(parse_exact(S("GET / HTTP/1.1\r\n "), &req), -EINVAL);
	assert_int_equal(parse_exact(S("GET / HTTP/2"), &req), -EINVAL);
	/* ...and a lone CR at the end may still be followed by its LF. */
	assert_int_equal(parse_exact(S("GET / HTTP/1.1\r"), &req), 0);
	assert_int_equal(parse_exact(S("GET / HTTP/1.1\r\nHost: a\r"), &req), 0);
	assert_int_equal(parse_exact(S("GET / HTTP/1.1\r\nHost: a\r\n\r"), &req), 0);
}

/* n headers "Hnn: v" after a request line, then the empty line. */
static size_t many_headers(char *buf, size_t size, int n)
{
	size_t len = (size_t)snprintf(buf, size, "GET / HTTP/1.1\r\n");
	int i;

	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "H%02d: v\r\n", i);
	len += (size_t)snprintf(buf + len, size - len, "\r\n");
	return len;
}

static void test_header_count_limit(void **state)
{
	static struct http_request req;
	char buf[2048];
	size_t len;

	(void)state;
	len = many_headers(buf, sizeof(buf), HTTP_HEADERS_MAX);
	assert_int_equal(parse_exact(buf, len, &req), len);
	assert_int_equal(req.n_headers, HTTP_HEADERS_MAX);
	assert_span(buf, req.headers[HTTP_HEADERS_MAX - 1].name, "H63");

	len = many_headers(buf, sizeof(buf), HTTP_HEADERS_MAX + 1);
	assert_int_equal(parse_exact(buf, len, &req), -E2BIG);
	/* Said at the first byte of the 65th line. */
	len = many_headers(buf, sizeof(buf), HTTP_HEADERS_MAX) - 2;
	assert_int_equal(parse_exact(buf, len, &req), 0);
	buf[len] = 'H';
	assert_int_equal(parse_exact(buf, len + 1, &req), -E2BIG);
}

/* Large heads parse; an unfinished one of any size just needs more bytes
 * (the caller's limit decides), without reading past what it was given. */
static void test_large_heads(void **state)
{
	static struct http_request req;
	const size_t big = 1 << 20;
	char *buf = malloc(big + 64);
	size_t len;

	(void)state;
	assert_non_null(buf);
	len = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX-Big: ");
	memset(buf + len, 'a', big);
	len += big;
	assert_int_equal(parse_exact(buf, len, &req), 0);
	memcpy(buf + len, "\r\n\r\n", 4);
	assert_int_equal(parse_exact(buf, len + 4, &req), len + 4);
	assert_int_equal(req.headers[0].value.len, big);

	memset(buf, 'G', big);
	assert_int_equal(parse_exact(buf, big, &req), 0); /* a long method */
	memset(buf, 'x', 4);
	buf[1] = ' ';
	memset(buf + 2, '/', big - 2);
	assert_int_equal(parse_exact(buf, big, &req), 0); /* a long target */
	free(buf);
}

static void test_find_header(void **state)
{
	static const char text[] =
		"GET / HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nauthorization: Basic x\r\n"
		"x-dup: 2\r\nX-Longer: 3\r\n\r\n";
	static struct http_request req;

	(void)state;
	assert_true(parse_exact(text, sizeof(text) - 1, &req) > 0);
	assert_int_equal(http_find_header(text, &req, "Host"), 0);
	assert_int_equal(http_find_header(text, &req, "HOST"), 0);
	assert_int_equal(http_find_header(text, &req, "Authorization"), 2);
	assert_int_equal(http_find_header(text, &req, "X-Dup"), -EEXIST);
	assert_int_equal(http_find_header(text, &req, "X-Long"), -ENOENT);
	assert_int_equal(http_find_header(text, &req, "X-Longer-Still"), -ENOENT);
	assert_int_equal(http_find_header(text, &req, "Cookie"), -ENOENT);
	assert_int_equal(http_find_header(text, &req, ""), -ENOENT);
}

static void test_check_framing(void **state)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nHost: a\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 123456789012345678\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\n\r\n", -EINVAL },
		{ "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", -EINVAL },
		{ "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		  -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n",
		  -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
		  "\r\n",
		  -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		  -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
		  -EINVAL },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", -EINVAL },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EINVAL },
	};
	static struct http_request req;
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_true(parse_exact(cases[i].text, strlen(cases[i].text), &req) > 0);
		ret = http_check_framing(cases[i].text, &req);
		if (ret != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].text, ret, cases[i].want);
	}
}

struct basic_case {
	const char *value;
	const char *user, *pass;
};

/* Base64 of the credentials worked out by hand or `printf %s | base64`. */
static const struct basic_case valid_basic[] = {
	{ "Basic YWxpY2U6czNjcmV0", "alice", "s3cret" },
	{ "basic YWxpY2U6czNjcmV0", "alice", "s3cret" },
	{ "BASIC   YWxpY2U6czNjcmV0", "alice", "s3cret" },
	{ "Basic dTpw", "u", "p" }, /* "u:p", no padding */
	{ "Basic dTpwdw==", "u", "pw" }, /* two '=' */
	{ "Basic dTpwd2Q=", "u", "pwd" }, /* one '=' */
	{ "Basic dTo=", "u", "" }, /* empty password */
	{ "Basic Ym9iOnBhOnNzIHdvcmQ=", "bob", "pa:ss word" }, /* split at the first colon */
	{ "Basic dXNlcjo6", "user", ":" },
	{ "Basic SsOpcsO0bWU6bcO2dA==", "J\xc3\xa9r\xc3\xb4me", "m\xc3\xb6t" }, /* UTF-8 */
	{ "Basic fjp+", "~", "~" },
	{ "Basic Pz8/Oj8/Pw==", "???", "???" }, /* '/' in the alphabet */
	{ "Basic Pj4+Oj4+Pg==", ">>>", ">>>" }, /* '+' in the alphabet */
};

static const struct {
	const char *why;
	const char *value;
	size_t len;
} malformed_basic[] = {
	{ "empty", S("") },
	{ "scheme only", S("Basic") },
	{ "scheme and SP only", S("Basic ") },
	{ "other scheme", S("Bearer YWxpY2U6czNjcmV0") },
	{ "scheme prefix", S("Basicx YWxpY2U6czNjcmV0") },
	{ "no SP after scheme", S("BasicYWxpY2U6czNjcmV0") },
	{ "HTAB after scheme", S("Basic\tYWxpY2U6czNjcmV0") },
	{ "leading SP", S(" Basic YWxpY2U6czNjcmV0") },
	{ "trailing SP", S("Basic YWxpY2U6czNjcmV0 ") },
	{ "SP inside", S("Basic YWxp Y2U6czNjcmV0") },
	{ "CRLF inside", S("Basic YWxp\r\nY2U6czNjcmV0") },
	{ "missing padding", S("Basic dTpwdw") },
	{ "missing one '='", S("Basic dTpwdw=") },
	{ "too much padding", S("Basic dTpwdw===") },
	{ "'=' inside", S("Basic dT=wdw==") },
	{ "'=' group then more", S("Basic dTo=dTo=") },
	{ "three '='", S("Basic d===") },
	{ "URL-safe alphabet", S("Basic Pz8_Oj8_Pw==") },
	{ "non-zero bits under one '='", S("Basic dTpwd2R=") },
	{ "non-zero bits under two '='", S("Basic dTpwdx==") },
	{ "NUL inside", S("Basic YWxp\0Y2U6") },
	{ "no colon", S("Basic YWxpY2U=") },
	{ "empty user", S("Basic OnBhc3M=") },
	{ "NUL in user", S("Basic YQBiOmM=") },
	{ "NUL in password", S("Basic YTpiAGM=") },
	{ "CR in password", S("Basic YTpiDWM=") },
	{ "LF in user", S("Basic YQpiOmM=") },
	{ "DEL in password", S("Basic YTp/") },
	{ "HTAB in user", S("Basic YQliOmM=") },
	{ "ESC in password", S("Basic YTobWw==") },
};

static void test_basic_valid(void **state)
{
	char user[64], pass[64];
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(valid_basic); i++) {
		const struct basic_case *c = &valid_basic[i];

		ret = http_basic_decode(c->value, strlen(c->value), user, sizeof(user), pass,
					sizeof(pass));
		if (ret != 0)
			fail_msg("%s: %d", c->value, ret);
		assert_string_equal(user, c->user);
		assert_string_equal(pass, c->pass);
	}
}

static int all_zero(const char *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

static void test_basic_malformed(void **state)
{
	char user[64], pass[64];
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(malformed_basic); i++) {
		memset(user, 'x', sizeof(user));
		memset(pass, 'x', sizeof(pass));
		ret = http_basic_decode(malformed_basic[i].value, malformed_basic[i].len, user,
					sizeof(user), pass, sizeof(pass));
		if (ret != -EINVAL)
			fail_msg("%s: %d, want -EINVAL", malformed_basic[i].why, ret);
		assert_true(all_zero(user, sizeof(user)) && all_zero(pass, sizeof(pass)));
	}
}

/* Only the len bytes given are read: a valid value followed by more. */
static void test_basic_length_bounds(void **state)
{
	static const char value[] = "Basic YWxpY2U6czNjcmV0!!!!";
	char user[64], pass[64];

	(void)state;
	assert_int_equal(http_basic_decode(value, 22, user, sizeof(user), pass, sizeof(pass)), 0);
	assert_string_equal(pass, "s3cret");
	assert_int_equal(http_basic_decode(value, 21, user, sizeof(user), pass, sizeof(pass)),
			 -EINVAL);
	assert_int_equal(http_basic_decode(value, 26, user, sizeof(user), pass, sizeof(pass)),
			 -EINVAL);
}

static void test_basic_too_long(void **state)
{
	static const char value[] = "Basic YWxpY2U6czNjcmV0"; /* alice:s3cret */
	const size_t len = sizeof(value) - 1;
	char user[8], pass[8];

	(void)state;
	/* "alice" needs 6 bytes, "s3cret" 7. */
	assert_int_equal(http_basic_decode(value, len, user, 6, pass, 7), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "s3cret");
	memset(pass, 'x', sizeof(pass));
	assert_int_equal(http_basic_decode(value, len, user, 5, pass, 7), -ENAMETOOLONG);
	assert_true(all_zero(user, 5) && all_zero(pass, 7));
	assert_int_equal(http_basic_decode(value, len, user, 6, pass, 6), -ENAMETOOLONG);
	assert_true(all_zero(user, 6) && all_zero(pass, 6));
	assert_int_equal(http_basic_decode(value, len, user, 0, pass, 7), -ENAMETOOLONG);
	assert_int_equal(http_basic_decode(value, len, user, 6, pass, 0), -ENAMETOOLONG);
	/* Malformed wins over too long: the answer does not depend on sizes. */
	assert_int_equal(http_basic_decode(S("Basic YWxpY2U="), user, 1, pass, 1), -EINVAL);
}

/* A long credential: "user:" and 3001 bytes of password, 4008 of base64. */
static void test_basic_long(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char raw[5 + 3001], value[6 + 4008], user[8], pass[3002];
	size_t i, o = 6;

	(void)state;
	memcpy(raw, "user:", 5);
	for (i = 5; i < sizeof(raw); i++)
		raw[i] = (char)('!' + i % 90);
	memcpy(value, "Basic ", 6);
	for (i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint8_t)raw[i] << 16 | (uint8_t)raw[i + 1] << 8 | (uint8_t)raw[i + 2];

		value[o++] = alphabet[v >> 18];
		value[o++] = alphabet[(v >> 12) & 63];
		value[o++] = alphabet[(v >> 6) & 63];
		value[o++] = alphabet[v & 63];
	}
	assert_int_equal(o, sizeof(value));
	assert_int_equal(http_basic_decode(value, o, user, sizeof(user), pass, sizeof(pass)), 0);
	assert_string_equal(user, "user");
	assert_int_equal(strlen(pass), 3001);
	assert_memory_equal(pass, raw + 5, 3001);
	assert_int_equal(http_basic_decode(value, o, user, sizeof(user), pass, 3001),
			 -ENAMETOOLONG);
}

/* The Authorization header of a parsed head, as the daemon will use them. */
static void test_head_to_credentials(void **state)
{
	static const char text[] = "GET / HTTP/1.1\r\nHost: a\r\nAuthorization:   Basic "
				   "YWxpY2U6czNjcmV0  \r\n\r\n";
	static struct http_request req;
	char user[16], pass[16];
	int i;

	(void)state;
	assert_true(parse_exact(text, sizeof(text) - 1, &req) > 0);
	i = http_find_header(text, &req, "authorization");
	assert_int_equal(i, 1);
	assert_int_equal(http_basic_decode(text + req.headers[i].value.off,
					   req.headers[i].value.len, user, sizeof(user), pass,
					   sizeof(pass)),
			 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "s3cret");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_heads),
		cmocka_unit_test(test_valid_prefixes),
		cmocka_unit_test(test_valid_with_more_bytes),
		cmocka_unit_test(test_spans_multi_header),
		cmocka_unit_test(test_malformed_heads),
		cmocka_unit_test(test_refused_early),
		cmocka_unit_test(test_header_count_limit),
		cmocka_unit_test(test_large_heads),
		cmocka_unit_test(test_find_header),
		cmocka_unit_test(test_check_framing),
		cmocka_unit_test(test_basic_valid),
		cmocka_unit_test(test_basic_malformed),
		cmocka_unit_test(test_basic_length_bounds),
		cmocka_unit_test(test_basic_too_long),
		cmocka_unit_test(test_basic_long),
		cmocka_unit_test(test_head_to_credentials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
