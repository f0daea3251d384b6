// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The ClientHello's server_name, in two passes over the client's bytes:
 * first the records (headers checked, the handshake header read, sizes
 * bounded) until the whole ClientHello is there, then the ClientHello itself,
 * read through the record headers as one stream. Nothing about the name is
 * answered before the whole ClientHello has been seen and checked: a second
 * server_name further on must turn the answer into -EINVAL, not 1.
 */
#include <errno.h>
#include <string.h>
#include "tls.h"

#define RECORD_HEADER 5
#define RECORD_HANDSHAKE 22
#define RECORD_PAYLOAD_MAX (1u << 14)
#define HANDSHAKE_HEADER 4
#define HANDSHAKE_CLIENT_HELLO 1
#define HELLO_RANDOM 32
#define SESSION_ID_MAX 32
#define EXT_SERVER_NAME 0
#define NAME_TYPE_HOST_NAME 0
#define LABEL_MAX 63

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* The header of the record at p, judged field by field as far as there are
 * bytes (so that "not TLS" is said at the first byte). */
static int record_header(const uint8_t *p, size_t avail, size_t *payload_len)
{
	if (avail < 1)
		return -EAGAIN;
	if (p[0] != RECORD_HANDSHAKE)
		return -EINVAL;
	if (avail < 2)
		return -EAGAIN;
	if (p[1] != 3)
		return -EINVAL;
	if (avail < 3)
		return -EAGAIN;
	if (p[2] < 1 || p[2] > 4)
		return -EINVAL;
	if (avail < RECORD_HEADER)
		return -EAGAIN;
	*payload_len = (size_t)p[3] << 8 | p[4];
	/* Empty handshake fragments are forbidden (RFC 8446 5.1). */
	if (*payload_len == 0 || *payload_len > RECORD_PAYLOAD_MAX)
		return -EINVAL;
	return 0;
}

/*
 * With the handshake message's length known (need, header included), the
 * records so far (payload bytes, ending at records_end) either overrun it,
 * complete it, or leave need - payload to come in at least one more record.
 */
static int check_need(size_t need, size_t payload, size_t records_end, size_t max_len)
{
	if (payload > need)
		return -EINVAL;
	if (payload < need && records_end + RECORD_HEADER + (need - payload) > max_len)
		return -E2BIG;
	return 0;
}

/*
 * First pass: the records that make up the ClientHello. Returns 0 with their
 * total size and the handshake message's size (header included), or
 * -EAGAIN/-EINVAL/-E2BIG.
 */
