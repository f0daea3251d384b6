// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of user/cli.c: the flags of "cutthru run". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What every successful run needs besides the option under test. */
#define IFACE "-i", "eth0"
#define PROTECT "-p", "198.19.2.2:80"

struct fixture {
	struct config cfg;
	char err[256];
};

/* parse(fx, args...): cli_parse_run on { "run", args..., NULL }. */
#define parse(fx, ...) run_parse(fx, (char *[]){ "run", __VA_ARGS__, NULL })

static int run_parse(struct fixture *fx, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	memset(&fx->cfg, 0xa5, sizeof(fx->cfg));
	memset(fx->err, 0, sizeof(fx->err));
	return cli_parse_run(argc, argv, &fx->cfg, fx->err, sizeof(fx->err));
}

/*
 * Every test starts from a pristine getopt: optind = 0 makes glibc forget
 * where it was inside a cluster of short options.
 */
static void reset_getopt(void)
{
	char *argv[] = { "reset", NULL };

	optind = 0;
	opterr = 0;
	assert_int_equal(getopt(1, argv, ""), -1);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	reset_getopt();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* The call failed with -EINVAL and err names every one of the words. */
static void expect_error(struct fixture *fx, int rc, const char *word1, const char *word2)
{
	if (rc != -EINVAL)
		fail_msg("cli_parse_run = %d, want -EINVAL (err '%s')", rc, fx->err);
	if (!strstr(fx->err, word1) || (word2 && !strstr(fx->err, word2)))
		fail_msg("err '%s' does not name '%s'%s%s", fx->err, word1, word2 ? " and " : "",
			 word2 ? word2 : "");
}

static void check_defaults(const struct config *cfg)
{
	assert_int_equal(cfg->n_allow, 0);
	assert_int_equal(cfg->steer_mark, DEFAULT_STEER_MARK);
	assert_int_equal(cfg->sock_mark, DEFAULT_STEER_MARK + 1);
	assert_int_equal(cfg->table, DEFAULT_TABLE);
	assert_int_equal(cfg->rule_priority, DEFAULT_RULE_PRIORITY);
	assert_int_equal(cfg->spoof_port, 1);
	assert_int_equal(cfg->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
	assert_int_equal(cfg->buffer_size, DEFAULT_BUFFER_SIZE);
	assert_int_equal(cfg->quiet, 0);
	assert_int_equal(cfg->verbose, 0);
	assert_int_equal(cfg->xdp_mode, XDP_MODE_OFF);
	assert_int_equal(cfg->syn_rate, 0);
	assert_int_equal(cfg->syn_burst, 0);
	assert_int_equal(cfg->syn_prefix4, DEFAULT_SYN_PREFIX4);
	assert_int_equal(cfg->syn_prefix6, DEFAULT_SYN_PREFIX6);
}

static void check_service(const struct endpoint_prefix *ep, uint8_t family, const char *addr,
			  uint8_t len, uint16_t port)
{
	union cutthru_addr want;

	memset(&want, 0, sizeof(want));
	assert_int_equal(inet_pton(family, addr, want.bytes), 1);
	assert_int_equal(ep->prefix.family, family);
	assert_int_equal(ep->prefix.len, len);
	assert_memory_equal(ep->prefix.addr.bytes, want.bytes, sizeof(want.bytes));
	assert_int_equal(ep->port, port);
}

static void test_config_defaults(void **state)
{
	struct fixture *fx = *state;

	memset(&fx->cfg, 0xa5, sizeof(fx->cfg));
	config_defaults(&fx->cfg);
	check_defaults(&fx->cfg);
	assert_int_equal(fx->cfg.n_ifaces, 0);
	assert_int_equal(fx->cfg.n_services, 0);
}

static void test_minimal_run(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT), 0);
	check_defaults(&fx->cfg);
	assert_int_equal(fx->cfg.n_ifaces, 1);
	assert_string_equal(fx->cfg.ifaces[0], "eth0");
	assert_int_equal(fx->cfg.n_services, 1);
	check_service(&fx->cfg.services[0], AF_INET, "198.19.2.2", 32, 80);
}

