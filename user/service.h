/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What each protected service asks of a connection before the cut-through:
 * its inspection module and that module's options (issue "authenticate,
 * inspect and modify"), as the flags --auth and --auth-opt give them.
 */
#ifndef CUTTHRU_SERVICE_H
#define CUTTHRU_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include "cutthru/abi.h"

enum auth_module {
	AUTH_NONE = 0, /* cut through at once */
	AUTH_HTTP_BASIC, /* the first request must carry Basic credentials */
	AUTH_TLS_SNI, /* the ClientHello's server name must be allowed */
};

#define SERVICE_PATH_MAX 256
#define SERVICE_NAME_MAX 64
#define SERVICE_SNI_TEXT_MAX 1024

/* Defaults of the per-service options. */
#define DEFAULT_REALM "cutthru"
#define DEFAULT_UAUTH_IDLE_S 300u
#define DEFAULT_UAUTH_ABSOLUTE_S 3600u
#define DEFAULT_MAX_FAILURES 5u
#define DEFAULT_FAILURE_WINDOW_S 60u
#define DEFAULT_BLOCK_S 300u

struct service_policy {
	enum auth_module module;
	char users_file[SERVICE_PATH_MAX]; /* http-basic: user:crypt-hash lines */
	char pam_service[SERVICE_NAME_MAX]; /* http-basic: or a PAM service */
	char realm[SERVICE_NAME_MAX];
	int strip_credentials; /* drop Authorization before the server */
	int user_header; /* add X-Authenticated-User */
	int after_auth_forward; /* logged-in sources bypass the proxy */
	/* tls-sni: the allowed names, NUL-separated, ending with an empty one */
	char sni_names[SERVICE_SNI_TEXT_MAX];
	uint32_t uauth_idle_s; /* 0: no authenticated-source cache */
	uint32_t uauth_absolute_s;
	uint32_t max_failures; /* 0: no limiter */
	uint32_t failure_window_s;
	uint32_t block_s;
	/* Admitted sources of this service: cfg->service_allow[allow_from...]
	 * when allow_count > 0, else the global list. */
	int allow_from, allow_count;
	int data_path; /* enum data_path, or -1: the global one */
};

void service_policy_defaults(struct service_policy *sp);
/*
 * --auth MODULE[:ARG]: "none", "http-basic:/path/to/users",
 * "http-basic:pam:SERVICE", "tls-sni:NAME[,NAME...]". Returns 0 or -EINVAL.
 */
int service_policy_set_module(struct service_policy *sp, const char *text);
/* Is name a key of --auth-opt? */
int service_option_known(const char *name);
/* --auth-opt KEY=VALUE; see cli_usage(). Returns 0 or -EINVAL. */
int service_policy_set_option(struct service_policy *sp, const char *text);
/* Is the module's configuration complete and consistent? Names what is
 * wrong in err. */
int service_policy_check(const struct service_policy *sp, char *err, size_t errlen);
const char *auth_module_name(enum auth_module module);

/* The first allowed name pattern, and the one after p; NULL at the end. */
const char *service_sni_first(const struct service_policy *sp);
const char *service_sni_next(const char *p);

#endif
