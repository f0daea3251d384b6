// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of user/tls.c: ClientHello server_name, real and built, whole,
 * cut short, split across records, malformed and oversized; name patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tls.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_LEN 65536 /* the caller's limit in most tests */

/* openssl s_client -servername www.example.org (OpenSSL 3.0, TLS 1.3), captured over loopback */
static const uint8_t openssl_tls13_sni[] = {
	0x16, 0x03, 0x01, 0x01, 0x3c, 0x01, 0x00, 0x01, 0x38, 0x03, 0x03, 0x78, 0xb5, 0xb7, 0x8b,
	0x8d, 0x1b, 0x74, 0x1d, 0x64, 0xb5, 0x22, 0x8e, 0x94, 0x93, 0xf0, 0x62, 0xf6, 0x5f, 0x8b,
	0xf6, 0x26, 0x8f, 0x05, 0x5e, 0x8d, 0x62, 0xe0, 0x31, 0xeb, 0xfb, 0xd2, 0x37, 0x20, 0x99,
	0x38, 0x80, 0x98, 0xe6, 0xc5, 0x5f, 0x4f, 0x3e, 0x7f, 0x99, 0xce, 0x73, 0x4e, 0x70, 0x74,
	0xe0, 0x47, 0x8b, 0x8c, 0x66, 0xb6, 0x69, 0x84, 0x2c, 0xd3, 0x47, 0x47, 0x5c, 0xb6, 0xda,
	0x20, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
	0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0,
	0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00,
	0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb1, 0x00, 0x00, 0x00, 0x14, 0x00, 0x12,
	0x00, 0x00, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
	0x6f, 0x72, 0x67, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01,
	0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00,
	0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06,
	0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04,
	0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03,
	0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24,
	0x00, 0x1d, 0x00, 0x20, 0x6a, 0xa7, 0x9a, 0x81, 0x78, 0xbe, 0xfb, 0x38, 0x2e, 0xae, 0xcf,
	0x43, 0xe9, 0x9e, 0x79, 0x47, 0x38, 0xb9, 0xc3, 0x9c, 0xa4, 0xc9, 0x0f, 0x4c, 0x94, 0x7b,
	0x8e, 0xe6, 0xc9, 0x3d, 0x50, 0x41,
};

/* openssl s_client -tls1_2 -servername www.example.org, captured over loopback */
static const uint8_t openssl_tls12_sni[] = {
	0x16, 0x03, 0x01, 0x00, 0xcf, 0x01, 0x00, 0x00, 0xcb, 0x03, 0x03, 0xa4, 0x2d, 0x1a, 0x27,
	0xaf, 0xe4, 0x86, 0x5e, 0xa5, 0x64, 0xa2, 0xf2, 0xf9, 0xf0, 0xe8, 0x10, 0xde, 0xd9, 0xac,
	0x90, 0xfa, 0xb8, 0x70, 0x81, 0x3c, 0x9a, 0xb9, 0xb4, 0x3d, 0xa9, 0x8d, 0x30, 0x00, 0x00,
	0x38, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
	0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00,
	0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
	0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00,
	0x6a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x0b, 0x00, 0x04, 0x03,
	0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
	0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00,
	0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04,
	0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
	0x06, 0x02,
};