static void test_repeatable_options(void **state)
{
	struct fixture *fx = *state;
	struct config *cfg = &fx->cfg;

	assert_int_equal(parse(fx, "-i", "eth0", "--interface", "eth1", "--interface=veth-c", "-p",
			       "198.19.2.2:80", "--protect", "[2001:db8::2]:443",
			       "--protect=198.19.2.77/24:8080", "-a", "198.18.0.0/16", "--allow",
			       "2001:db8:1::/48", "--allow=198.19.1.9"),
			 0);
	assert_int_equal(cfg->n_ifaces, 3);
	assert_string_equal(cfg->ifaces[0], "eth0");
	assert_string_equal(cfg->ifaces[1], "eth1");
	assert_string_equal(cfg->ifaces[2], "veth-c");
	assert_int_equal(cfg->n_services, 3);
	check_service(&cfg->services[0], AF_INET, "198.19.2.2", 32, 80);
	check_service(&cfg->services[1], AF_INET6, "2001:db8::2", 128, 443);
	check_service(&cfg->services[2], AF_INET, "198.19.2.0", 24, 8080);
	assert_int_equal(cfg->n_allow, 3);
	assert_int_equal(cfg->allow[0].family, AF_INET);
	assert_int_equal(cfg->allow[0].len, 16);
	assert_int_equal(cfg->allow[1].family, AF_INET6);
	assert_int_equal(cfg->allow[1].len, 48);
	assert_int_equal(cfg->allow[2].family, AF_INET);
	assert_int_equal(cfg->allow[2].len, 32);
}

static void test_interface_names(void **state)
{
	struct fixture *fx = *state;

	/* IF_NAMESIZE counts the NUL: 15 characters fit, 16 do not. */
	assert_int_equal(parse(fx, "-i", "abcdefghijklmno", PROTECT), 0);
	assert_string_equal(fx->cfg.ifaces[0], "abcdefghijklmno");
	expect_error(fx, parse(fx, "-i", "abcdefghijklmnop", PROTECT), "--interface",
		     "abcdefghijklmnop");
	expect_error(fx, parse(fx, "--interface=", PROTECT), "--interface", "''");
}

/* cli_parse_run on "run", n times "flag value<i>", then fixed[]. */
static int parse_repeated(struct fixture *fx, const char *flag, const char *fmt, int n,
			  char **fixed, int n_fixed)
{
	char **values = calloc((size_t)n, sizeof(*values));
	char **argv = calloc((size_t)(2 * n + n_fixed + 2), sizeof(*argv));
	int i, rc, argc = 0;

	assert_non_null(values);
	assert_non_null(argv);
	argv[argc++] = "run";
	for (i = 0; i < n; i++) {
		assert_true(asprintf(&values[i], fmt, i) > 0);
		argv[argc++] = (char *)flag;
		argv[argc++] = values[i];
	}
	for (i = 0; i < n_fixed; i++)
		argv[argc++] = fixed[i];
	memset(fx->err, 0, sizeof(fx->err));
	rc = cli_parse_run(argc, argv, &fx->cfg, fx->err, sizeof(fx->err));
	for (i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(argv);
	return rc;
}

static void test_list_limits(void **state)
{
	char *with_iface[] = { IFACE }, *with_protect[] = { PROTECT };
	char *with_both[] = { IFACE, PROTECT };
	struct fixture *fx = *state;

	assert_int_equal(parse_repeated(fx, "-i", "eth%d", CONFIG_IFACES_MAX, with_protect, 2), 0);
	assert_int_equal(fx->cfg.n_ifaces, CONFIG_IFACES_MAX);
	assert_string_equal(fx->cfg.ifaces[CONFIG_IFACES_MAX - 1], "eth15");
	expect_error(fx, parse_repeated(fx, "-i", "eth%d", CONFIG_IFACES_MAX + 1, with_protect, 2),
		     "--interface", "eth16");

	assert_int_equal(
		parse_repeated(fx, "-p", "198.19.2.%d:80", CONFIG_SERVICES_MAX, with_iface, 2), 0);
	assert_int_equal(fx->cfg.n_services, CONFIG_SERVICES_MAX);
	check_service(&fx->cfg.services[CONFIG_SERVICES_MAX - 1], AF_INET, "198.19.2.63", 32, 80);
	expect_error(fx,
		     parse_repeated(fx, "-p", "198.19.2.%d:80", CONFIG_SERVICES_MAX + 1, with_iface,
				    2),
		     "--protect", "198.19.2.64:80");

	assert_int_equal(
		parse_repeated(fx, "-a", "2001:db8:%x::/48", CONFIG_ALLOW_MAX, with_both, 4), 0);
	assert_int_equal(fx->cfg.n_allow, CONFIG_ALLOW_MAX);
	expect_error(fx,
		     parse_repeated(fx, "-a", "2001:db8:%x::/48", CONFIG_ALLOW_MAX + 1, with_both,
				    4),
		     "--allow", "2001:db8:100::/48");
}

static void test_mark(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT, "--mark", "0x1000"), 0);
	assert_int_equal(fx->cfg.steer_mark, 0x1000);
	assert_int_equal(fx->cfg.sock_mark, 0x1001);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--mark=77"), 0);
	assert_int_equal(fx->cfg.steer_mark, 77);
	assert_int_equal(fx->cfg.sock_mark, 78);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--mark", "0xfffffffe"), 0);
	assert_int_equal(fx->cfg.steer_mark, 0xfffffffeu);
	assert_int_equal(fx->cfg.sock_mark, 0xffffffffu);

	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark", "0"), "--mark", "'0'");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark", "0xffffffff"), "--mark", "0xffffffff");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark", "4294967296"), "--mark", "4294967296");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark", "-1"), "--mark", "-1");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark", "0x"), "--mark", "0x");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark", "12ab"), "--mark", "12ab");
}

