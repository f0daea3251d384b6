/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Command-line flags -> struct config. */
#ifndef CUTTHRU_CLI_H
#define CUTTHRU_CLI_H

#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "addr.h"
#include "relay.h"
#include "service.h"

#define CONFIG_IFACES_MAX 16
#define CONFIG_SERVICES_MAX 64
#define CONFIG_ALLOW_MAX 256
#define CONFIG_INSTANCE_MAX 32
#define DEFAULT_INSTANCE "default"

/* Defaults: 'CT' in the upper half of the mark, table and priority chosen
 * away from the ones iproute2 and systemd-networkd use. */
#define DEFAULT_STEER_MARK 0x43540000u
#define DEFAULT_TABLE 4354u
#define DEFAULT_RULE_PRIORITY 4354u
#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_BUFFER_SIZE (64u * 1024)
#define DEFAULT_DATA_PATH DATA_PATH_SPLICE
#define DEFAULT_INSPECT_TIMEOUT_MS 10000u
#define DEFAULT_INSPECT_BUFFER (16u * 1024)
#define DEFAULT_SYN_PREFIX4 24
#define DEFAULT_SYN_PREFIX6 64

/* --xdp: the XDP prefilter in front of the TC program. */
enum xdp_mode {
	XDP_MODE_OFF = 0,
	XDP_MODE_NATIVE, /* in the driver; generic where it has no XDP */
	XDP_MODE_GENERIC, /* after the skb is built (any interface) */
};

enum access_log_format {
	ACCESS_LOG_PLAIN = 0,
	ACCESS_LOG_JSON,
};

struct config {
	char ifaces[CONFIG_IFACES_MAX][IF_NAMESIZE];
	int n_ifaces;
	struct endpoint_prefix services[CONFIG_SERVICES_MAX];
	struct service_policy policies[CONFIG_SERVICES_MAX]; /* by service */
	uint32_t service_uids[CONFIG_SERVICES_MAX]; /* the BPF maps' service ids */
	int n_services; /* a connection's service_id = index + 1 */
	struct prefix allow[CONFIG_ALLOW_MAX];
	int n_allow; /* 0: every source is admitted */
	struct prefix service_allow[CONFIG_ALLOW_MAX]; /* per-service lists */
	int n_service_allow;
	uint32_t steer_mark; /* set by BPF on intercepted packets; the rule's */
	uint32_t sock_mark; /* SO_MARK of the daemon's own sockets */
	uint32_t table;
	uint32_t rule_priority;
	int spoof_port;
	uint32_t connect_timeout_ms;
	uint32_t buffer_size;
	enum data_path data_path;
	uint32_t inspect_timeout_ms; /* first request / ClientHello deadline */
	uint32_t inspect_buffer; /* most bytes read while inspecting */
	char access_log[SERVICE_PATH_MAX]; /* "" -> the daemon's log */
	enum access_log_format access_log_format;
	char config_path[SERVICE_PATH_MAX]; /* --config, "" for none */
	char instance[CONFIG_INSTANCE_MAX]; /* names the pins and the socket */
	char metrics[64]; /* --metrics ADDR:PORT, "" for none */
	char user[64]; /* --user: run as this user after set-up */
	char bpffs[SERVICE_PATH_MAX]; /* where bpffs is (or gets) mounted */
	enum xdp_mode xdp_mode;
	uint32_t syn_rate; /* SYNs per second per source prefix; 0: no limit */
	uint32_t syn_burst; /* 0: as many as syn_rate */
	uint32_t syn_prefix4, syn_prefix6;
	/* Which lists the config file filled: a flag replaces them whole. */
	int file_ifaces, file_services, file_allow;
	int quiet;
	int verbose;
};

void config_defaults(struct config *cfg);
/*
 * Parses the flags of "cutthru run". Returns 0, 1 when --help was asked
 * for, or -EINVAL with a one-line reason naming the bad argument in err.
 */
int cli_parse_run(int argc, char **argv, struct config *cfg, char *err, size_t errlen);
void cli_usage(FILE *out);
/* One option by its long name (without "--") and value as text, as a flag
 * or a config file gives it. Returns 0 or -EINVAL (-ENOENT: no such name). */
int cli_apply(struct config *cfg, const char *name, const char *value);
/* Flags checks once everything is in: interfaces, services, policies. */
int cli_finish(struct config *cfg, char *err, size_t errlen);
/* Is text a valid instance name ([a-z0-9_-], 1 to 31 characters)? */
int valid_instance_name(const char *text);
const char *xdp_mode_name(enum xdp_mode mode);
/* Gives each service its id in the BPF maps: a hash of its prefix and
 * port, so that it stays the same across reloads and restarts (the login
 * cache and the failed-login blocks are keyed by it). */
void config_assign_uids(struct config *cfg);
/* The id (index + 1) of the service with the longest prefix holding the
 * destination, or 0. */
int config_find_service(const struct config *cfg, uint8_t family, const union cutthru_addr *addr,
			uint16_t port);

#endif