/* openssl s_client -noservername, captured over loopback */
static const uint8_t openssl_no_sni[] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x64, 0xe4, 0x70, 0x5b,
	0x1d, 0x6d, 0x35, 0xa0, 0xe6, 0x87, 0xf7, 0xf9, 0x9e, 0x6b, 0x3c, 0xcd, 0x1c, 0x2d, 0x83,
	0x4f, 0xde, 0x1c, 0x93, 0x10, 0x06, 0x2b, 0x81, 0x3f, 0xad, 0xda, 0x24, 0xe2, 0x20, 0x49,
	0xd3, 0xfa, 0xbb, 0x84, 0xdf, 0xb1, 0xc7, 0xe1, 0xbf, 0xb3, 0x16, 0x0b, 0x5e, 0x2c, 0x1d,
	0x9f, 0x65, 0x66, 0xaa, 0x9f, 0x80, 0x28, 0x52, 0x7e, 0xc3, 0xe5, 0xb3, 0xb9, 0x53, 0xed,
	0x1d, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
	0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0,
	0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00,
	0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00,
	0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00,
	0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00,
	0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a,
	0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03,
	0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,
	0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x42, 0xd0, 0xff, 0xd9, 0x5c,
	0xf4, 0x71, 0xb7, 0x13, 0xea, 0x80, 0x50, 0x50, 0x29, 0x92, 0xf2, 0xb3, 0x9c, 0xf3, 0x05,
	0x20, 0xe1, 0x00, 0x4e, 0x84, 0x52, 0x49, 0xfd, 0xfd, 0x7d, 0xbb, 0x53,
};

/* Bytes being built; big enough for a ClientHello of 64 KiB in records. */
struct bytes {
	uint8_t d[1 << 17];
	size_t n;
};

static struct bytes msg, wire;

static void put(struct bytes *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->d));
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put_uint(struct bytes *b, size_t v, int len_bytes)
{
	while (len_bytes--) {
		uint8_t byte = (uint8_t)(v >> (8 * len_bytes));

		put(b, &byte, 1);
	}
}

static void put_fill(struct bytes *b, uint8_t byte, size_t n)
{
	while (n--)
		put(b, &byte, 1);
}

/* A length field to fill in once the vector is written. */
static size_t vec_open(struct bytes *b, int len_bytes)
{
	size_t at = b->n;

	put_uint(b, 0, len_bytes);
	return at;
}

/* Writes the vector's length, plus delta (to make it lie). */
static void vec_close(struct bytes *b, size_t at, int len_bytes, int delta)
{
	size_t v = b->n - at - len_bytes + delta;
	int i;

	for (i = 0; i < len_bytes; i++)
		b->d[at + i] = (uint8_t)(v >> (8 * (len_bytes - 1 - i)));
}

/* A ClientHello; all zero is a plain valid one without server_name. */
struct hello {
	uint16_t version; /* legacy_version; 0: 0x0303 */
	int session_id_delta; /* on 32 bytes */
	int suites_delta; /* on 6 bytes (three suites) */
	int comp_delta; /* on 1 method */
	int no_extensions;
	const char *names[3]; /* host_name entries; none: no server_name */
	int sni_twice; /* the server_name extension twice */
	int sni_last; /* server_name as the last extension (else one follows) */
	uint8_t name_type; /* of the first entry */
	size_t padding; /* a padding extension of this size before server_name */
	int trailing; /* bytes after the extensions, inside the message */
	/* added to length fields to make them lie */
	int exts_delta, sni_ext_delta, list_delta, name_delta, hs_delta;
};

static void put_server_name(struct bytes *b, const struct hello *h)
{
	size_t ext, list, name;
	int i;

	put_uint(b, 0, 2); /* server_name */
	ext = vec_open(b, 2);
	list = vec_open(b, 2);
	for (i = 0; i < 3 && h->names[i]; i++) {
		put_uint(b, i == 0 ? h->name_type : 0, 1);
		name = vec_open(b, 2);
		put(b, h->names[i], strlen(h->names[i]));
		vec_close(b, name, 2, i == 0 ? h->name_delta : 0);
	}
	vec_close(b, list, 2, h->list_delta);
	vec_close(b, ext, 2, h->sni_ext_delta);
}

static void put_extensions(struct bytes *b, const struct hello *h)
{
	static const uint8_t groups[] = { 0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d };
	static const uint8_t versions[] = { 0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04 };
	size_t exts = vec_open(b, 2);

	put(b, groups, sizeof(groups));
	if (h->padding) {
		put_uint(b, 21, 2);
		put_uint(b, h->padding, 2);
		put_fill(b, 0, h->padding);
	}
	if (h->sni_last)
		put(b, versions, sizeof(versions));
	if (h->names[0]) {
		put_server_name(b, h);
		if (h->sni_twice)
			put_server_name(b, h);
	}
	if (!h->sni_last)
		put(b, versions, sizeof(versions));
	vec_close(b, exts, 2, h->exts_delta);
}

