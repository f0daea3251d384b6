// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libconfig.h>
#include "cli.h"
#include "config.h"

/* Errors, one per line, as many as fit. */
struct errors {
	const char *path;
	char *buf;
	size_t len, used;
	int count;
};

static void __attribute__((format(printf, 3, 4)))
add_error(struct errors *e, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->count++;
	if (e->used + 1 >= e->len)
		return;
	n = snprintf(e->buf + e->used, e->len - e->used, "%s%s:%u: ", e->used ? "\n" : "", e->path,
		     s ? config_setting_source_line(s) : 0);
	if (n > 0 && e->used + (size_t)n < e->len) {
		e->used += (size_t)n;
		va_start(ap, fmt);
		n = vsnprintf(e->buf + e->used, e->len - e->used, fmt, ap);
		va_end(ap);
		if (n > 0)
			e->used += (size_t)n;
	}
	if (e->used >= e->len)
		e->used = e->len - 1;
}

/* A scalar as the text a flag would carry. */
static int scalar_text(const config_setting_t *s, char *buf, size_t len)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		snprintf(buf, len, "%s", config_setting_get_string(s));
		return 0;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (config_setting_get_int64(s) < 0)
			return -EINVAL;
		snprintf(buf, len, "%" PRId64, (int64_t)config_setting_get_int64(s));
		return 0;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, len, "%s", config_setting_get_bool(s) ? "on" : "off");
		return 0;
	}
	return -EINVAL;
}

/* One key of the top level or of a service, through the flag of that name. */
static void apply_scalar(struct errors *e, struct config *cfg, const config_setting_t *s,
			 int (*apply)(struct config *cfg, const char *name, const char *value))
{
	const char *name = config_setting_name(s);
	char value[512];
	int ret;

	if (scalar_text(s, value, sizeof(value))) {
		add_error(e, s, "'%s' must be a string, a number >= 0 or a boolean", name);
		return;
	}
	ret = apply(cfg, name, value);
	if (ret == -ENOENT)
		add_error(e, s, "unknown key '%s'", name);
	else if (ret)
		add_error(e, s, "invalid %s '%s'", name, value);
}

/* A list of strings, each through the flag adder. */
static void apply_list(struct errors *e, struct config *cfg, const config_setting_t *s,
		       const char *flag)
{
	int i, n = config_setting_length(s);

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		add_error(e, s, "'%s' must be a list of strings", config_setting_name(s));
		return;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, (unsigned int)i);
		const char *text = config_setting_get_string(elem);

		if (!text)
			add_error(e, elem, "'%s' must be a list of strings",
				  config_setting_name(s));
		else if (cli_apply(cfg, flag, text))
			add_error(e, elem, "invalid %s '%s'", config_setting_name(s), text);
	}
}

static int apply_service_key(struct config *cfg, const char *name, const char *value)
{
	struct service_policy *sp = &cfg->policies[cfg->n_services - 1];
	char option[600];
	enum data_path path;

	if (!strcmp(name, "auth"))
		return service_policy_set_module(sp, value);
	if (!strcmp(name, "data-path")) {
		if (data_path_parse(value, &path))
			return -EINVAL;
		sp->data_path = (int)path;
		return 0;
	}
	if (!strcmp(name, "protect") || !strcmp(name, "allow"))
		return -ENOENT; /* handled before */
	if (!service_option_known(name))
		return -ENOENT;
	snprintf(option, sizeof(option), "%s=%s", name, value);
	return service_policy_set_option(sp, option) ? -EINVAL : 0;
}

/* A service's own allow list goes to cfg->service_allow. */
static void apply_service_allow(struct errors *e, struct config *cfg, const config_setting_t *s)
{
	struct service_policy *sp = &cfg->policies[cfg->n_services - 1];
	int i, n = config_setting_length(s);

	sp->allow_from = cfg->n_service_allow;
	for (i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, (unsigned int)i);
		const char *text = config_setting_get_string(elem);

		if (!text || cfg->n_service_allow >= CONFIG_ALLOW_MAX ||
		    prefix_parse(text, &cfg->service_allow[cfg->n_service_allow])) {
			add_error(e, elem, "invalid allow '%s'", text ? text : "(not a string)");
			continue;
		}
		cfg->n_service_allow++;
	}
	sp->allow_count = cfg->n_service_allow - sp->allow_from;
	if (!n)
		add_error(e, s, "an empty allow list admits nobody: remove it or list sources");
}

static void apply_service(struct errors *e, struct config *cfg, const config_setting_t *group)
{
	const config_setting_t *protect = config_setting_get_member(group, "protect");
	int i, n = config_setting_length(group);

	if (!config_setting_is_group(group)) {
		add_error(e, group, "each service must be a group { protect = ...; }");
		return;
	}
	if (!protect || !config_setting_get_string(protect)) {
		add_error(e, group, "service without protect = \"ADDR:PORT\"");
		return;
	}
	if (cli_apply(cfg, "protect", config_setting_get_string(protect))) {
		add_error(e, protect, "invalid protect '%s'", config_setting_get_string(protect));
		return;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned int)i);
		const char *name = config_setting_name(s);

		if (!strcmp(name, "protect"))
			continue;
		if (!strcmp(name, "allow"))
			apply_service_allow(e, cfg, s);
		else
			apply_scalar(e, cfg, s, apply_service_key);
	}
}

static void apply_services(struct errors *e, struct config *cfg, const config_setting_t *s)
{
	int i, n = config_setting_length(s);

	if (!config_setting_is_list(s)) {
		add_error(e, s, "'services' must be a list: services = ( { ... }, { ... } );");
		return;
	}
	for (i = 0; i < n; i++)
		apply_service(e, cfg, config_setting_get_elem(s, (unsigned int)i));
}

static void apply_root(struct errors *e, struct config *cfg, const config_setting_t *root)
{
	int i, n = config_setting_length(root);

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned int)i);
		const char *name = config_setting_name(s);

		if (!strcmp(name, "interfaces")) {
			apply_list(e, cfg, s, "interface");
			cfg->file_ifaces = 1;
		} else if (!strcmp(name, "allow")) {
			apply_list(e, cfg, s, "allow");
			cfg->file_allow = 1;
		} else if (!strcmp(name, "services")) {
			apply_services(e, cfg, s);
			cfg->file_services = 1;
		} else if (!strcmp(name, "protect") || !strncmp(name, "auth", 4)) {
			add_error(e, s, "'%s' belongs in a service: services = ( { ... } );", name);
		} else if (config_setting_is_aggregate(s)) {
			add_error(e, s, "unknown key '%s'", name);
		} else {
			apply_scalar(e, cfg, s, cli_apply);
		}
	}
}

int config_file_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct errors e = { .path = path, .buf = err, .len = errlen };
	config_t lc;

	err[0] = '\0';
	config_init(&lc);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: %s", path, strerror(errno ?: ENOENT));
		else
			snprintf(err, errlen, "%s:%d: %s", config_error_file(&lc) ?: path,
				 config_error_line(&lc), config_error_text(&lc));
		config_destroy(&lc);
		return -EINVAL;
	}
	apply_root(&e, cfg, config_root_setting(&lc));
	config_destroy(&lc);
	return e.count ? -EINVAL : 0;
}
