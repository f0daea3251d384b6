// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "config.h"
#include "pin.h"

enum long_only_opt {
	OPT_MARK = 0x100,
	OPT_TABLE,
	OPT_RULE_PRIORITY,
	OPT_NO_SPOOF_PORT,
	OPT_CONNECT_TIMEOUT,
	OPT_BUFFER_SIZE,
	OPT_DATA_PATH,
	OPT_AUTH,
	OPT_AUTH_OPT,
	OPT_INSPECT_TIMEOUT,
	OPT_INSPECT_BUFFER,
	OPT_ACCESS_LOG,
	OPT_ACCESS_LOG_FORMAT,
	OPT_CONFIG,
	OPT_INSTANCE,
	OPT_METRICS,
	OPT_USER,
	OPT_BPFFS,
	OPT_XDP,
	OPT_SYN_RATE,
	OPT_SYN_BURST,
	OPT_SYN_PREFIX,
	OPT_SPOOF_PORT, /* config file only: spoof-port = true|false */
	OPT_LOG_LEVEL, /* config file only */
};

static const struct option run_options[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "protect", required_argument, NULL, 'p' },
	{ "allow", required_argument, NULL, 'a' },
	{ "mark", required_argument, NULL, OPT_MARK },
	{ "table", required_argument, NULL, OPT_TABLE },
	{ "rule-priority", required_argument, NULL, OPT_RULE_PRIORITY },
	{ "no-spoof-port", no_argument, NULL, OPT_NO_SPOOF_PORT },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "buffer-size", required_argument, NULL, OPT_BUFFER_SIZE },
	{ "data-path", required_argument, NULL, OPT_DATA_PATH },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "auth-opt", required_argument, NULL, OPT_AUTH_OPT },
	{ "inspect-timeout", required_argument, NULL, OPT_INSPECT_TIMEOUT },
	{ "inspect-buffer", required_argument, NULL, OPT_INSPECT_BUFFER },
	{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
	{ "access-log-format", required_argument, NULL, OPT_ACCESS_LOG_FORMAT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "instance", required_argument, NULL, OPT_INSTANCE },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "user", required_argument, NULL, OPT_USER },
	{ "bpffs", required_argument, NULL, OPT_BPFFS },
	{ "xdp", required_argument, NULL, OPT_XDP },
	{ "syn-rate", required_argument, NULL, OPT_SYN_RATE },
	{ "syn-burst", required_argument, NULL, OPT_SYN_BURST },
	{ "syn-prefix", required_argument, NULL, OPT_SYN_PREFIX },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: cutthru run -i IFACE [-i IFACE...] --protect ADDR:PORT [...] [options]\n"
		"       cutthru run --config FILE [options]\n"
		"       cutthru check-config FILE\n"
		"       cutthru reload | restart | status | conns | stats [--json] [--instance NAME]\n"
		"       cutthru detach [--instance NAME]\n"
		"       cutthru --version | --help\n"
		"\n"
		"Intercepts TCP connections to protected services on a router and relays them\n"
		"transparently: the client sees the server's address, the server the client's.\n"
		"\n"
		"Subcommands:\n"
		"  run                      the daemon (foreground; SIGHUP reloads --config,\n"
		"                           SIGUSR2 restarts in place); started beside a\n"
		"                           running one, it takes over its connections\n"
		"  check-config FILE        validate FILE; every error as FILE:LINE: what\n"
		"  reload                   make the running daemon reread its config file\n"
		"  restart                  restart the running daemon in place, no\n"
		"                           connection dropped (as SIGUSR2)\n"
		"  status, conns, stats     the daemon's state, connections, verdict counters\n"
		"  detach                   remove what a killed daemon left: TC filters,\n"
		"                           rules, routes, nftables table, pinned maps\n"
		"\n"
		"Options of run:\n"
		"      --config FILE        read the configuration from FILE (libconfig syntax;\n"
		"                           keys are these long options); flags override it\n"
		"      --instance NAME      names /sys/fs/bpf/cutthru/NAME and\n"
		"                           /run/cutthru/NAME.sock (default %s)\n"
		"      --metrics ADDR:PORT  Prometheus metrics over HTTP on ADDR:PORT\n"
		"      --user USER          after set-up, run as USER with only the\n"
		"                           capabilities still needed\n"
		"      --bpffs DIR          the BPF filesystem; maps are pinned in\n"
		"                           DIR/cutthru/NAME (default %s)\n"
		"  -i, --interface IFACE    attach to the ingress of IFACE (repeatable; every\n"
		"                           interface clients or protected servers are behind)\n"
		"  -p, --protect ADDR:PORT  protect a service; ADDR may be a prefix:\n"
		"                           198.19.2.2:80, 198.19.2.0/24:80, [2001:db8::2]:80\n"
		"  -a, --allow CIDR         admit sources in CIDR (repeatable; default: all)\n"
		"      --mark MARK          fwmark of intercepted packets (default 0x%x;\n"
		"                           the daemon's own sockets use MARK+1)\n"
		"      --table N            routing table of the local route (default %u)\n"
		"      --rule-priority N    priority of the fwmark rule (default %u)\n"
		"      --no-spoof-port      server leg from the client's address, a fresh port\n"
		"      --connect-timeout MS reset the client if the server has not answered\n"
		"                           within MS milliseconds (default %u)\n"
		"      --buffer-size BYTES  relay buffer per direction (default %u)\n"
		"      --data-path PATH     splice (default), sockmap (kernel cut-through) or copy\n"
		"      --xdp MODE           XDP prefilter: native (generic where the driver\n"
		"                           lacks it), generic, or off (default)\n"
		"      --syn-rate N         SYNs per second to the protected services per\n"
		"                           source prefix; more are dropped (default 0: no limit)\n"
		"      --syn-burst N        SYNs a prefix may send at once (default 0: N of\n"
		"                           --syn-rate)\n"
		"      --syn-prefix V4,V6   source prefix lengths of the limit (default %u,%u)\n"
		"\n"
		"Inspection before the cut-through, for the --protect just before:\n"
		"      --auth MODULE        none (default): cut through at once\n"
		"                           http-basic:/FILE  Basic login against user:hash lines\n"
		"                                      (bcrypt $2y$/$2b$, yescrypt $y$, sha512 $6$)\n"
		"                           http-basic:pam:SERVICE  Basic login through PAM\n"
		"                           tls-sni:NAME[,NAME...]  allowed TLS server names;\n"
		"                                      *.example.org: any name below it; *: any\n"
		"      --auth-opt KEY=VALUE (repeatable)\n"
		"                           realm=TEXT            Basic realm (default %s)\n"
		"                           credentials=pass|strip  Authorization to the server\n"
		"                           user-header=on|off    add X-Authenticated-User\n"
		"                           after-auth=proxy|forward  once logged in, the\n"
		"                                      source's connections bypass the proxy\n"
		"                           uauth-idle=S, uauth-absolute=S  logged-in source\n"
		"                                      cache (default %u, %u; 0: none)\n"
		"                           max-failures=N, failure-window=S, block=S  block a\n"
		"                                      source's SYNs after N failed logins\n"
		"                                      within S seconds (default %u, %u, %u)\n"
		"      --inspect-timeout MS close a client that has not sent its first request\n"
		"                           or ClientHello within MS (default %u)\n"
		"      --inspect-buffer BYTES  largest first request or ClientHello (default %u)\n"
		"      --access-log FILE    one line per connection to FILE (default: the log)\n"
		"      --access-log-format plain|json\n"
		"\n"
		"  -q, --quiet              no line per connection: warnings, errors, ready\n"
		"  -v, --verbose            debug messages\n"
		"  -h, --help               this text\n"
		"      --version            the version\n",
		DEFAULT_INSTANCE, DEFAULT_BPFFS, DEFAULT_STEER_MARK, DEFAULT_TABLE,
		DEFAULT_RULE_PRIORITY, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_BUFFER_SIZE,
		DEFAULT_SYN_PREFIX4, DEFAULT_SYN_PREFIX6, DEFAULT_REALM, DEFAULT_UAUTH_IDLE_S,
		DEFAULT_UAUTH_ABSOLUTE_S, DEFAULT_MAX_FAILURES, DEFAULT_FAILURE_WINDOW_S,
		DEFAULT_BLOCK_S, DEFAULT_INSPECT_TIMEOUT_MS, DEFAULT_INSPECT_BUFFER);
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->steer_mark = DEFAULT_STEER_MARK;
	cfg->sock_mark = DEFAULT_STEER_MARK + 1;
	cfg->table = DEFAULT_TABLE;
	cfg->rule_priority = DEFAULT_RULE_PRIORITY;
	cfg->spoof_port = 1;
	cfg->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	cfg->buffer_size = DEFAULT_BUFFER_SIZE;
	cfg->data_path = DEFAULT_DATA_PATH;
	cfg->inspect_timeout_ms = DEFAULT_INSPECT_TIMEOUT_MS;
	cfg->inspect_buffer = DEFAULT_INSPECT_BUFFER;
	cfg->syn_prefix4 = DEFAULT_SYN_PREFIX4;
	cfg->syn_prefix6 = DEFAULT_SYN_PREFIX6;
	snprintf(cfg->instance, sizeof(cfg->instance), "%s", DEFAULT_INSTANCE);
	snprintf(cfg->bpffs, sizeof(cfg->bpffs), "%s", DEFAULT_BPFFS);
}

