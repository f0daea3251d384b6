// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target of user/tls.c. Each input is tried twice: as the bytes a
 * client sent, and re-framed (when it starts like a handshake record) with
 * the record and handshake lengths made to fit and the message cut into
 * records of a size the input picks, so that mutations reach the ClientHello
 * body and its split across records. Beyond "no crash", each try checks:
 * - the answer and name against a second, deliberately different parser
 *   (records joined into one contiguous buffer first, then read with
 *   pointers), for complete inputs;
 * - a returned name passes an independent DNS-name check and is lower case;
 * - hello_len within the buffer; prefixes (copied to buffers of exactly
 *   their size) answer -EAGAIN or the whole input's answer, and the
 *   ClientHello alone answers the same as with bytes after it;
 * - max_len: hello_len - 1 gives -E2BIG, hello_len the same answer, and a
 *   limit the first 9 bytes already prove too small gives -E2BIG from them;
 * - a name_size one short gives -ENAMETOOLONG;
 * - sni_match of the name against patterns built from it;
 * - and, for text "PATTERN\nNAME", sni_match, sni_pattern_valid and
 *   sni_name_valid against references written from their comments.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tls.h"
#include "check.h"

#define NAME_SIZE (TLS_SNI_MAX + 1)
#define REF_INCOMPLETE 2