/* The handshake message into msg. */
static void build(const struct hello *h)
{
	size_t hs, i;

	msg.n = 0;
	put_uint(&msg, 1, 1); /* client_hello */
	hs = vec_open(&msg, 3);
	put_uint(&msg, h->version ? h->version : 0x0303, 2);
	for (i = 0; i < 32; i++)
		put_uint(&msg, i * 7, 1); /* random */
	put_uint(&msg, 32 + h->session_id_delta, 1);
	put_fill(&msg, 0xab, 32 + h->session_id_delta);
	put_uint(&msg, 6 + h->suites_delta, 2);
	for (i = 0; i < (size_t)(6 + h->suites_delta); i++)
		put_uint(&msg, i % 2 ? 1 + i / 2 : 0x13, 1);
	put_uint(&msg, 1 + h->comp_delta, 1);
	put_fill(&msg, 0, 1 + h->comp_delta);
	if (!h->no_extensions)
		put_extensions(&msg, h);
	put_fill(&msg, 0, h->trailing);
	vec_close(&msg, hs, 3, h->hs_delta);
}

/* m[0, n) as handshake records of at most rec bytes, appended to out. */
static void frame(struct bytes *out, const uint8_t *m, size_t n, size_t rec, uint8_t minor)
{
	size_t i, len;

	for (i = 0; i < n; i += len) {
		len = n - i < rec ? n - i : rec;
		put_uint(out, 22, 1);
		put_uint(out, 3, 1);
		put_uint(out, minor, 1);
		put_uint(out, len, 2);
		put(out, m + i, len);
	}
}

/* The hello h in records of rec bytes, into wire. */
static void build_wire(const struct hello *h, size_t rec)
{
	build(h);
	wire.n = 0;
	frame(&wire, msg.d, msg.n, rec, 1);
}

/* tls_client_hello_sni on an exact-size copy, so ASan sees any read past
 * len. */
static int sni_exact(const uint8_t *buf, size_t len, size_t max_len, char *name, size_t name_size,
		     size_t *hello_len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	ret = tls_client_hello_sni(copy, len, max_len, name, name_size, hello_len);
	free(copy);
	return ret;
}

/* The answer for buf, and that every prefix of it is -EAGAIN or the same
 * answer (the same as soon as the ClientHello is complete). */
static int sni_checked(const uint8_t *buf, size_t len, size_t max_len, char *name,
		       size_t *hello_len)
{
	char prefix_name[TLS_SNI_MAX + 1];
	size_t k, prefix_len = 0;
	int ret, r;

	*hello_len = 0;
	ret = sni_exact(buf, len, max_len, name, TLS_SNI_MAX + 1, hello_len);
	for (k = 0; k < len; k++) {
		r = sni_exact(buf, k, max_len, prefix_name, sizeof(prefix_name), &prefix_len);
		if (ret >= 0 && k < *hello_len && r != -EAGAIN)
			fail_msg("cut at %zu of a %zu-byte ClientHello: %d, want -EAGAIN", k,
				 *hello_len, r);
		if (ret >= 0 && k >= *hello_len &&
		    (r != ret || prefix_len != *hello_len || strcmp(prefix_name, name)))
			fail_msg("cut at %zu, after the ClientHello: %d, want %d", k, r, ret);
		if (ret < 0 && r != -EAGAIN && r != ret)
			fail_msg("cut at %zu: %d, want -EAGAIN or %d", k, r, ret);
	}
	return ret;
}