int valid_instance_name(const char *text)
{
	size_t n = strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return n && n == strlen(text) && n < CONFIG_INSTANCE_MAX;
}

static int copy_arg(char *dst, size_t size, const char *arg)
{
	if (!*arg || strlen(arg) >= size)
		return -EINVAL;
	strcpy(dst, arg);
	return 0;
}

/* Decimal or 0x-hex (never octal), within [min, max]. */
static int parse_number(const char *text, unsigned long min, unsigned long max, uint32_t *out)
{
	int hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
	unsigned long v;
	char *end;

	/* strtoul would skip blanks and take a sign: only digits are numbers. */
	if (!isxdigit((unsigned char)text[hex ? 2 : 0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, hex ? 16 : 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static const char *const xdp_modes[] = {
	[XDP_MODE_OFF] = "off",
	[XDP_MODE_NATIVE] = "native",
	[XDP_MODE_GENERIC] = "generic",
};

const char *xdp_mode_name(enum xdp_mode mode)
{
	return mode <= XDP_MODE_GENERIC ? xdp_modes[mode] : "?";
}

static int parse_xdp_mode(const char *arg, enum xdp_mode *out)
{
	unsigned int i;

	for (i = 0; i < sizeof(xdp_modes) / sizeof(xdp_modes[0]); i++) {
		if (!strcmp(arg, xdp_modes[i])) {
			*out = (enum xdp_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* "V4,V6": the IPv4 and IPv6 source prefix lengths of the SYN rate limit. */
static int parse_syn_prefix(struct config *cfg, const char *arg)
{
	const char *comma = strchr(arg, ',');
	char v4[8];

	if (!comma || (size_t)(comma - arg) >= sizeof(v4))
		return -EINVAL;
	memcpy(v4, arg, (size_t)(comma - arg));
	v4[comma - arg] = '\0';
	return parse_number(v4, 1, 32, &cfg->syn_prefix4) ?:
		       parse_number(comma + 1, 1, 128, &cfg->syn_prefix6);
}

static int add_interface(struct config *cfg, const char *name)
{
	if (cfg->file_ifaces) {
		cfg->file_ifaces = 0;
		cfg->n_ifaces = 0;
	}
	if (cfg->n_ifaces >= CONFIG_IFACES_MAX || !*name || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	strcpy(cfg->ifaces[cfg->n_ifaces++], name);
	return 0;
}

static int add_service(struct config *cfg, const char *text)
{
	if (cfg->file_services) {
		cfg->file_services = 0;
		cfg->n_services = 0;
		cfg->n_service_allow = 0;
	}
	if (cfg->n_services >= CONFIG_SERVICES_MAX)
		return -EINVAL;
	service_policy_defaults(&cfg->policies[cfg->n_services]);
	return endpoint_prefix_parse(text, &cfg->services[cfg->n_services++]);
}

static uint32_t fnv1a(uint32_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static int uid_taken(const struct config *cfg, int n, uint32_t uid)
{
	int i;

	for (i = 0; i < n; i++)
		if (cfg->service_uids[i] == uid)
			return 1;
	return 0;
}

void config_assign_uids(struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->n_services; i++) {
		const struct endpoint_prefix *svc = &cfg->services[i];
		uint32_t h = 2166136261u;

		h = fnv1a(h, &svc->prefix.family, 1);
		h = fnv1a(h, &svc->prefix.len, 1);
		h = fnv1a(h, svc->prefix.addr.bytes, sizeof(svc->prefix.addr));
		h = fnv1a(h, &svc->port, sizeof(svc->port));
		/* Never 0; on the (rare) collision, the next free value. */
		while (!h || uid_taken(cfg, i, h))
			h++;
		cfg->service_uids[i] = h;
	}
}

/* --auth and --auth-opt belong to the --protect before them. */
static struct service_policy *last_policy(struct config *cfg)
{
	return cfg->n_services ? &cfg->policies[cfg->n_services - 1] : NULL;
}

int config_find_service(const struct config *cfg, uint8_t family, const union cutthru_addr *addr,
			uint16_t port)
{
	int i, best = 0, best_len = -1;

	for (i = 0; i < cfg->n_services; i++) {
		const struct endpoint_prefix *svc = &cfg->services[i];

		if (svc->port == port && svc->prefix.len > best_len &&
		    prefix_contains(&svc->prefix, family, addr)) {
			best = i + 1;
			best_len = svc->prefix.len;
		}
	}
	return best;
}

static int add_allow(struct config *cfg, const char *text)
{
	if (cfg->file_allow) {
		cfg->file_allow = 0;
		cfg->n_allow = 0;
	}
	if (cfg->n_allow >= CONFIG_ALLOW_MAX)
		return -EINVAL;
	return prefix_parse(text, &cfg->allow[cfg->n_allow++]);
}

static int parse_flag(const char *arg, int *out)
{
	if (!strcmp(arg, "true") || !strcmp(arg, "on"))
		*out = 1;
	else if (!strcmp(arg, "false") || !strcmp(arg, "off"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int parse_log_level(struct config *cfg, const char *arg)
{
	cfg->quiet = cfg->verbose = 0;
	if (!strcmp(arg, "notice"))
		cfg->quiet = 1;
	else if (!strcmp(arg, "debug"))
		cfg->verbose = 1;
	else if (strcmp(arg, "info"))
		return -EINVAL;
	return 0;
}

static int apply_option(struct config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case 'i':
		return add_interface(cfg, arg);
	case 'p':
		return add_service(cfg, arg);
	case 'a':
		return add_allow(cfg, arg);
	case OPT_MARK:
		if (parse_number(arg, 1, 0xfffffffeUL, &cfg->steer_mark))
			return -EINVAL;
		cfg->sock_mark = cfg->steer_mark + 1;
		return 0;
	case OPT_TABLE:
		/* 253-255 are default, main and local; 0 is unspecified. */
		if (parse_number(arg, 1, 0xffffffffUL, &cfg->table) ||
		    (cfg->table >= 253 && cfg->table <= 255))
			return -EINVAL;
		return 0;
	case OPT_RULE_PRIORITY:
		return parse_number(arg, 1, 32765, &cfg->rule_priority);
	case OPT_NO_SPOOF_PORT:
		cfg->spoof_port = 0;
		return 0;
	case OPT_CONNECT_TIMEOUT:
		return parse_number(arg, 1, 3600 * 1000, &cfg->connect_timeout_ms);
	case OPT_BUFFER_SIZE:
		return parse_number(arg, 4096, 64 << 20, &cfg->buffer_size);
	case OPT_DATA_PATH:
		return data_path_parse(arg, &cfg->data_path);
	case OPT_AUTH:
		return last_policy(cfg) ? service_policy_set_module(last_policy(cfg), arg) :
					  -EINVAL;
	case OPT_AUTH_OPT:
		return last_policy(cfg) ? service_policy_set_option(last_policy(cfg), arg) :
					  -EINVAL;
	case OPT_INSPECT_TIMEOUT:
		return parse_number(arg, 1, 3600 * 1000, &cfg->inspect_timeout_ms);
	case OPT_INSPECT_BUFFER:
		return parse_number(arg, 1024, 1 << 20, &cfg->inspect_buffer);
	case OPT_ACCESS_LOG:
		return copy_arg(cfg->access_log, sizeof(cfg->access_log), arg);
	case OPT_CONFIG:
		return 0; /* read before every other option (cli_parse_run) */
	case OPT_INSTANCE:
		if (!valid_instance_name(arg))
			return -EINVAL;
		return copy_arg(cfg->instance, sizeof(cfg->instance), arg);
	case OPT_METRICS: {
		struct endpoint_prefix ep;

		/* An address and a port: a prefix would be meaningless here. */
		if (endpoint_prefix_parse(arg, &ep) ||
		    ep.prefix.len != (ep.prefix.family == AF_INET ? 32 : 128) || !ep.port)
			return -EINVAL;
		return copy_arg(cfg->metrics, sizeof(cfg->metrics), arg);
	}
	case OPT_USER:
		return copy_arg(cfg->user, sizeof(cfg->user), arg);
	case OPT_BPFFS:
		return arg[0] == '/' ? copy_arg(cfg->bpffs, sizeof(cfg->bpffs), arg) : -EINVAL;
	case OPT_XDP:
		return parse_xdp_mode(arg, &cfg->xdp_mode);
	case OPT_SYN_RATE:
		return parse_number(arg, 0, 1000000, &cfg->syn_rate);
	case OPT_SYN_BURST:
		return parse_number(arg, 0, 1000000, &cfg->syn_burst);
	case OPT_SYN_PREFIX:
		return parse_syn_prefix(cfg, arg);
	case OPT_SPOOF_PORT:
		return parse_flag(arg, &cfg->spoof_port);
	case OPT_LOG_LEVEL:
		return parse_log_level(cfg, arg);
	case OPT_ACCESS_LOG_FORMAT:
		if (!strcmp(arg, "plain"))
			cfg->access_log_format = ACCESS_LOG_PLAIN;
		else if (!strcmp(arg, "json"))
			cfg->access_log_format = ACCESS_LOG_JSON;
		else
			return -EINVAL;
		return 0;
	case 'q':
		cfg->quiet = 1;
		return 0;
	case 'v':
		cfg->verbose = 1;
		return 0;
	}
	return -EINVAL;
}

static const char *option_name(int opt, char *buf, size_t len)
{
	const struct option *o;

	for (o = run_options; o->name; o++) {
		if (o->val == opt) {
			snprintf(buf, len, "--%s", o->name);
			return buf;
		}
	}
	snprintf(buf, len, "-%c", opt);
	return buf;
}

static int check_policies(const struct config *cfg, char *err, size_t errlen)
{
	char what[200], where[ENDPOINT_STRLEN + 8];
	int i;

	for (i = 0; i < cfg->n_services; i++) {
		const struct endpoint_prefix *svc = &cfg->services[i];

		if (!service_policy_check(&cfg->policies[i], what, sizeof(what)))
			continue;
		prefix_str(&svc->prefix, where, sizeof(where));
		snprintf(err, errlen, "service %s port %u: %s", where, svc->port, what);
		return -EINVAL;
	}
	return 0;
}

/* Config-file keys that are not flags, and keys whose flag takes no value. */
static const struct option file_options[] = {
	{ "spoof-port", required_argument, NULL, OPT_SPOOF_PORT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ 0 },
};

int cli_apply(struct config *cfg, const char *name, const char *value)
{
	const struct option *o;

	for (o = file_options; o->name; o++)
		if (!strcmp(o->name, name))
			return apply_option(cfg, o->val, value);
	for (o = run_options; o->name; o++) {
		if (strcmp(o->name, name))
			continue;
		/* Flags without a value, and --help, have a file form above or
		 * none; the file cannot name another file. */
		if (o->has_arg != required_argument || o->val == OPT_CONFIG)
			return -ENOENT;
		return apply_option(cfg, o->val, value);
	}
	return -ENOENT;
}

/* --config is read first, whatever its place: the other flags override it. */
static int read_config_flag(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	const char *path = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	if (!path)
		return 0;
	if (path[0] != '/' || copy_arg(cfg->config_path, sizeof(cfg->config_path), path)) {
		snprintf(err, errlen, "--config needs an absolute path: '%s'", path);
		return -EINVAL;
	}
	return config_file_load(path, cfg, err, errlen);
}

int cli_parse_run(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	char name[32];
	int opt;

	config_defaults(cfg);
	if (read_config_flag(argc, argv, cfg, err, errlen))
		return -EINVAL;
	optind = 0; /* 0, not 1: also forgets a half-read "-abc" group */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":i:p:a:qvh", run_options, NULL)) != -1) {
		if (opt == 'h')
			return 1;
		if (opt == '?') {
			const char *arg = argv[optind - 1];

			/* A long option is named whole; a short one by its letter, which
			 * may sit inside a group like "-qx". */
			if (!strncmp(arg, "--", 2) || !optopt || optopt >= 0x100)
				snprintf(err, errlen, "unknown option '%s'", arg);
			else
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			return -EINVAL;
		}
		if (opt == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		if (apply_option(cfg, opt, optarg)) {
			snprintf(err, errlen, "invalid %s '%s'",
				 option_name(opt, name, sizeof(name)), optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return cli_finish(cfg, err, errlen);
}

int cli_finish(struct config *cfg, char *err, size_t errlen)
{
	const char *file = cfg->config_path;

	if (!cfg->n_ifaces) {
		if (*file)
			snprintf(err, errlen, "%s: no interfaces (nor --interface given)", file);
		else
			snprintf(err, errlen, "no --interface given");
		return -EINVAL;
	}
	if (!cfg->n_services) {
		if (*file)
			snprintf(err, errlen, "%s: no services (nor --protect given)", file);
		else
			snprintf(err, errlen, "no --protect given");
		return -EINVAL;
	}
	config_assign_uids(cfg);
	return check_policies(cfg, err, errlen);
}
