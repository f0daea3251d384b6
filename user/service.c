// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "service.h"

static const char *const module_names[] = {
	[AUTH_NONE] = "none",
	[AUTH_HTTP_BASIC] = "http-basic",
	[AUTH_TLS_SNI] = "tls-sni",
};

const char *auth_module_name(enum auth_module module)
{
	return module <= AUTH_TLS_SNI ? module_names[module] : "?";
}

void service_policy_defaults(struct service_policy *sp)
{
	memset(sp, 0, sizeof(*sp));
	snprintf(sp->realm, sizeof(sp->realm), "%s", DEFAULT_REALM);
	sp->uauth_idle_s = DEFAULT_UAUTH_IDLE_S;
	sp->uauth_absolute_s = DEFAULT_UAUTH_ABSOLUTE_S;
	sp->max_failures = DEFAULT_MAX_FAILURES;
	sp->failure_window_s = DEFAULT_FAILURE_WINDOW_S;
	sp->block_s = DEFAULT_BLOCK_S;
	sp->data_path = -1;
}

static int copy_text(char *dst, size_t size, const char *src)
{
	if (!*src || strlen(src) >= size)
		return -EINVAL;
	strcpy(dst, src);
	return 0;
}

/* A server-name pattern: "*", "*.suffix" or a DNS name; stored lower-case. */
static int valid_sni_pattern(const char *p, size_t len)
{
	size_t i = 0;

	if (len == 1 && p[0] == '*')
		return 1;
	if (len > 2 && p[0] == '*' && p[1] == '.')
		i = 2;
	if (i == len || len > 253)
		return 0;
	for (; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!isalnum(ch) && ch != '-' && ch != '.')
			return 0;
	}
	return p[len - 1] != '.';
}

/* "a.example.org,*.example.net" -> "a.example.org\0*.example.net\0\0" */
static int parse_sni_names(struct service_policy *sp, const char *list)
{
	char *out = sp->sni_names, *end = sp->sni_names + sizeof(sp->sni_names);
	const char *p = list;

	if (!*list)
		return -EINVAL;
	while (*p) {
		size_t len = strcspn(p, ",");
		size_t i;

		if (!valid_sni_pattern(p, len) || (size_t)(end - out) < len + 2)
			return -EINVAL;
		for (i = 0; i < len; i++)
			*out++ = (char)tolower((unsigned char)p[i]);
		*out++ = '\0';
		p += len;
		if (*p == ',' && !*++p)
			return -EINVAL; /* a trailing comma */
	}
	*out = '\0';
	return 0;
}

int service_policy_set_module(struct service_policy *sp, const char *text)
{
	const char *arg = strchr(text, ':');
	size_t name_len = arg ? (size_t)(arg - text) : strlen(text);

	if (arg)
		arg++;
	if (name_len == 4 && !strncmp(text, "none", 4) && !arg) {
		sp->module = AUTH_NONE;
		return 0;
	}
	if (name_len == 10 && !strncmp(text, "http-basic", 10) && arg) {
		sp->module = AUTH_HTTP_BASIC;
		sp->users_file[0] = sp->pam_service[0] = '\0';
		if (!strncmp(arg, "pam:", 4))
			return copy_text(sp->pam_service, sizeof(sp->pam_service), arg + 4);
		if (arg[0] != '/')
			return -EINVAL; /* an absolute path: the daemon may chdir */
		return copy_text(sp->users_file, sizeof(sp->users_file), arg);
	}
	if (name_len == 7 && !strncmp(text, "tls-sni", 7) && arg) {
		sp->module = AUTH_TLS_SNI;
		return parse_sni_names(sp, arg);
	}
	return -EINVAL;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int parse_u32(const char *v, uint32_t max, uint32_t *out)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

/* A realm goes between quotes in WWW-Authenticate: printable, no quote or
 * backslash, so no escaping is ever needed. */
static int set_realm(struct service_policy *sp, const char *v)
{
	const char *p;

	for (p = v; *p; p++)
		if (!isprint((unsigned char)*p) || *p == '"' || *p == '\\')
			return -EINVAL;
	return copy_text(sp->realm, sizeof(sp->realm), v);
}

#define DAY_S (24u * 3600)

static const char *const option_names[] = {
	"realm",	  "credentials",  "user-header",    "after-auth", "uauth-idle",
	"uauth-absolute", "max-failures", "failure-window", "block",	  NULL,
};

int service_option_known(const char *name)
{
	const char *const *n;

	for (n = option_names; *n; n++)
		if (!strcmp(*n, name))
			return 1;
	return 0;
}

int service_policy_set_option(struct service_policy *sp, const char *text)
{
	const char *eq = strchr(text, '=');
	char key[32];
	const char *v;

	if (!eq || (size_t)(eq - text) >= sizeof(key))
		return -EINVAL;
	memcpy(key, text, (size_t)(eq - text));
	key[eq - text] = '\0';
	v = eq + 1;
	if (!strcmp(key, "realm"))
		return set_realm(sp, v);
	if (!strcmp(key, "credentials")) {
		if (strcmp(v, "pass") && strcmp(v, "strip"))
			return -EINVAL;
		sp->strip_credentials = !strcmp(v, "strip");
		return 0;
	}
	if (!strcmp(key, "user-header"))
		return parse_bool(v, &sp->user_header);
	if (!strcmp(key, "after-auth")) {
		if (strcmp(v, "proxy") && strcmp(v, "forward"))
			return -EINVAL;
		sp->after_auth_forward = !strcmp(v, "forward");
		return 0;
	}
	if (!strcmp(key, "uauth-idle"))
		return parse_u32(v, 30 * DAY_S, &sp->uauth_idle_s);
	if (!strcmp(key, "uauth-absolute"))
		return parse_u32(v, 30 * DAY_S, &sp->uauth_absolute_s);
	if (!strcmp(key, "max-failures"))
		return parse_u32(v, 1000000, &sp->max_failures);
	if (!strcmp(key, "failure-window"))
		return parse_u32(v, DAY_S, &sp->failure_window_s);
	if (!strcmp(key, "block"))
		return parse_u32(v, 30 * DAY_S, &sp->block_s);
	return -EINVAL;
}

int service_policy_check(const struct service_policy *sp, char *err, size_t errlen)
{
	if (sp->module == AUTH_NONE &&
	    (sp->after_auth_forward || sp->user_header || sp->strip_credentials)) {
		snprintf(err, errlen, "--auth-opt given for a service without --auth");
		return -EINVAL;
	}
	if (sp->module == AUTH_TLS_SNI && (sp->user_header || sp->strip_credentials)) {
		snprintf(err, errlen,
			 "tls-sni cannot modify what it forwards (user-header, "
			 "credentials=strip are http-basic options)");
		return -EINVAL;
	}
	if (sp->module == AUTH_TLS_SNI && sp->after_auth_forward) {
		snprintf(err, errlen, "after-auth=forward needs a login (http-basic)");
		return -EINVAL;
	}
	if (sp->after_auth_forward && !sp->uauth_idle_s) {
		snprintf(err, errlen, "after-auth=forward needs the source cache (uauth-idle > 0)");
		return -EINVAL;
	}
	if (sp->max_failures && (!sp->failure_window_s || !sp->block_s)) {
		snprintf(err, errlen, "max-failures needs failure-window and block > 0");
		return -EINVAL;
	}
	return 0;
}

const char *service_sni_first(const struct service_policy *sp)
{
	return sp->sni_names[0] ? sp->sni_names : NULL;
}

const char *service_sni_next(const char *p)
{
	p += strlen(p) + 1;
	return *p ? p : NULL;
}