static void test_table(void **state)
{
	static const char *const good[] = { "1", "252", "256", "4354", "0xffffffff" };
	static const uint32_t good_val[] = { 1, 252, 256, 4354, 0xffffffffu };
	static const char *const bad[] = { "0",	 "253", "254",	      "255", "0xfd",
					   "-5", "",	"4294967296", "main" };
	struct fixture *fx = *state;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(parse(fx, IFACE, PROTECT, "--table", (char *)good[i]), 0);
		assert_int_equal(fx->cfg.table, good_val[i]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		expect_error(fx, parse(fx, IFACE, PROTECT, "--table", (char *)bad[i]), "--table",
			     bad[i]);
}

static void test_rule_priority(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT, "--rule-priority", "1"), 0);
	assert_int_equal(fx->cfg.rule_priority, 1);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--rule-priority=32765"), 0);
	assert_int_equal(fx->cfg.rule_priority, 32765);
	expect_error(fx, parse(fx, IFACE, PROTECT, "--rule-priority", "0"), "--rule-priority",
		     "'0'");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--rule-priority", "32766"), "--rule-priority",
		     "32766");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--rule-priority", "32767"), "--rule-priority",
		     "32767");
}

static void test_no_spoof_port(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT), 0);
	assert_int_equal(fx->cfg.spoof_port, 1);
	assert_int_equal(parse(fx, IFACE, "--no-spoof-port", PROTECT), 0);
	assert_int_equal(fx->cfg.spoof_port, 0);
	expect_error(fx, parse(fx, IFACE, PROTECT, "--no-spoof-port=1"), "--no-spoof-port", NULL);
}

static void test_connect_timeout(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT, "--connect-timeout", "1"), 0);
	assert_int_equal(fx->cfg.connect_timeout_ms, 1);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--connect-timeout", "3600000"), 0);
	assert_int_equal(fx->cfg.connect_timeout_ms, 3600000);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--connect-timeout=250"), 0);
	assert_int_equal(fx->cfg.connect_timeout_ms, 250);
	expect_error(fx, parse(fx, IFACE, PROTECT, "--connect-timeout", "0"), "--connect-timeout",
		     "'0'");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--connect-timeout", "3600001"),
		     "--connect-timeout", "3600001");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--connect-timeout", "250ms"),
		     "--connect-timeout", "250ms");
}