/* Independent DNS-name check: split into labels with strchr. */
static int ref_dns_name(const char *name)
{
	const char *label = name, *dot;
	size_t n = strlen(name);

	if (n == 0 || n > 253)
		return 0;
	for (;;) {
		size_t len;

		dot = strchr(label, '.');
		len = dot ? (size_t)(dot - label) : strlen(label);
		if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
			return 0;
		if (strspn(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
			return 0;
		if (!dot)
			return 1;
		label = dot + 1;
	}
}

/* Reference ClientHello body reader over a contiguous buffer. */
struct ref {
	const uint8_t *p, *end;
};

static int take(struct ref *r, size_t n, const uint8_t **out)
{
	if ((size_t)(r->end - r->p) < n)
		return 0;
	*out = r->p;
	r->p += n;
	return 1;
}

static int take_num(struct ref *r, size_t n, size_t *v)
{
	const uint8_t *b;

	if (!take(r, n, &b))
		return 0;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | b[i];
	return 1;
}

/* A vector: its bytes as a sub-reader. */
static int take_vec(struct ref *r, size_t len_bytes, struct ref *sub)
{
	size_t n;
	const uint8_t *b;

	if (!take_num(r, len_bytes, &n) || !take(r, n, &b))
		return 0;
	sub->p = b;
	sub->end = b + n;
	return 1;
}

static int ref_server_name(struct ref ext, char *name)
{
	struct ref list, host;
	size_t type;
	int names = 0;

	if (!take_vec(&ext, 2, &list) || ext.p != ext.end || list.p == list.end)
		return -EINVAL;
	while (list.p != list.end) {
		if (!take_num(&list, 1, &type) || type != 0 || names++)
			return -EINVAL;
		if (!take_vec(&list, 2, &host) || host.end - host.p > 253 || host.p == host.end)
			return -EINVAL;
		for (size_t i = 0; i < (size_t)(host.end - host.p); i++) {
			uint8_t c = host.p[i];

			name[i] = c >= 'A' && c <= 'Z' ? c + 32 : c;
			if (c == 0)
				return -EINVAL;
		}
		name[host.end - host.p] = '\0';
		if (!ref_dns_name(name))
			return -EINVAL;
	}
	return 1;
}

static int ref_body(const uint8_t *body, size_t n, char *name)
{
	struct ref r = { body, body + n }, v, exts, ext;
	size_t version, type;
	const uint8_t *skip;
	int found = 0;

	if (!take_num(&r, 2, &version) || version < 0x0301 || version > 0x0303)
		return -EINVAL;
	if (!take(&r, 32, &skip) || !take_vec(&r, 1, &v) || v.end - v.p > 32)
		return -EINVAL;
	if (!take_vec(&r, 2, &v) || v.end - v.p < 2 || (v.end - v.p) % 2)
		return -EINVAL;
	if (!take_vec(&r, 1, &v) || v.end == v.p)
		return -EINVAL;
	if (r.p == r.end)
		return 0;
	if (!take_vec(&r, 2, &exts) || r.p != r.end)
		return -EINVAL;
	while (exts.p != exts.end) {
		if (!take_num(&exts, 2, &type) || !take_vec(&exts, 2, &ext))
			return -EINVAL;
		if (type != 0)
			continue;
		if (found++ || ref_server_name(ext, name) < 0)
			return -EINVAL;
	}
	return found;
}

/*
 * The whole client bytes: records joined first. Returns the answer expected
 * (with no size limit), or REF_INCOMPLETE when the parser may say -EAGAIN or
 * -EINVAL (it judges partial records early; this does not).
 */
static int reference(const uint8_t *buf, size_t size, char *name, size_t *hello_len)
{
	static uint8_t joined[1 << 17];
	size_t off = 0, n = 0, need = 0;
	int ret;

	name[0] = '\0';
	for (;;) {
		size_t len;

		if (size - off < 5)
			return REF_INCOMPLETE;
		len = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (buf[off] != 22 || buf[off + 1] != 3 || buf[off + 2] < 1 || buf[off + 2] > 4 ||
		    len == 0 || len > 16384)
			return -EINVAL;
		if (size - off - 5 < len) {
			/* Judged as soon as seen: the handshake type. */
			if (n == 0 && size - off > 5 && buf[off + 5] != 1)
				return -EINVAL;
			return REF_INCOMPLETE;
		}
		if (n + len > sizeof(joined))
			return REF_INCOMPLETE; /* too big for this reference */
		memcpy(joined + n, buf + off + 5, len);
		n += len;
		off += 5 + len;
		if (joined[0] != 1)
			return -EINVAL;
		if (n < 4)
			continue;
		need = 4 + ((size_t)joined[1] << 16 | (size_t)joined[2] << 8 | joined[3]);
		if (n > need)
			return -EINVAL;
		if (n == need)
			break;
	}
	ret = ref_body(joined + 4, need - 4, name);
	if (ret >= 0)
		*hello_len = off;
	if (ret != 1)
		name[0] = '\0';
	return ret;
}

static int parse_copy(const uint8_t *data, size_t len, size_t max_len, char *name, size_t name_size,
		      size_t *hello_len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	memcpy(copy, data, len);
	ret = tls_client_hello_sni(copy, len, max_len, name, name_size, hello_len);
	free(copy);
	return ret;
}

static void check_prefix(const uint8_t *data, size_t k, int full, size_t full_len,
			 const char *full_name)
{
	char name[NAME_SIZE];
	size_t hello_len = 0;
	int ret = parse_copy(data, k, SIZE_MAX, name, sizeof(name), &hello_len);

	CHECK(ret == -EAGAIN || ret == full);
	if (full >= 0 && k >= full_len)
		CHECK(ret == full && hello_len == full_len && strcmp(name, full_name) == 0);
	else if (full >= 0)
		CHECK(ret == -EAGAIN);
}

static void check_match(const char *name)
{
	char pattern[NAME_SIZE + 2];
	const char *dot = strchr(name, '.');

	CHECK(sni_match("*", name) == 1);
	CHECK(sni_match(name, name) == 1);
	snprintf(pattern, sizeof(pattern), "*.%s", name);
	CHECK(sni_match(pattern, name) == 0);
	if (dot) {
		snprintf(pattern, sizeof(pattern), "*%s", dot);
		CHECK(sni_match(pattern, name) == 1);
		CHECK(sni_match(pattern, dot + 1) == 0);
	}
}

/*
 * The first record's header and the handshake header bound the ClientHello
 * from below (the rest needs at least one more record header): a limit under
 * that bound is refused from those 9 bytes alone, not later.
 */
static void check_e2big_early(const uint8_t *data, size_t hello_len)
{
	size_t rec = (size_t)data[3] << 8 | data[4], need, bound;
	char name[NAME_SIZE];
	size_t len = 0;

	if (rec < 4)
		return;
	need = 4 + ((size_t)data[6] << 16 | (size_t)data[7] << 8 | data[8]);
	bound = 5 + rec + (need > rec ? 5 + need - rec : 0);
	CHECK(bound <= hello_len);
	CHECK(parse_copy(data, 9, bound - 1, name, sizeof(name), &len) == -E2BIG);
	CHECK(parse_copy(data, 9, bound, name, sizeof(name), &len) == -EAGAIN);
}

static void check_input(const uint8_t *data, size_t size)
{
	char name[NAME_SIZE], ref_name[NAME_SIZE];
	size_t hello_len = 0, ref_len = 0;
	int ret = parse_copy(data, size, SIZE_MAX, name, sizeof(name), &hello_len);
	int want = reference(data, size, ref_name, &ref_len);

	CHECK(ret == 1 || ret == 0 || ret == -EAGAIN || ret == -EINVAL);
	if (want == REF_INCOMPLETE)
		CHECK(ret == -EAGAIN || ret == -EINVAL);
	else
		CHECK(ret == want);
	if (ret < 0) {
		CHECK(name[0] == '\0');
	} else {
		CHECK(hello_len == ref_len && hello_len <= size);
		CHECK(strcmp(name, ref_name) == 0);
	}
	if (ret == 1) {
		CHECK(ref_dns_name(name) && sni_name_valid(name));
		check_match(name);
	}
	if (ret >= 0) {
		char small[NAME_SIZE];
		size_t len2 = 0;

		CHECK(parse_copy(data, size, hello_len - 1, small, sizeof(small), &len2) == -E2BIG);
		CHECK(parse_copy(data, size, hello_len, small, sizeof(small), &len2) == ret);
		CHECK(len2 == hello_len && strcmp(small, name) == 0);
		if (ret == 1)
			CHECK(parse_copy(data, size, SIZE_MAX, small, strlen(name), &len2) ==
			      -ENAMETOOLONG);
		check_e2big_early(data, hello_len);
		check_prefix(data, hello_len, ret, hello_len, name);
		check_prefix(data, hello_len - 1, ret, hello_len, name);
	}
	check_prefix(data, size / 2, ret, hello_len, name);
	if (size)
		check_prefix(data, data[size - 1] % size, ret, hello_len, name);
}

/* data as one handshake record's payload, lengths fixed, cut into records
 * of 1 + 64 * the last byte. */
static void check_reframed(const uint8_t *data, size_t size)
{
	size_t body, chunk, i, o = 0;
	uint8_t *msg, *out;

	if (size < 10 || data[0] != 22)
		return;
	body = size - 5 - 1;
	if (body > 0xffffff)
		return;
	msg = malloc(body);
	memcpy(msg, data + 5, body);
	msg[1] = (body - 4) >> 16;
	msg[2] = ((body - 4) >> 8) & 0xff;
	msg[3] = (body - 4) & 0xff;
	chunk = 1 + data[size - 1] * 64;
	out = malloc(body + 5 * ((body + chunk - 1) / chunk));
	for (i = 0; i < body; i += chunk) {
		size_t n = body - i < chunk ? body - i : chunk;

		out[o++] = 22;
		out[o++] = 3;
		out[o++] = data[2] >= 1 && data[2] <= 4 ? data[2] : 1;
		out[o++] = n >> 8;
		out[o++] = n & 0xff;
		memcpy(out + o, msg + i, n);
		o += n;
	}
	check_input(out, o);
	free(msg);
	free(out);
}

static void ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

/* Reference pattern check and match, written from sni_match's comment. */
static int ref_pattern_valid(const char *pattern)
{
	char *low = strdup(pattern);
	int ok;

	ascii_lower(low);
	ok = strcmp(low, "*") == 0 || ref_dns_name(low) ||
	     (strncmp(low, "*.", 2) == 0 && ref_dns_name(low + 2));
	free(low);
	return ok;
}

static int ref_match(const char *pattern, const char *name)
{
	char *p = strdup(pattern), *n = strdup(name);
	size_t pl, nl;
	int ok = 0;

	ascii_lower(p);
	ascii_lower(n);
	pl = strlen(p);
	nl = strlen(n);
	if (!ref_pattern_valid(p) || !ref_dns_name(n))
		ok = 0;
	else if (strcmp(p, "*") == 0)
		ok = 1;
	else if (p[0] == '*') /* "*.suffix": n = labels "." suffix */
		ok = nl > pl - 1 && strcmp(n + nl - (pl - 1), p + 1) == 0 && n[nl - pl] != '.';
	else
		ok = strcmp(p, n) == 0;
	free(p);
	free(n);
	return ok;
}

/* Text "PATTERN\nNAME" (each up to a NUL): sni_match against ref_match. */
static void check_match_strings(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *pattern, *name;

	if (!nl || size > 1024)
		return;
	pattern = strndup((const char *)data, nl - data);
	name = strndup((const char *)nl + 1, size - (nl + 1 - data));
	CHECK(sni_pattern_valid(pattern) == ref_pattern_valid(pattern));
	CHECK(sni_match(pattern, name) == ref_match(pattern, name));
	CHECK(sni_name_valid(name) == ref_dns_name(name));
	free(pattern);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_input(data, size);
	check_reframed(data, size);
	check_match_strings(data, size);
	return 0;
}
