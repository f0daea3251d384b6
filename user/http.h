/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * HTTP/1.x request head parsing for inspection. Pure functions: no I/O, no
 * allocation; every offset is checked against the length given. Strict on
 * purpose (RFC 9112): whatever a lenient server might read differently from
 * us (bare LF, obs-fold, "Name :", control bytes) is refused, so that what we
 * authenticate is what the server sees.
 */
#ifndef CUTTHRU_HTTP_H
#define CUTTHRU_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HEADERS_MAX 64

struct http_span {
	uint32_t off, len; /* into the parsed buffer */
};

struct http_header {
	struct http_span name, value; /* value without surrounding OWS */
	struct http_span line; /* the whole line including its CRLF */
};

struct http_request {
	uint32_t head_len; /* bytes up to and including the empty line's CRLF */
	struct http_span method, target, version;
	int version_minor; /* HTTP/1.0 -> 0, HTTP/1.1 -> 1 */
	uint32_t n_headers;
	struct http_header headers[HTTP_HEADERS_MAX];
};

/*
 * Parses the request head at the start of buf. Returns head_len (> 0) when the
 * head is complete; 0 when more bytes are needed (and len has not reached the
 * limit of the caller); -EINVAL when malformed; -E2BIG when more than
 * HTTP_HEADERS_MAX headers (or a head not complete within INT_MAX bytes).
 * Only HTTP/1.0 and 1.1; strict: CRLF line ends only (bare CR or bare LF ->
 * -EINVAL), no obs-fold, no whitespace between field name and colon, token
 * chars in method and field names, no control chars (NUL, DEL, other CTLs
 * except HTAB in values), request-target of visible ASCII only (0x21-0x7e),
 * exactly one SP between the request-line's parts, no empty line before it.
 *
 * The bytes are judged in order, so a prefix of any input returns either 0 or
 * what the whole input returns: an answer never changes as bytes arrive.
 * req is only meaningful when the return is > 0.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/*
 * Index of the only header named name (case-insensitive), -ENOENT if none,
 * -EEXIST if present more than once.
 */
int http_find_header(const char *buf, const struct http_request *req, const char *name);

/* Is the span (case-insensitively, ASCII) equal to str? */
int http_span_equal_nocase(const char *buf, struct http_span span, const char *str);

/*
 * The checks beyond syntax that keep us and the server agreeing on where this
 * request ends (request smuggling): HTTP/1.1 has exactly one Host, HTTP/1.0 at
 * most one; at most one Content-Length, all digits, no leading sign or space,
 * at most 18 digits; Transfer-Encoding only in HTTP/1.1, at most one, exactly
 * "chunked", and never together with Content-Length. Returns 0 or -EINVAL.
 */
int http_check_framing(const char *buf, const struct http_request *req);

/*
 * Decodes an Authorization value "Basic <base64>" (scheme case-insensitive,
 * one or more SP between, strict RFC 4648 base64 with padding, no whitespace
 * inside, unused bits of the last group zero so that the encoding is the only
 * one) into user and password (split at the FIRST colon; user must be
 * non-empty and without ':'; both NUL-terminated; no NUL or CTL bytes allowed
 * in either). Returns 0, -EINVAL malformed/not Basic, -ENAMETOOLONG if either
 * does not fit. On error both buffers are zeroed (no partial secret is left).
 */
int http_basic_decode(const char *value, size_t len, char *user, size_t user_size, char *pass,
		      size_t pass_size);

#endif /* CUTTHRU_HTTP_H */
