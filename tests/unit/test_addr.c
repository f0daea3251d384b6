// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of user/addr.c: prefixes, endpoints, sockaddr conversion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct prefix_case {
	const char *text;
	uint8_t family;
	uint8_t len;
	const char *addr; /* expected, host bits cleared */
};

struct endpoint_case {
	const char *text;
	uint8_t family;
	uint8_t len;
	const char *addr;
	uint16_t port;
};

struct contains_case {
	const char *prefix;
	uint8_t family;
	const char *addr;
	int want;
};

struct sockaddr_case {
	uint8_t family;
	const char *addr;
	uint16_t port;
	const char *text; /* endpoint_str */
};

static const struct prefix_case valid_prefixes[] = {
	{ "198.18.0.0/15", AF_INET, 15, "198.18.0.0" },
	{ "198.18.1.77/24", AF_INET, 24, "198.18.1.0" },
	{ "198.19.255.255/17", AF_INET, 17, "198.19.128.0" },
	{ "198.19.2.3/31", AF_INET, 31, "198.19.2.2" },
	{ "198.18.1.77/32", AF_INET, 32, "198.18.1.77" },
	{ "198.18.1.2", AF_INET, 32, "198.18.1.2" },
	{ "198.19.2.3/0", AF_INET, 0, "0.0.0.0" },
	{ "198.18.0.1/015", AF_INET, 15, "198.18.0.0" },
	{ "2001:db8::/32", AF_INET6, 32, "2001:db8::" },
	{ "2001:db8:ffff::/33", AF_INET6, 33, "2001:db8:8000::" },
	{ "2001:db8:1:2:3:4:5:6/64", AF_INET6, 64, "2001:db8:1:2::" },
	{ "2001:db8::1:2/112", AF_INET6, 112, "2001:db8::1:0" },
	{ "2001:db8::1/127", AF_INET6, 127, "2001:db8::" },
	{ "2001:db8::1", AF_INET6, 128, "2001:db8::1" },
	{ "2001:0db8:0000:0000:0000:0000:0000:0001/128", AF_INET6, 128, "2001:db8::1" },
	{ "2001:db8::1/0", AF_INET6, 0, "::" },
};

static const char *const invalid_prefixes[] = {
	"",
	"garbage",
	"/24",
	"198.18.0.0/",
	"198.18.0.0/33",
	"198.18.0.0/-1",
	"198.18.0.0/+24",
	"198.18.0.0/24x",
	"198.18.0.0/24/24",
	"198.18.0.0/0x18",
	"198.18.0.0/4294967320",
	"198.18.0.0/99999999999999999999999",
	"198.18.0.256",
	"198.18.0",
	"198.18.0.0.0",
	"-198.18.0.0",
	" 198.18.0.0",
	"198.18.0.0 ",
	"198.18.0.0:80",
	"2001:db8::/129",
	"2001:db8::/-128",
	"2001:db8:::1",
	"2001:db8::g",
	"[2001:db8::1]",
	"2001:db8::1/64/64",
	/* valid if it were not for its length */
	"198.18.0.0/00000000000000000000000000000000000000000000000000000000024",
};

static const struct endpoint_case valid_endpoints[] = {
	{ "198.19.2.2:80", AF_INET, 32, "198.19.2.2", 80 },
	{ "198.19.2.0/24:80", AF_INET, 24, "198.19.2.0", 80 },
	{ "198.19.2.77/24:443", AF_INET, 24, "198.19.2.0", 443 },
	{ "198.18.0.1:1", AF_INET, 32, "198.18.0.1", 1 },
	{ "198.18.0.1:65535", AF_INET, 32, "198.18.0.1", 65535 },
	{ "198.18.0.1:0080", AF_INET, 32, "198.18.0.1", 80 },
	{ "[2001:db8::2]:80", AF_INET6, 128, "2001:db8::2", 80 },
	{ "[2001:db8::/64]:443", AF_INET6, 64, "2001:db8::", 443 },
	{ "[2001:db8::1:2/112]:8080", AF_INET6, 112, "2001:db8::1:0", 8080 },
	{ "[2001:db8:0:0:0:0:0:1]:65535", AF_INET6, 128, "2001:db8::1", 65535 },
};