static void expect_name(const uint8_t *buf, size_t len, const char *want, size_t want_len)
{
	char name[TLS_SNI_MAX + 1];
	size_t hello_len;
	int ret = sni_checked(buf, len, MAX_LEN, name, &hello_len);

	if (ret != (want ? 1 : 0))
		fail_msg("%d, want %d", ret, want ? 1 : 0);
	assert_string_equal(name, want ? want : "");
	assert_int_equal(hello_len, want_len);
}

static void test_captured(void **state)
{
	(void)state;
	expect_name(openssl_tls13_sni, sizeof(openssl_tls13_sni), "www.example.org",
		    sizeof(openssl_tls13_sni));
	expect_name(openssl_tls12_sni, sizeof(openssl_tls12_sni), "www.example.org",
		    sizeof(openssl_tls12_sni));
	expect_name(openssl_no_sni, sizeof(openssl_no_sni), NULL, sizeof(openssl_no_sni));
}

/* The captured message re-cut into records of every size in the list and
 * each record version. */
static void test_captured_split(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 64, 255, 315, 316, 16384 };
	const uint8_t *m = openssl_tls13_sni + 5;
	size_t n = sizeof(openssl_tls13_sni) - 5, i;
	uint8_t minor;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		for (minor = 1; minor <= 4; minor++) {
			wire.n = 0;
			frame(&wire, m, n, sizes[i], minor);
			expect_name(wire.d, wire.n, "www.example.org", wire.n);
		}
	}
	/* Unequal records: 1, then 3, then the rest. */
	wire.n = 0;
	frame(&wire, m, 1, 1, 1);
	frame(&wire, m + 1, 3, 3, 2);
	frame(&wire, m + 4, n - 4, 1000, 3);
	expect_name(wire.d, wire.n, "www.example.org", wire.n);
}

/* What a client may send right after: ChangeCipherSpec, early data. */
static void test_captured_then_more(void **state)
{
	static const uint8_t after[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17,
					 0x03, 0x03, 0x00, 0x03, 0xaa, 0xbb, 0xcc };

	(void)state;
	wire.n = 0;
	put(&wire, openssl_tls13_sni, sizeof(openssl_tls13_sni));
	put(&wire, after, sizeof(after));
	expect_name(wire.d, wire.n, "www.example.org", sizeof(openssl_tls13_sni));
	/* Another ClientHello after it is not looked at either. */
	wire.n = 0;
	put(&wire, openssl_tls12_sni, sizeof(openssl_tls12_sni));
	put(&wire, openssl_no_sni, sizeof(openssl_no_sni));
	expect_name(wire.d, wire.n, "www.example.org", sizeof(openssl_tls12_sni));
}

