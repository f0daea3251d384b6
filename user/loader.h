/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The BPF side: feature probes, loading, the maps' contents, TC attachment. */
#ifndef CUTTHRU_LOADER_H
#define CUTTHRU_LOADER_H

#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"

struct intercept_bpf;
struct xdp_bpf;
struct proxy_maps;

/* The XDP prefilter on one interface, in the mode it got. */
struct xdp_attachment {
	int ifindex;
	__u32 mode_flag; /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	char ifname[IF_NAMESIZE];
};

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
	struct xdp_bpf *xdp_skel; /* NULL with --xdp off */
	__u32 xdp_prog_id;
	struct xdp_attachment xdp_att[CONFIG_IFACES_MAX];
	int n_xdp;
};

/* The XDP program's name as the kernel keeps it (BPF_OBJ_NAME_LEN): how
 * cutthru tells its own program from someone else's on an interface. */
#define CUTTHRU_XDP_PROG_NAME "cutthru_xdp"

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
/* Attaches the XDP prefilter to IFNAME in the configured mode (native
 * falls back to generic, saying so in one line); replaces a program of a
 * killed run in place, refuses to replace someone else's. */
int loader_attach_xdp(struct loader *ld, const char *ifname, enum xdp_mode mode, char *why,
		      size_t len);
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
/* Puts the XDP prefilter back wherever someone removed it; returns how
 * many interfaces needed it (where it cannot, it says so and forgets it). */
int loader_ensure_xdp(struct loader *ld);
/* Removes cutthru's XDP program from every interface of this namespace;
 * returns how many had one. */
int loader_detach_stale_xdp(void);

/* Is addr inside the prefix p/plen (same family)? */
static inline int loader_addr_in_prefix(const union cutthru_addr *addr, const union cutthru_addr *p,
					int plen)
{
	int whole = plen / 8, bits = plen % 8;

	if (memcmp(addr->bytes, p->bytes, (size_t)whole))
		return 0;
	return !bits || !((addr->bytes[whole] ^ p->bytes[whole]) & (0xff00 >> bits));
}

/*
 * A service's flags (enum cutthru_service_flags): limiter, whether its
 * policy can block sources; and whether its prefix holds one of the
 * proxy's own addresses, as local_fd (the local_addrs map) has them.
 */
static inline __u32 loader_service_flags(int local_fd, __u8 family, const union cutthru_addr *addr,
					 int plen, int limiter)
{
	struct cutthru_local_key key, next;
	__u32 flags = limiter ? CUTTHRU_SVC_LIMITER : 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(local_fd, prev, &next)) {
		if (next.family == family && loader_addr_in_prefix(&next.addr, addr, plen))
			return flags | CUTTHRU_SVC_HOLDS_LOCAL;
		key = next;
		prev = &key;
	}
	return flags;
}

/* Makes the maps of 'to' (not yet loaded) the maps of the same name in
 * 'from' (loaded), so that two BPF objects share them. */
static inline int loader_share_maps(struct bpf_object *from, struct bpf_object *to)
{
	struct bpf_map *map, *same;
	int err;

	bpf_object__for_each_map(map, to) {
		if (bpf_map__is_internal(map))
			continue;
		same = bpf_object__find_map_by_name(from, bpf_map__name(map));
		if (!same)
			return -ENOENT;
		err = bpf_map__reuse_fd(map, bpf_map__fd(same));
		if (err)
			return err;
	}
	return 0;
}
/* Writes cfg's services and admitted sources as a new generation of the
 * policy maps, switches to it in one step, and removes the old one. */
int loader_apply_policy(struct loader *ld, const struct config *cfg);
void loader_proxy_maps(const struct loader *ld, struct proxy_maps *maps);

#endif