static const char *const invalid_endpoints[] = {
	"",
	"garbage",
	"garbage:80",
	":80",
	"[]:80",
	"198.19.2.2",
	"198.19.2.2:",
	"198.19.2.2:0",
	"198.19.2.2:00",
	"198.19.2.2:65536",
	"198.19.2.2:4294967376",
	"198.19.2.2:18446744073709551696",
	"198.19.2.2:-1",
	"198.19.2.2:-80",
	"198.19.2.2:+80",
	"198.19.2.2:80x",
	"198.19.2.2:80 ",
	"198.19.2.2:80:80",
	"198.19.2.2:0x50",
	"198.19.2.0/33:80",
	"198.19.2.0/:80",
	"198.19.2.0/24/8:80",
	"198.19.2.256:80",
	"2001:db8::2",
	"2001:db8::2:80",
	"2001:db8::/64:80",
	"[2001:db8::2]",
	"[2001:db8::2]:",
	"[2001:db8::2]:0",
	"[2001:db8::2]:65536",
	"[2001:db8::2]:80]",
	"[2001:db8::2]x:80",
	"[2001:db8::2:80",
	"[[2001:db8::2]]:80",
	"[2001:db8::/129]:80",
	"[198.19.2.2]:80",
	"[198.19.2.0/24]:80",
	"198.19.2.2:000000000000000000000000000000000000000000000000000000000080",
};

static const struct contains_case contains_cases[] = {
	{ "198.18.0.0/16", AF_INET, "198.18.0.0", 1 },
	{ "198.18.0.0/16", AF_INET, "198.18.255.255", 1 },
	{ "198.18.0.0/16", AF_INET, "198.19.0.0", 0 },
	{ "198.18.0.0/15", AF_INET, "198.19.255.255", 1 },
	{ "198.19.128.0/17", AF_INET, "198.19.200.1", 1 },
	{ "198.19.128.0/17", AF_INET, "198.19.127.255", 0 },
	{ "198.18.1.2", AF_INET, "198.18.1.2", 1 },
	{ "198.18.1.2", AF_INET, "198.18.1.3", 0 },
	{ "198.18.1.2/0", AF_INET, "198.19.0.1", 1 },
	{ "198.18.1.2/0", AF_INET6, "2001:db8::1", 0 },
	{ "198.18.0.0/15", AF_INET6, "2001:db8::", 0 },
	{ "2001:db8:1::/48", AF_INET6, "2001:db8:1:ffff::1", 1 },
	{ "2001:db8:1::/48", AF_INET6, "2001:db8:2::1", 0 },
	{ "2001:db8:8000::/33", AF_INET6, "2001:db8:ffff::1", 1 },
	{ "2001:db8:8000::/33", AF_INET6, "2001:db8:7fff::1", 0 },
	{ "2001:db8::1", AF_INET6, "2001:db8::1", 1 },
	{ "2001:db8::1", AF_INET6, "2001:db8::", 0 },
	{ "2001:db8::/0", AF_INET6, "2001:db8:ffff::1", 1 },
	{ "2001:db8::/0", AF_INET, "198.18.0.1", 0 },
};

static const struct sockaddr_case sockaddr_cases[] = {
	{ AF_INET, "198.18.1.2", 40000, "198.18.1.2:40000" },
	{ AF_INET, "198.19.255.255", 1, "198.19.255.255:1" },
	{ AF_INET, "198.18.0.0", 65535, "198.18.0.0:65535" },
	{ AF_INET6, "2001:db8::1", 40000, "[2001:db8::1]:40000" },
	{ AF_INET6, "2001:db8:ffff::ffff", 65535, "[2001:db8:ffff::ffff]:65535" },
	{ AF_INET6, "2001:db8:1234:5678:9abc:def0:1234:5678", 65535,
	  "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535" },
};

/* The address text in binary, zero-padded as union cutthru_addr wants it. */
static union cutthru_addr addr_of(uint8_t family, const char *text)
{
	union cutthru_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(family, text, a.bytes) != 1)
		fail_msg("bad test address '%s'", text);
	return a;
}