static void test_xdp_and_syn_rate(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT, "--xdp", "native"), 0);
	assert_int_equal(fx->cfg.xdp_mode, XDP_MODE_NATIVE);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--xdp", "generic"), 0);
	assert_int_equal(fx->cfg.xdp_mode, XDP_MODE_GENERIC);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--xdp", "native", "--xdp", "off"), 0);
	assert_int_equal(fx->cfg.xdp_mode, XDP_MODE_OFF);
	assert_string_equal(xdp_mode_name(XDP_MODE_GENERIC), "generic");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--xdp", "driver"), "--xdp", "driver");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--xdp", ""), "--xdp", "''");

	assert_int_equal(parse(fx, IFACE, PROTECT, "--syn-rate", "1000", "--syn-burst", "50",
			       "--syn-prefix", "32,48"),
			 0);
	assert_int_equal(fx->cfg.syn_rate, 1000);
	assert_int_equal(fx->cfg.syn_burst, 50);
	assert_int_equal(fx->cfg.syn_prefix4, 32);
	assert_int_equal(fx->cfg.syn_prefix6, 48);
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-rate", "1000001"), "--syn-rate",
		     "1000001");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-rate", "-1"), "--syn-rate", "-1");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-burst", "10x"), "--syn-burst", "10x");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-prefix", "24"), "--syn-prefix", "'24'");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-prefix", "33,64"), "--syn-prefix",
		     "33,64");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-prefix", "24,129"), "--syn-prefix",
		     "24,129");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-prefix", "0,64"), "--syn-prefix", "0,64");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--syn-prefix", "24,"), "--syn-prefix", "24,");
}

static void test_buffer_size(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT, "--buffer-size", "4096"), 0);
	assert_int_equal(fx->cfg.buffer_size, 4096);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--buffer-size", "67108864"), 0);
	assert_int_equal(fx->cfg.buffer_size, 64u << 20);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--buffer-size=0x10000"), 0);
	assert_int_equal(fx->cfg.buffer_size, 0x10000);
	expect_error(fx, parse(fx, IFACE, PROTECT, "--buffer-size", "4095"), "--buffer-size",
		     "4095");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--buffer-size", "67108865"), "--buffer-size",
		     "67108865");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--buffer-size", "0"), "--buffer-size", "'0'");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--buffer-size", "64k"), "--buffer-size", "64k");
}

static void test_quiet_verbose(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT, "-q"), 0);
	assert_int_equal(fx->cfg.quiet, 1);
	assert_int_equal(fx->cfg.verbose, 0);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--verbose"), 0);
	assert_int_equal(fx->cfg.quiet, 0);
	assert_int_equal(fx->cfg.verbose, 1);
	assert_int_equal(parse(fx, "-qv", IFACE, PROTECT), 0);
	assert_int_equal(fx->cfg.quiet, 1);
	assert_int_equal(fx->cfg.verbose, 1);
}

static void test_help(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, "--help"), 1);
	assert_int_equal(parse(fx, "-h"), 1);
	assert_int_equal(parse(fx, IFACE, PROTECT, "--help"), 1);
	/* --help wins over what would be an error later on */
	assert_int_equal(parse(fx, "--help", "--table", "0"), 1);
	expect_error(fx, parse(fx, "--table", "0", "--help"), "--table", "'0'");
}

static void test_missing_interface(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, NULL), "--interface", NULL);
	expect_error(fx, parse(fx, PROTECT), "--interface", NULL);
}

static void test_missing_protect(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE), "--protect", NULL);
	expect_error(fx, parse(fx, IFACE, "-a", "198.18.0.0/15"), "--protect", NULL);
}

static void test_invalid_protect_allow(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE, "-p", "2001:db8::2:80"), "--protect", "2001:db8::2:80");
	expect_error(fx, parse(fx, IFACE, "--protect", "198.19.2.2:0"), "--protect",
		     "198.19.2.2:0");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--allow", "198.18.0.0/33"), "--allow",
		     "198.18.0.0/33");
	expect_error(fx, parse(fx, IFACE, PROTECT, "-a", "2001:db8::/129"), "--allow",
		     "2001:db8::/129");
}

static void test_unknown_option(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE, PROTECT, "--bogus"), "unknown", "--bogus");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--bogus=1"), "unknown", "--bogus");
	expect_error(fx, parse(fx, IFACE, PROTECT, "-x"), "unknown", "-x");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--version"), "unknown", "--version");
}

/* "-xq": the unknown option is not the last one of its cluster. */
static void test_unknown_option_in_cluster(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE, PROTECT, "-xq"), "unknown", "-x");
}