static int find_hello(const uint8_t *buf, size_t len, size_t max_len, size_t *total, size_t *need)
{
	uint8_t hs[HANDSHAKE_HEADER];
	size_t pos = 0, payload = 0, got = 0, rec_len, avail, i;
	int ret;

	*need = 0;
	for (;;) {
		ret = record_header(buf + pos, len - pos, &rec_len);
		if (ret)
			return ret;
		if (pos + RECORD_HEADER + rec_len > max_len)
			return -E2BIG;
		payload += rec_len;
		if (*need) {
			ret = check_need(*need, payload, pos + RECORD_HEADER + rec_len, max_len);
			if (ret)
				return ret;
		}
		avail = len - pos - RECORD_HEADER;
		if (avail > rec_len)
			avail = rec_len;
		for (i = 0; got < HANDSHAKE_HEADER && i < avail; i++, got++) {
			hs[got] = buf[pos + RECORD_HEADER + i];
			if (got == 0 && hs[0] != HANDSHAKE_CLIENT_HELLO)
				return -EINVAL;
			if (got < HANDSHAKE_HEADER - 1)
				continue;
			*need = HANDSHAKE_HEADER +
				((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			ret = check_need(*need, payload, pos + RECORD_HEADER + rec_len, max_len);
			if (ret)
				return ret;
		}
		if (avail < rec_len)
			return -EAGAIN;
		pos += RECORD_HEADER + rec_len;
		if (*need && payload == *need) {
			*total = pos;
			return 0;
		}
	}
}

/* Second pass: the handshake message as one stream across its records, which
 * the first pass has checked. off counts message bytes; end is its size. */
struct hs_reader {
	const uint8_t *buf;
	size_t pos; /* buffer offset of the next byte */
	size_t rec_left; /* payload bytes left in the current record */
	size_t off;
	size_t end;
};

static uint8_t next_byte(struct hs_reader *r)
{
	if (r->rec_left == 0) {
		r->rec_left = (size_t)r->buf[r->pos + 3] << 8 | r->buf[r->pos + 4];
		r->pos += RECORD_HEADER;
	}
	r->rec_left--;
	r->off++;
	return r->buf[r->pos++];
}

/* An n-byte (n <= 3) big-endian number ending no later than limit. */
static int read_uint(struct hs_reader *r, size_t limit, unsigned int n, size_t *v)
{
	if (limit > r->end || n > limit - r->off)
		return -EINVAL;
	*v = 0;
	while (n--)
		*v = *v << 8 | next_byte(r);
	return 0;
}

static int skip(struct hs_reader *r, size_t limit, size_t n)
{
	if (limit > r->end || n > limit - r->off)
		return -EINVAL;
	while (n--)
		next_byte(r);
	return 0;
}

/* A length-prefixed vector with a length in [min, max] and a multiple of
 * unit, skipped. */
static int skip_vector(struct hs_reader *r, size_t limit, unsigned int len_bytes, size_t min,
		       size_t max, size_t unit)
{
	size_t n;
	int ret;

	ret = read_uint(r, limit, len_bytes, &n);
	if (ret)
		return ret;
	if (n < min || n > max || n % unit)
		return -EINVAL;
	return skip(r, limit, n);
}

/* Host name of n bytes as tls_client_hello_sni returns them; any_case lets
 * upper-case letters through (for patterns and sni_match's arguments). */
static int host_valid(const char *s, size_t n, int any_case)
{
	size_t i, label = 0;

	if (n == 0 || n > TLS_SNI_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = any_case ? lower(s[i]) : (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > LABEL_MAX)
			return 0;
	}
	return label != 0 && s[n - 1] != '-';
}

int sni_name_valid(const char *name)
{
	return host_valid(name, strnlen(name, TLS_SNI_MAX + 1), 0);
}

/* The server_name extension's body (RFC 6066 3): exactly one host_name. */
static int read_server_name(struct hs_reader *r, size_t ext_end, char host[TLS_SNI_MAX + 1])
{
	size_t list_len, type, n, i;
	int names = 0, ret;

	ret = read_uint(r, ext_end, 2, &list_len);
	if (ret)
		return ret;
	if (list_len == 0 || list_len != ext_end - r->off)
		return -EINVAL;
	while (r->off < ext_end) {
		ret = read_uint(r, ext_end, 1, &type);
		if (ret)
			return ret;
		/* Other name types have no defined length to skip them by. */
		if (type != NAME_TYPE_HOST_NAME || names++)
			return -EINVAL;
		ret = read_uint(r, ext_end, 2, &n);
		if (ret)
			return ret;
		if (n == 0 || n > TLS_SNI_MAX || n > ext_end - r->off)
			return -EINVAL;
		for (i = 0; i < n; i++)
			host[i] = (char)lower(next_byte(r));
		host[n] = '\0';
		if (!host_valid(host, n, 0))
			return -EINVAL;
	}
	return 0;
}

/* The extensions block, which must end where the message ends. */
static int read_extensions(struct hs_reader *r, char host[TLS_SNI_MAX + 1])
{
	size_t total, type, n;
	int has_name = 0, ret;

	ret = read_uint(r, r->end, 2, &total);
	if (ret)
		return ret;
	if (total != r->end - r->off)
		return -EINVAL;
	while (r->off < r->end) {
		ret = read_uint(r, r->end, 2, &type);
		if (!ret)
			ret = read_uint(r, r->end, 2, &n);
		if (ret)
			return ret;
		if (n > r->end - r->off)
			return -EINVAL;
		if (type != EXT_SERVER_NAME) {
			ret = skip(r, r->end, n);
			if (ret)
				return ret;
			continue;
		}
		/* Two of them and the server might read the other one. */
		if (has_name++)
			return -EINVAL;
		ret = read_server_name(r, r->off + n, host);
		if (ret)
			return ret;
	}
	return has_name;
}

/* The ClientHello (RFC 8446 4.1.2) up to its extensions. */
static int read_client_hello(struct hs_reader *r, char host[TLS_SNI_MAX + 1])
{
	size_t version;
	int ret;

	ret = skip(r, r->end, HANDSHAKE_HEADER);
	if (!ret)
		ret = read_uint(r, r->end, 2, &version);
	if (ret)
		return ret;
	if (version < 0x0301 || version > 0x0303)
		return -EINVAL;
	ret = skip(r, r->end, HELLO_RANDOM);
	if (!ret)
		ret = skip_vector(r, r->end, 1, 0, SESSION_ID_MAX, 1);
	if (!ret) /* CipherSuite cipher_suites<2..2^16-2>, two bytes each */
		ret = skip_vector(r, r->end, 2, 2, 0xfffe, 2);
	if (!ret) /* legacy_compression_methods<1..2^8-1> */
		ret = skip_vector(r, r->end, 1, 1, 0xff, 1);
	if (ret)
		return ret;
	if (r->off == r->end)
		return 0; /* no extensions at all (TLS 1.0-1.2 allow it) */
	return read_extensions(r, host);
}

int tls_client_hello_sni(const uint8_t *buf, size_t len, size_t max_len, char *name,
			 size_t name_size, size_t *hello_len)
{
	char host[TLS_SNI_MAX + 1] = "";
	struct hs_reader r = { .buf = buf, .pos = RECORD_HEADER };
	size_t total, need, n;
	int ret;

	if (name_size)
		name[0] = '\0';
	ret = find_hello(buf, len, max_len, &total, &need);
	if (ret)
		return ret;
	r.rec_left = (size_t)buf[3] << 8 | buf[4];
	r.end = need;
	ret = read_client_hello(&r, host);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		n = strlen(host);
		if (n >= name_size)
			return -ENAMETOOLONG;
		memcpy(name, host, n + 1);
	}
	*hello_len = total;
	return ret;
}

int sni_pattern_valid(const char *pattern)
{
	if (strcmp(pattern, "*") == 0)
		return 1;
	if (pattern[0] == '*' && pattern[1] == '.')
		pattern += 2;
	return host_valid(pattern, strnlen(pattern, TLS_SNI_MAX + 1), 1);
}

static int equal_nocase(const char *a, const char *b)
{
	while (*a && lower(*a) == lower(*b)) {
		a++;
		b++;
	}
	return *a == '\0' && *b == '\0';
}

int sni_match(const char *pattern, const char *name)
{
	size_t name_len = strnlen(name, TLS_SNI_MAX + 1), suffix_len;

	if (!sni_pattern_valid(pattern) || !host_valid(name, name_len, 1))
		return 0;
	if (strcmp(pattern, "*") == 0)
		return 1;
	if (pattern[0] != '*')
		return equal_nocase(pattern, name);
	/* ".example.org" must end the name after at least one whole label;
	 * the name's labels are non-empty, so any byte before the dot will do. */
	suffix_len = strlen(pattern + 1);
	return name_len > suffix_len && equal_nocase(pattern + 1, name + name_len - suffix_len);
}