static void check_prefix(const struct prefix *p, uint8_t family, uint8_t len, const char *addr)
{
	union cutthru_addr want = addr_of(family, addr);
	char got[64], exp[64];

	assert_int_equal(p->family, family);
	assert_int_equal(p->len, len);
	assert_memory_equal(p->addr.bytes, want.bytes, sizeof(want.bytes));
	snprintf(exp, sizeof(exp), "%s/%u", addr, len);
	assert_string_equal(prefix_str(p, got, sizeof(got)), exp);
}

static void test_prefix_parse_valid(void **state)
{
	const struct prefix_case *c;
	struct prefix p;
	int rc;

	(void)state;
	for (c = valid_prefixes; c < valid_prefixes + ARRAY_SIZE(valid_prefixes); c++) {
		memset(&p, 0xa5, sizeof(p));
		rc = prefix_parse(c->text, &p);
		if (rc)
			fail_msg("prefix_parse(\"%s\") = %d, want 0", c->text, rc);
		check_prefix(&p, c->family, c->len, c->addr);
	}
}

static void test_prefix_parse_invalid(void **state)
{
	struct prefix p;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(invalid_prefixes); i++) {
		rc = prefix_parse(invalid_prefixes[i], &p);
		if (rc != -EINVAL)
			fail_msg("prefix_parse(\"%s\") = %d, want -EINVAL", invalid_prefixes[i],
				 rc);
	}
}

static void test_prefix_parse_overlong(void **state)
{
	char text[4096];
	struct prefix p;

	(void)state;
	memset(text, '1', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(prefix_parse(text, &p), -EINVAL);
	/* An address padded with a long run of zeros in the length. */
	snprintf(text, sizeof(text), "2001:db8::/%0200d", 64);
	assert_int_equal(prefix_parse(text, &p), -EINVAL);
}

/*
 * The prefix length and the port are plain digits: the parser already turns
 * away a sign, so whitespace (which strtoul skips) must not sneak one in.
 */
static void test_number_rejects_leading_space(void **state)
{
	static const char *const prefixes[] = { "198.18.0.0/ 24", "198.18.0.0/ +24",
						"2001:db8::/\t64" };
	static const char *const endpoints[] = { "198.19.2.2: 80", "198.19.2.2: +80",
						 "[2001:db8::2]:\n80" };
	struct endpoint_prefix ep;
	struct prefix p;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(prefixes); i++) {
		rc = prefix_parse(prefixes[i], &p);
		if (rc != -EINVAL)
			fail_msg("prefix_parse(\"%s\") = %d, want -EINVAL", prefixes[i], rc);
	}
	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		rc = endpoint_prefix_parse(endpoints[i], &ep);
		if (rc != -EINVAL)
			fail_msg("endpoint_prefix_parse(\"%s\") = %d, want -EINVAL", endpoints[i],
				 rc);
	}
}

static void test_endpoint_parse_valid(void **state)
{
	const struct endpoint_case *c;
	struct endpoint_prefix ep;
	int rc;

	(void)state;
	for (c = valid_endpoints; c < valid_endpoints + ARRAY_SIZE(valid_endpoints); c++) {
		memset(&ep, 0xa5, sizeof(ep));
		rc = endpoint_prefix_parse(c->text, &ep);
		if (rc)
			fail_msg("endpoint_prefix_parse(\"%s\") = %d, want 0", c->text, rc);
		check_prefix(&ep.prefix, c->family, c->len, c->addr);
		assert_int_equal(ep.port, c->port);
	}
}

static void test_endpoint_parse_invalid(void **state)
{
	struct endpoint_prefix ep;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(invalid_endpoints); i++) {
		rc = endpoint_prefix_parse(invalid_endpoints[i], &ep);
		if (rc != -EINVAL)
			fail_msg("endpoint_prefix_parse(\"%s\") = %d, want -EINVAL",
				 invalid_endpoints[i], rc);
	}
}