static const char name_253[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
			       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
			       "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
			       "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
static const char name_254[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
			       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
			       "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
			       "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
static const char label_63[] =
	"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij012.org";
static const char label_64[] =
	"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij0123.org";

static const struct {
	const char *sent, *want;
} valid_names[] = {
	{ "www.example.org", "www.example.org" },
	{ "WWW.Example.ORG", "www.example.org" },
	{ "localhost", "localhost" },
	{ "a", "a" },
	{ "a-b.c-d.example", "a-b.c-d.example" },
	{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "0.example.org", "0.example.org" },
	{ "198.18.0.1", "198.18.0.1" },
	{ name_253, name_253 },
	{ label_63, label_63 },
};

static void test_built_names(void **state)
{
	struct hello h = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(strlen(name_253), 253);
	for (i = 0; i < ARRAY_SIZE(valid_names); i++) {
		h.names[0] = valid_names[i].sent;
		build_wire(&h, 16384);
		expect_name(wire.d, wire.n, valid_names[i].want, wire.n);
	}
}

/* Valid ClientHellos around the edges of the format. */
static void test_built_valid(void **state)
{
	struct hello h;

	(void)state;
	h = (struct hello){ .no_extensions = 1 };
	build_wire(&h, 16384);
	expect_name(wire.d, wire.n, NULL, wire.n);
	h = (struct hello){ 0 }; /* extensions, none of them server_name */
	build_wire(&h, 16384);
	expect_name(wire.d, wire.n, NULL, wire.n);
	h = (struct hello){ .names = { "a.org" }, .session_id_delta = -32, .version = 0x0301 };
	build_wire(&h, 16384);
	expect_name(wire.d, wire.n, "a.org", wire.n);
	h = (struct hello){ .names = { "a.org" }, .sni_last = 1 };
	build_wire(&h, 16384);
	expect_name(wire.d, wire.n, "a.org", wire.n);
	h = (struct hello){ .names = { "a.org" }, .comp_delta = 254, .suites_delta = 100 };
	build_wire(&h, 16384);
	expect_name(wire.d, wire.n, "a.org", wire.n);
	/* 20 000 bytes of padding before the name: two records. */
	h = (struct hello){ .names = { "a.org" }, .padding = 20000 };
	build_wire(&h, 16384);
	expect_name(wire.d, wire.n, "a.org", wire.n);
	assert_true(wire.n > 16384 + 5);
}

static const struct {
	const char *why;
	struct hello h;
} malformed_hellos[] = {
	{ "legacy_version 0x0300", { .version = 0x0300, .names = { "a.org" } } },
	{ "legacy_version 0x0304", { .version = 0x0304, .names = { "a.org" } } },
	{ "legacy_version 0x0203", { .version = 0x0203, .names = { "a.org" } } },
	{ "session id of 33", { .session_id_delta = 1, .names = { "a.org" } } },
	{ "no cipher suite", { .suites_delta = -6, .names = { "a.org" } } },
	{ "odd cipher suites", { .suites_delta = -1, .names = { "a.org" } } },
	{ "no compression method", { .comp_delta = -1, .names = { "a.org" } } },
	{ "two host names", { .names = { "a.org", "b.org" } } },
	{ "same host name twice", { .names = { "a.org", "a.org" } } },
	{ "two server_name extensions", { .names = { "a.org" }, .sni_twice = 1 } },
	{ "name_type 1", { .names = { "a.org" }, .name_type = 1 } },
	{ "name_type 255", { .names = { "a.org" }, .name_type = 255 } },
	{ "empty host name", { .names = { "" } } },
	{ "leading hyphen", { .names = { "-a.org" } } },
	{ "trailing hyphen", { .names = { "a-.org" } } },
	{ "trailing hyphen at the end", { .names = { "a.org-" } } },
	{ "empty label", { .names = { "a..org" } } },
	{ "leading dot", { .names = { ".a.org" } } },
	{ "trailing dot", { .names = { "a.org." } } },
	{ "label of 64", { .names = { label_64 } } },
	{ "name of 254", { .names = { name_254 } } },
	{ "underscore", { .names = { "a_b.org" } } },
	{ "space", { .names = { "a b.org" } } },
	{ "NUL inside", { .names = { "a.org\0.evil" }, .name_delta = 6 } },
	{ "non-ASCII",
	  { .names = { "b\xc3\xbc"
		       "cher.example" } } },
	{ "wildcard", { .names = { "*.a.org" } } },
	{ "IPv6 literal", { .names = { "2001:db8::1" } } },
	{ "name longer than its list", { .names = { "a.org" }, .name_delta = 1 } },
	{ "name past the end of the message",
	  { .names = { "a.org" }, .name_delta = 1, .sni_last = 1 } },
	{ "name far past the end of the message",
	  { .names = { "a.org" }, .name_delta = 200, .sni_last = 1 } },
	{ "name shorter than its list", { .names = { "a.org" }, .name_delta = -1 } },
	{ "list longer than its extension", { .names = { "a.org" }, .list_delta = 1 } },
	{ "list shorter than its extension", { .names = { "a.org" }, .list_delta = -1 } },
	{ "server_name longer than the block", { .names = { "a.org" }, .sni_ext_delta = 100 } },
	{ "server_name shorter than its list", { .names = { "a.org" }, .sni_ext_delta = -1 } },
	{ "extensions longer than the message", { .names = { "a.org" }, .exts_delta = 1 } },
	{ "extensions shorter than the message", { .names = { "a.org" }, .exts_delta = -1 } },
	{ "bytes after the extensions", { .names = { "a.org" }, .trailing = 1 } },
	{ "message shorter than its record", { .names = { "a.org" }, .hs_delta = -1 } },
	{ "message ends inside the random", { .no_extensions = 1, .hs_delta = -60 } },
	{ "one byte after the compression methods", { .no_extensions = 1, .trailing = 1 } },
};

static void expect_invalid(const char *why, const uint8_t *buf, size_t len)
{
	char name[TLS_SNI_MAX + 1];
	size_t hello_len;
	int ret = sni_checked(buf, len, MAX_LEN, name, &hello_len);

	if (ret != -EINVAL)
		fail_msg("%s: %d, want -EINVAL", why, ret);
	assert_string_equal(name, "");
}

static void test_built_malformed(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(malformed_hellos); i++) {
		build_wire(&malformed_hellos[i].h, 16384);
		expect_invalid(malformed_hellos[i].why, wire.d, wire.n);
		/* The same split into small records. */
		build_wire(&malformed_hellos[i].h, 7);
		expect_invalid(malformed_hellos[i].why, wire.d, wire.n);
	}
}

/* One byte changed in a valid record stream; offsets in the first record. */
static void expect_invalid_patched(const char *why, size_t at, uint8_t byte)
{
	wire.n = 0;
	put(&wire, openssl_tls13_sni, sizeof(openssl_tls13_sni));
	wire.d[at] = byte;
	expect_invalid(why, wire.d, wire.n);
}

static void test_not_tls(void **state)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n";
	static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00 };
	char name[TLS_SNI_MAX + 1];
	size_t hello_len;

	(void)state;
	expect_invalid("HTTP", (const uint8_t *)http, sizeof(http) - 1);
	/* Said at the first byte. */
	assert_int_equal(sni_exact((const uint8_t *)http, 1, MAX_LEN, name, sizeof(name),
				   &hello_len),
			 -EINVAL);
	expect_invalid("SSLv2 ClientHello", sslv2, sizeof(sslv2));
	expect_invalid_patched("application data record", 0, 23);
	expect_invalid_patched("alert record", 0, 21);
	expect_invalid_patched("ChangeCipherSpec record", 0, 20);
	expect_invalid_patched("record version 2.1", 1, 2);
	expect_invalid_patched("record version 3.0", 2, 0);
	expect_invalid_patched("record version 3.5", 2, 5);
	expect_invalid_patched("handshake type 2 (ServerHello)", 5, 2);
	expect_invalid_patched("handshake type 0", 5, 0);
}

