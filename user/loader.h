/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The BPF side: feature probes, loading, the maps' contents, TC attachment. */
#ifndef CUTTHRU_LOADER_H
#define CUTTHRU_LOADER_H

#include <bpf/libbpf.h>
#include "cli.h"

struct intercept_bpf;
struct proxy_maps;

struct tc_attachment {
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	char ifname[IF_NAMESIZE];
	int attached;
	const char *lacks; /* the kernel feature a failed attachment found missing */
};

struct loader {
	struct intercept_bpf *skel;
	struct tc_attachment att[CONFIG_IFACES_MAX];
	int n_att;
	struct bpf_link *lookup_link; /* sk_lookup on this network namespace */
};

/* Where cutthru's TC filter sits: a stale one from a killed run is replaced. */
#define CUTTHRU_TC_HANDLE 0x4354
#define CUTTHRU_TC_PRIORITY 0x4354

/* Checks kernel version and BPF features; names the first one missing. */
int loader_probe(char *why, size_t len);
int loader_load(struct loader *ld, const struct config *cfg);
int loader_set_listener(struct loader *ld, int slot, int fd);
/* Attaches the filter to IFNAME's ingress; on failure WHY says why, naming
 * the kernel feature when one is missing. */
int loader_attach(struct loader *ld, const char *ifname, char *why, size_t len);
/* Re-attaches the filter wherever someone removed it (or its qdisc).
 * Returns how many interfaces needed it, or -errno. */
int loader_ensure_attached(struct loader *ld);
/* The listener lookup hook of the namespace cutthru runs in. */
int loader_attach_netns(struct loader *ld);
/* Detaches from every interface, removing the clsact qdisc when nothing
 * else uses it. */
void loader_detach_all(struct loader *ld);
void loader_close(struct loader *ld);
/* Removes cutthru's filter (a killed run's) from every interface of this
 * namespace; returns how many had one. */
int loader_detach_stale(void);
/* Writes cfg's services and admitted sources as a new generation of the
 * policy maps, switches to it in one step, and removes the old one. */
int loader_apply_policy(struct loader *ld, const struct config *cfg);
void loader_proxy_maps(const struct loader *ld, struct proxy_maps *maps);

#endif