static void test_endpoint_parse_overlong(void **state)
{
	struct endpoint_prefix ep;
	char text[4096];

	(void)state;
	memset(text, '[', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(endpoint_prefix_parse(text, &ep), -EINVAL);
	snprintf(text, sizeof(text), "[2001:db8::/%0100d]:80", 64);
	assert_int_equal(endpoint_prefix_parse(text, &ep), -EINVAL);
}

static void test_prefix_contains(void **state)
{
	const struct contains_case *c;
	union cutthru_addr a;
	struct prefix p;
	int got;

	(void)state;
	for (c = contains_cases; c < contains_cases + ARRAY_SIZE(contains_cases); c++) {
		assert_int_equal(prefix_parse(c->prefix, &p), 0);
		a = addr_of(c->family, c->addr);
		got = prefix_contains(&p, c->family, &a);
		if (got != c->want)
			fail_msg("prefix_contains(%s, %s) = %d, want %d", c->prefix, c->addr, got,
				 c->want);
	}
}

static void test_endpoint_str(void **state)
{
	const struct sockaddr_case *c;
	char buf[ENDPOINT_STRLEN];
	union cutthru_addr a;

	(void)state;
	for (c = sockaddr_cases; c < sockaddr_cases + ARRAY_SIZE(sockaddr_cases); c++) {
		a = addr_of(c->family, c->addr);
		memset(buf, 'x', sizeof(buf));
		assert_ptr_equal(endpoint_str(c->family, &a, c->port, buf, sizeof(buf)), buf);
		assert_string_equal(buf, c->text);
	}
}

static void test_endpoint_str_truncates(void **state)
{
	union cutthru_addr a = addr_of(AF_INET6, "2001:db8::1");
	char buf[16];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	endpoint_str(AF_INET6, &a, 40000, buf, 8);
	assert_string_equal(buf, "[2001:d");
	assert_int_equal(buf[8], 'x');
}

static void check_sockaddr(const struct sockaddr_case *c, const struct sockaddr_storage *ss,
			   socklen_t len)
{
	union cutthru_addr a = addr_of(c->family, c->addr);

	assert_int_equal(ss->ss_family, c->family);
	if (c->family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		static const uint8_t zero[8];

		assert_int_equal(len, sizeof(*sin));
		assert_int_equal(sin->sin_port, htons(c->port));
		assert_int_equal(sin->sin_addr.s_addr, a.v4);
		assert_memory_equal(sin->sin_zero, zero, sizeof(zero));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		assert_int_equal(len, sizeof(*sin6));
		assert_int_equal(sin6->sin6_port, htons(c->port));
		assert_memory_equal(&sin6->sin6_addr, a.bytes, 16);
		assert_int_equal(sin6->sin6_flowinfo, 0);
		assert_int_equal(sin6->sin6_scope_id, 0);
	}
}

static void test_sockaddr_round_trip(void **state)
{
	const struct sockaddr_case *c;
	union cutthru_addr a, back;
	struct sockaddr_storage ss;
	uint16_t port;
	uint8_t family;
	socklen_t len;

	(void)state;
	for (c = sockaddr_cases; c < sockaddr_cases + ARRAY_SIZE(sockaddr_cases); c++) {
		a = addr_of(c->family, c->addr);
		memset(&ss, 0xa5, sizeof(ss));
		len = addr_to_sockaddr(c->family, &a, c->port, &ss);
		check_sockaddr(c, &ss, len);

		memset(&back, 0xa5, sizeof(back));
		family = 0;
		port = 0;
		sockaddr_to_addr(&ss, &family, &back, &port);
		assert_int_equal(family, c->family);
		assert_int_equal(port, c->port);
		assert_memory_equal(back.bytes, a.bytes, sizeof(a.bytes));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_valid),
		cmocka_unit_test(test_prefix_parse_invalid),
		cmocka_unit_test(test_prefix_parse_overlong),
		cmocka_unit_test(test_number_rejects_leading_space),
		cmocka_unit_test(test_endpoint_parse_valid),
		cmocka_unit_test(test_endpoint_parse_invalid),
		cmocka_unit_test(test_endpoint_parse_overlong),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_endpoint_str),
		cmocka_unit_test(test_endpoint_str_truncates),
		cmocka_unit_test(test_sockaddr_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