static void test_bad_records(void **state)
{
	static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01 };
	static const uint8_t empty[] = { 0x16, 0x03, 0x01, 0x00, 0x00 };
	const uint8_t *m = openssl_tls13_sni + 5;
	size_t n = sizeof(openssl_tls13_sni) - 5;
	char name[TLS_SNI_MAX + 1];
	size_t hello_len;

	(void)state;
	/* Another content type between two records of the ClientHello. */
	wire.n = 0;
	frame(&wire, m, 100, 100, 1);
	put(&wire, ccs, sizeof(ccs));
	frame(&wire, m + 100, n - 100, 16384, 1);
	expect_invalid("ChangeCipherSpec inside the ClientHello", wire.d, wire.n);
	/* An empty handshake record, first or in between. */
	wire.n = 0;
	put(&wire, empty, sizeof(empty));
	put(&wire, openssl_tls13_sni, sizeof(openssl_tls13_sni));
	expect_invalid("empty record first", wire.d, wire.n);
	wire.n = 0;
	frame(&wire, m, 100, 100, 1);
	put(&wire, empty, sizeof(empty));
	frame(&wire, m + 100, n - 100, 16384, 1);
	expect_invalid("empty record inside", wire.d, wire.n);
	/* A record longer than 2^14, and one of exactly 2^14. */
	wire.n = 0;
	put(&wire, openssl_tls13_sni, 3);
	put_uint(&wire, 16385, 2);
	assert_int_equal(sni_exact(wire.d, wire.n, MAX_LEN, name, sizeof(name), &hello_len),
			 -EINVAL);
	wire.d[3] = 0x40;
	wire.d[4] = 0x00;
	assert_int_equal(sni_exact(wire.d, wire.n, MAX_LEN, name, sizeof(name), &hello_len),
			 -EAGAIN);
	/* A record running past the end of the ClientHello it completes. */
	wire.n = 0;
	frame(&wire, m, 100, 100, 1);
	put_uint(&wire, 0x160301, 3);
	put_uint(&wire, n - 100 + 1, 2);
	put(&wire, m + 100, n - 100);
	put_uint(&wire, 0, 1);
	expect_invalid("last record longer than the ClientHello", wire.d, wire.n);
}