static void test_missing_value(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE, PROTECT, "--table"), "--table", "needs a value");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--mark"), "--mark", "needs a value");
	expect_error(fx, parse(fx, PROTECT, "-i"), "-i", "needs a value");
	expect_error(fx, parse(fx, IFACE, "--protect"), "--protect", "needs a value");
	expect_error(fx, parse(fx, IFACE, PROTECT, "-a"), "-a", "needs a value");
}

static void test_unexpected_argument(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE, PROTECT, "extra"), "unexpected", "extra");
	/* GNU getopt moves the positional to the end; still refused. */
	expect_error(fx, parse(fx, "-i", "eth0", "stray", PROTECT), "unexpected", "stray");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--", "-q"), "unexpected", "-q");
}

/* A parse after one that stopped inside "-hq" must not see the old "q". */
static void test_reparse_after_help_in_cluster(void **state)
{
	struct fixture *fx = *state;

	int rc;

	assert_int_equal(parse(fx, "-hq"), 1);
	rc = parse(fx, IFACE, PROTECT);
	if (rc)
		fail_msg("second parse = %d (err '%s'), want 0", rc, fx->err);
	assert_int_equal(fx->cfg.quiet, 0);
	assert_int_equal(fx->cfg.n_ifaces, 1);
	assert_string_equal(fx->cfg.ifaces[0], "eth0");
}

/* parse_number takes decimal or 0x-hex: a leading zero is no octal. */
static void test_numbers_are_decimal(void **state)
{
	struct fixture *fx = *state;
	int rc;

	rc = parse(fx, IFACE, PROTECT, "--table", "0100");
	if (rc == 0 && fx->cfg.table != 100)
		fail_msg("--table 0100 gave table %u, want 100 or an error", fx->cfg.table);
	rc = parse(fx, IFACE, PROTECT, "--connect-timeout", "0750");
	if (rc == 0 && fx->cfg.connect_timeout_ms != 750)
		fail_msg("--connect-timeout 0750 gave %u ms, want 750 or an error",
			 fx->cfg.connect_timeout_ms);
}

/* --auth and --auth-opt belong to the --protect before them. */
static void test_auth_per_service(void **state)
{
	struct fixture *fx = *state;
	const struct service_policy *a, *b;
	const char *n;

	assert_int_equal(parse(fx, IFACE, "-p", "198.19.2.2:80", "--auth", "http-basic:/etc/u",
			       "--auth-opt", "realm=Intranet", "--auth-opt", "credentials=strip",
			       "--auth-opt", "after-auth=forward", "-p", "198.19.2.2:443", "--auth",
			       "tls-sni:WWW.example.org,*.example.net", "-p", "198.19.2.2:22"),
			 0);
	a = &fx->cfg.policies[0];
	b = &fx->cfg.policies[1];
	assert_int_equal(a->module, AUTH_HTTP_BASIC);
	assert_string_equal(a->users_file, "/etc/u");
	assert_string_equal(a->realm, "Intranet");
	assert_true(a->strip_credentials && a->after_auth_forward && !a->user_header);
	assert_int_equal(a->uauth_idle_s, DEFAULT_UAUTH_IDLE_S);
	assert_int_equal(b->module, AUTH_TLS_SNI);
	n = service_sni_first(b);
	assert_string_equal(n, "www.example.org");
	n = service_sni_next(n);
	assert_string_equal(n, "*.example.net");
	assert_null(service_sni_next(n));
	assert_int_equal(fx->cfg.policies[2].module, AUTH_NONE);
	assert_string_equal(fx->cfg.policies[2].realm, DEFAULT_REALM);

	assert_int_equal(parse(fx, IFACE, PROTECT, "--auth", "http-basic:pam:login"), 0);
	assert_string_equal(fx->cfg.policies[0].pam_service, "login");
	assert_string_equal(fx->cfg.policies[0].users_file, "");
}