static void test_oversized(void **state)
{
	struct hello h = { .names = { "a.org" }, .padding = 40000 };
	char name[TLS_SNI_MAX + 1];
	size_t hello_len, len;

	(void)state;
	build_wire(&h, 16384);
	len = wire.n;
	assert_int_equal(sni_exact(wire.d, len, len, name, sizeof(name), &hello_len), 1);
	assert_int_equal(hello_len, len);
	assert_int_equal(sni_exact(wire.d, len, len - 1, name, sizeof(name), &hello_len), -E2BIG);
	assert_string_equal(name, "");
	/* Known from the first record and handshake headers alone. */
	assert_int_equal(sni_exact(wire.d, 9, 32768, name, sizeof(name), &hello_len), -E2BIG);
	assert_int_equal(sni_exact(wire.d, 9, 65536, name, sizeof(name), &hello_len), -EAGAIN);
	/* A record header alone can tell. */
	assert_int_equal(sni_exact(wire.d, 5, 16000, name, sizeof(name), &hello_len), -E2BIG);
	/* A handshake length of 2^24 - 1 in a small first record. */
	wire.n = 0;
	put_uint(&wire, 0x1603010004, 5);
	put_uint(&wire, 0x01ffffff, 4);
	assert_int_equal(sni_checked(wire.d, wire.n, MAX_LEN, name, &hello_len), -E2BIG);
	/* Any limit under 10 bytes is already passed by the first header. */
	assert_int_equal(sni_exact(openssl_tls13_sni, 5, 4, name, sizeof(name), &hello_len),
			 -E2BIG);
}

static void test_name_size(void **state)
{
	char name[16];
	size_t hello_len = 0;

	(void)state;
	assert_int_equal(tls_client_hello_sni(openssl_tls13_sni, sizeof(openssl_tls13_sni), MAX_LEN,
					      name, 16, &hello_len),
			 1);
	assert_string_equal(name, "www.example.org");
	hello_len = 0;
	assert_int_equal(tls_client_hello_sni(openssl_tls13_sni, sizeof(openssl_tls13_sni), MAX_LEN,
					      name, 15, &hello_len),
			 -ENAMETOOLONG);
	assert_int_equal(hello_len, 0);
	assert_string_equal(name, "");
	assert_int_equal(tls_client_hello_sni(openssl_tls13_sni, sizeof(openssl_tls13_sni), MAX_LEN,
					      NULL, 0, &hello_len),
			 -ENAMETOOLONG);
	/* Without a name, no room is needed. */
	assert_int_equal(tls_client_hello_sni(openssl_no_sni, sizeof(openssl_no_sni), MAX_LEN, NULL,
					      0, &hello_len),
			 0);
	assert_int_equal(hello_len, sizeof(openssl_no_sni));
}

static void test_name_valid(void **state)
{
	(void)state;
	assert_true(sni_name_valid("www.example.org"));
	assert_true(sni_name_valid(name_253));
	assert_true(sni_name_valid(label_63));
	assert_false(sni_name_valid("WWW.example.org")); /* returned names are lower case */
	assert_false(sni_name_valid(""));
	assert_false(sni_name_valid(name_254));
	assert_false(sni_name_valid(label_64));
	assert_false(sni_name_valid("a.org."));
	assert_false(sni_name_valid("a..org"));
	assert_false(sni_name_valid("-a.org"));
	assert_false(sni_name_valid("a-.org"));
	assert_false(sni_name_valid("*.org"));
}

static void test_pattern_valid(void **state)
{
	static const char *const valid[] = { "*",     "example.org", "*.example.org",
					     "*.ORG", "A.b",	     "localhost" };
	static const char *const invalid[] = { "",	   "*.",      "**",	"**.org",
					       "*a.org",   "a.*.org", "a.org.", ".a.org",
					       "*.-a.org", "*.*.org", "a b",	"*.a_b.org" };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(valid); i++)
		if (!sni_pattern_valid(valid[i]))
			fail_msg("\"%s\" refused", valid[i]);
	for (i = 0; i < ARRAY_SIZE(invalid); i++)
		if (sni_pattern_valid(invalid[i]))
			fail_msg("\"%s\" accepted", invalid[i]);
}

static void test_sni_match(void **state)
{
	static const struct {
		const char *pattern, *name;
		int want;
	} cases[] = {
		{ "*.example.org", "a.example.org", 1 },
		{ "*.example.org", "a.b.example.org", 1 },
		{ "*.example.org", "x-1.y-2.z.example.org", 1 },
		{ "*.example.org", "example.org", 0 },
		{ "*.example.org", "aexample.org", 0 },
		{ "*.example.org", "a.example.org.evil", 0 },
		{ "*.example.org", "a.example.orgx", 0 },
		{ "*.example.org", "a.xexample.org", 0 },
		{ "*.example.org", "a.example.com", 0 },
		{ "*.example.org", ".example.org", 0 },
		{ "*.Example.ORG", "a.example.org", 1 },
		{ "*.example.org", "A.EXAMPLE.org", 1 },
		{ "example.org", "example.org", 1 },
		{ "example.org", "EXAMPLE.ORG", 1 },
		{ "Example.Org", "example.org", 1 },
		{ "example.org", "a.example.org", 0 },
		{ "example.org", "example.or", 0 },
		{ "example.or", "example.org", 0 },
		{ "*", "example.org", 1 },
		{ "*", "localhost", 1 },
		{ "*", "", 0 },
		{ "*", "-bad.org", 0 },
		{ "*", "a.org.", 0 },
		{ "*.org", "org", 0 },
		{ "*.org", "a.org", 1 },
		{ "", "", 0 },
		{ "", "a.org", 0 },
		{ "a.*.org", "a.b.org", 0 },
		{ "*a.org", "ba.org", 0 },
		{ "**.org", "a.org", 0 },
		{ "*.", "a.", 0 },
		{ "a.org.", "a.org.", 0 },
		{ "*.example.org", name_253, 0 },
		{ "*.ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", name_253, 1 },
		{ name_253, name_253, 1 },
		{ name_254, name_254, 0 },
	};
	size_t i;
	int got;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		got = sni_match(cases[i].pattern, cases[i].name);
		if (got != cases[i].want)
			fail_msg("sni_match(\"%s\", \"%s\") = %d, want %d", cases[i].pattern,
				 cases[i].name, got, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_captured),
		cmocka_unit_test(test_captured_split),
		cmocka_unit_test(test_captured_then_more),
		cmocka_unit_test(test_built_names),
		cmocka_unit_test(test_built_valid),
		cmocka_unit_test(test_built_malformed),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_name_size),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_pattern_valid),
		cmocka_unit_test(test_sni_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