static void test_auth_errors(void **state)
{
	struct fixture *fx = *state;

	expect_error(fx, parse(fx, IFACE, "--auth", "http-basic:/u", PROTECT), "--auth", "/u");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "http-basic"), "--auth", "basic");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "http-basic:rel"), "--auth", "rel");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "none:x"), "--auth", "none:x");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "tls-sni:"), "--auth", "tls-sni");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "tls-sni:a.org,"), "--auth", "a.org");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "tls-sni:a b.org"), "--auth", "a b");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "tls-sni:*a.org"), "--auth", "*a.org");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth", "kerberos:x"), "--auth", "kerberos");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth-opt", "realm=a\"b"), "--auth-opt",
		     "realm");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth-opt", "block=-1"), "--auth-opt",
		     "block");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth-opt", "colour=blue"), "--auth-opt",
		     "colour");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--auth-opt", "after-auth=forward"),
		     "service 198.19.2.2/32 port 80", "without --auth");
	expect_error(fx,
		     parse(fx, IFACE, PROTECT, "--auth", "tls-sni:a.org", "--auth-opt",
			   "user-header=on"),
		     "tls-sni", "user-header");
	expect_error(fx,
		     parse(fx, IFACE, PROTECT, "--auth", "http-basic:/u", "--auth-opt",
			   "after-auth=forward", "--auth-opt", "uauth-idle=0"),
		     "after-auth=forward", "uauth-idle");
}

static void test_inspect_limits_and_access_log(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(parse(fx, IFACE, PROTECT), 0);
	assert_int_equal(fx->cfg.inspect_timeout_ms, DEFAULT_INSPECT_TIMEOUT_MS);
	assert_int_equal(fx->cfg.inspect_buffer, DEFAULT_INSPECT_BUFFER);
	assert_string_equal(fx->cfg.access_log, "");
	assert_int_equal(parse(fx, IFACE, PROTECT, "--inspect-timeout", "500", "--inspect-buffer",
			       "1024", "--access-log", "/var/log/a", "--access-log-format", "json"),
			 0);
	assert_int_equal(fx->cfg.inspect_timeout_ms, 500);
	assert_int_equal(fx->cfg.inspect_buffer, 1024);
	assert_string_equal(fx->cfg.access_log, "/var/log/a");
	assert_int_equal(fx->cfg.access_log_format, ACCESS_LOG_JSON);
	expect_error(fx, parse(fx, IFACE, PROTECT, "--inspect-buffer", "1023"), "--inspect-buffer",
		     "1023");
	expect_error(fx, parse(fx, IFACE, PROTECT, "--access-log-format", "xml"),
		     "--access-log-format", "xml");
}

static void test_find_service_longest_prefix(void **state)
{
	struct fixture *fx = *state;
	union cutthru_addr a = { 0 };

	assert_int_equal(parse(fx, IFACE, "-p", "198.19.0.0/16:80", "-p", "198.19.2.0/24:80", "-p",
			       "198.19.2.0/24:443"),
			 0);
	inet_pton(AF_INET, "198.19.2.7", &a.v4);
	assert_int_equal(config_find_service(&fx->cfg, AF_INET, &a, 80), 2);
	assert_int_equal(config_find_service(&fx->cfg, AF_INET, &a, 443), 3);
	assert_int_equal(config_find_service(&fx->cfg, AF_INET, &a, 22), 0);
	inet_pton(AF_INET, "198.19.9.7", &a.v4);
	assert_int_equal(config_find_service(&fx->cfg, AF_INET, &a, 80), 1);
	assert_int_equal(config_find_service(&fx->cfg, AF_INET6, &a, 80), 0);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_config_defaults),
		TEST(test_minimal_run),
		TEST(test_repeatable_options),
		TEST(test_interface_names),
		TEST(test_list_limits),
		TEST(test_mark),
		TEST(test_table),
		TEST(test_rule_priority),
		TEST(test_no_spoof_port),
		TEST(test_connect_timeout),
		TEST(test_buffer_size),
		TEST(test_xdp_and_syn_rate),
		TEST(test_quiet_verbose),
		TEST(test_help),
		TEST(test_missing_interface),
		TEST(test_missing_protect),
		TEST(test_invalid_protect_allow),
		TEST(test_unknown_option),
		TEST(test_unknown_option_in_cluster),
		TEST(test_missing_value),
		TEST(test_unexpected_argument),
		TEST(test_reparse_after_help_in_cluster),
		TEST(test_numbers_are_decimal),
		TEST(test_auth_per_service),
		TEST(test_auth_errors),
		TEST(test_inspect_limits_and_access_log),
		TEST(test_find_service_longest_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
