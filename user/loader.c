// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include "intercept.skel.h"
#include "xdp.skel.h"
#include "conn.h"
#include "loader.h"
#include "log.h"
#include "pin.h"
#include "routing.h"

/* libbpf's messages at our levels; a verifier log can be long, so it is
 * written whole rather than through log_msg's line buffer. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = level == LIBBPF_WARN ? LOG_LVL_WARN :
			      level == LIBBPF_INFO ? LOG_LVL_INFO :
						     LOG_LVL_DEBUG;

	if (ours > log_get_level())
		return 0;
	fprintf(stderr, "<%d>cutthru: ", ours);
	return vfprintf(stderr, fmt, ap);
}

static int kernel_at_least(int want_major, int want_minor, char *release, size_t len)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u))
		return 0;
	snprintf(release, len, "%s", u.release);
	if (sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > want_major || (major == want_major && minor >= want_minor);
}

int loader_probe(char *why, size_t len)
{
	static const struct {
		enum bpf_func_id id;
		const char *what;
	} helpers[] = {
		{ BPF_FUNC_sk_assign, "bpf_sk_assign (needs >= 5.7)" },
		{ BPF_FUNC_skc_lookup_tcp, "bpf_skc_lookup_tcp (needs >= 5.2)" },
		{ BPF_FUNC_skb_load_bytes, "bpf_skb_load_bytes" },
	};
	char release[128] = "";
	size_t i;

	if (!kernel_at_least(6, 1, release, sizeof(release))) {
		snprintf(why, len, "kernel %s is too old: cutthru needs >= 6.1", release);
		return -EOPNOTSUPP;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL) != 1) {
		snprintf(why, len, "kernel lacks BPF TC programs (CONFIG_NET_CLS_BPF)");
		return -EOPNOTSUPP;
	}
	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, helpers[i].id, NULL) != 1) {
			snprintf(why, len, "kernel lacks %s", helpers[i].what);
			return -EOPNOTSUPP;
		}
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_LOOKUP, NULL) != 1) {
		snprintf(why, len, "kernel lacks BPF sk_lookup programs (needs >= 5.9)");
		return -EOPNOTSUPP;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKMAP, NULL) != 1) {
		snprintf(why, len, "kernel lacks BPF sockmap (CONFIG_BPF_STREAM_PARSER)");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The policy maps, by the generation in their keys (see abi.h). */
struct policy_maps {
	int gen_fd, svc_fd, net_fd, allow_fd, local_fd;
	__u32 gen;
};

static int write_service(const struct policy_maps *m, const struct config *cfg, int i)
{
	const struct endpoint_prefix *svc = &cfg->services[i];
	const struct service_policy *sp = &cfg->policies[i];
	struct cutthru_service value = {
		.id = cfg->service_uids[i],
		.flags = loader_service_flags(m->local_fd, svc->prefix.family, &svc->prefix.addr,
					      svc->prefix.len,
					      sp->module != AUTH_NONE && sp->max_failures),
	};
	struct cutthru_service_key key = {
		.prefixlen = CUTTHRU_SERVICE_KEY_FIXED_BITS + svc->prefix.len,
		.gen = m->gen,
		.port = htons(svc->port),
		.family = svc->prefix.family,
		.addr = svc->prefix.addr,
	};
	struct cutthru_net_key net = {
		.prefixlen = CUTTHRU_NET_KEY_FIXED_BITS + svc->prefix.len,
		.gen = m->gen,
		.family = svc->prefix.family,
		.addr = svc->prefix.addr,
	};
	__u32 one = 1;

	if (bpf_map_update_elem(m->svc_fd, &key, &value, BPF_ANY) ||
	    bpf_map_update_elem(m->net_fd, &net, &one, BPF_ANY))
		return -errno;
	return 0;
}

static int write_allow(const struct policy_maps *m, __u32 uid, const struct prefix *p)
{
	struct cutthru_allow_key key = {
		.prefixlen = CUTTHRU_ALLOW_KEY_FIXED_BITS + p->len,
		.gen = m->gen,
		.service_id = uid,
		.family = p->family,
		.addr = p->addr,
	};
	__u32 one = 1;

	return bpf_map_update_elem(m->allow_fd, &key, &one, BPF_ANY) ? -errno : 0;
}

/* A service's own allow list, else the global one; none given: everyone. */
static int write_allowed(const struct policy_maps *m, const struct config *cfg, int i)
{
	static const struct prefix any4 = { .family = AF_INET }, any6 = { .family = AF_INET6 };
	const struct service_policy *sp = &cfg->policies[i];
	const struct prefix *list = cfg->allow;
	__u32 uid = cfg->service_uids[i];
	int j, n = cfg->n_allow, err = 0;

	if (sp->allow_count > 0) {
		list = &cfg->service_allow[sp->allow_from];
		n = sp->allow_count;
	}
	if (!n)
		return write_allow(m, uid, &any4) ?: write_allow(m, uid, &any6);
	for (j = 0; j < n && !err; j++)
		err = write_allow(m, uid, &list[j]);
	return err;
}

/*
 * Removes every entry of one policy map whose generation is not keep. The
 * generation sits at the same offset (after prefixlen) in all three keys.
 */
static int purge_map(int fd, size_t key_size, __u32 keep)
{
	unsigned char key[64], next[64];
	unsigned char *doomed = NULL, *grown;
	size_t n = 0, i;
	void *prev = NULL;
	__u32 gen;
	int err = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(&gen, next + sizeof(__u32), sizeof(gen));
		if (gen != keep) {
			grown = realloc(doomed, (n + 1) * key_size);
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			doomed = grown;
			memcpy(doomed + n++ * key_size, next, key_size);
		}
		memcpy(key, next, key_size);
		prev = key;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, doomed + i * key_size);
	free(doomed);
	return err;
}

static int purge_policy(const struct policy_maps *m, __u32 keep)
{
	return purge_map(m->svc_fd, sizeof(struct cutthru_service_key), keep)	  ?:
		       purge_map(m->net_fd, sizeof(struct cutthru_net_key), keep) ?:
		       purge_map(m->allow_fd, sizeof(struct cutthru_allow_key), keep);
}

/* The SYN rate limit: read by both programs at each SYN, so a reload
 * changes it at once (the buckets stay). */
static int write_syn_limit(struct loader *ld, const struct config *cfg)
{
	struct cutthru_syn_limit lim = {
		.prefix4 = (__u8)cfg->syn_prefix4,
		.prefix6 = (__u8)cfg->syn_prefix6,
	};
	__u32 burst = cfg->syn_burst ? cfg->syn_burst : cfg->syn_rate, zero = 0;

	if (cfg->syn_rate) {
		lim.interval_ns = 1000000000ull / cfg->syn_rate;
		lim.tolerance_ns = (__u64)(burst ? burst - 1 : 0) * lim.interval_ns;
	}
	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.syn_limit), &zero, &lim, BPF_ANY))
		return -errno;
	return 0;
}

int loader_apply_policy(struct loader *ld, const struct config *cfg)
{
	struct policy_maps m = {
		.gen_fd = bpf_map__fd(ld->skel->maps.config_gen),
		.svc_fd = bpf_map__fd(ld->skel->maps.services),
		.net_fd = bpf_map__fd(ld->skel->maps.protected_nets),
		.allow_fd = bpf_map__fd(ld->skel->maps.allowed),
		.local_fd = bpf_map__fd(ld->skel->maps.local_addrs),
	};
	__u32 zero = 0, current = 0;
	int i, err = 0;

	if (bpf_map_lookup_elem(m.gen_fd, &zero, &current))
		return -errno;
	err = write_syn_limit(ld, cfg);
	if (err)
		return err;
	m.gen = current + 1;
	/* Whatever a failed earlier attempt left in the new generation. */
	purge_policy(&m, current);
	for (i = 0; i < cfg->n_services && !err; i++)
		err = write_service(&m, cfg, i) ?: write_allowed(&m, cfg, i);
	if (err) {
		purge_policy(&m, current);
		return err;
	}
	/* The switch: one store, read once per packet. */
	if (bpf_map_update_elem(m.gen_fd, &zero, &m.gen, BPF_ANY))
		return -errno;
	return purge_policy(&m, m.gen);
}

/* The proxy's own addresses, from every interface of this namespace. */
static int fill_local_addrs(struct intercept_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.local_addrs);
	struct ifaddrs *ifa_list, *ifa;
	__u32 one = 1;
	int err = 0;

	if (getifaddrs(&ifa_list))
		return -errno;
	for (ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
		struct cutthru_local_key key = { 0 };
		uint16_t port;

		if (!ifa->ifa_addr ||
		    (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
			continue;
		sockaddr_to_addr((struct sockaddr_storage *)ifa->ifa_addr, &key.family, &key.addr,
				 &port);
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY)) {
			err = -errno;
			break;
		}
	}
	freeifaddrs(ifa_list);
	return err;
}

/* Every map but the listener sockmap (its sockets die with the daemon) and
 * the .rodata: pinned by name. */
static int set_pins(struct intercept_bpf *skel, const char *dir)
{
	struct bpf_map *map;
	char path[512];
	int err;

	bpf_object__for_each_map(map, skel->obj) {
		if (map == skel->maps.listeners || bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

static struct intercept_bpf *open_pinned(const struct config *cfg, const char *dir, int *err)
{
	struct intercept_bpf *skel = intercept_bpf__open();

	if (!skel) {
		*err = -errno;
		return NULL;
	}
	skel->rodata->steer_mark = cfg->steer_mark;
	*err = set_pins(skel, dir) ?: intercept_bpf__load(skel);
	if (*err) {
		intercept_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* Addresses the router no longer has must not stay "local". */
static void clear_map(int fd)
{
	unsigned char key[64];

	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			break;
}

/* The XDP prefilter, on the maps of the TC program. */
static int load_xdp(struct loader *ld)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int err;

	ld->xdp_skel = xdp_bpf__open();
	if (!ld->xdp_skel)
		return -errno;
	err = loader_share_maps(ld->skel->obj, ld->xdp_skel->obj) ?: xdp_bpf__load(ld->xdp_skel);
	err = err   ?:
		      bpf_obj_get_info_by_fd(bpf_program__fd(ld->xdp_skel->progs.cutthru_xdp),
					     &info, &len);
	if (err) {
		xdp_bpf__destroy(ld->xdp_skel);
		ld->xdp_skel = NULL;
		return err;
	}
	ld->xdp_prog_id = info.id;
	return 0;
}

int loader_load(struct loader *ld, const struct config *cfg)
{
	struct intercept_bpf *skel;
	char dir[384], why[512];
	int err;

	memset(ld, 0, sizeof(*ld));
	libbpf_set_print(libbpf_log);
	err = pin_dir(cfg->bpffs, cfg->instance, dir, sizeof(dir)) ?:
		      pin_prepare(cfg->bpffs, dir, why, sizeof(why));
	if (err) {
		pr_err("pinning the BPF maps: %s", err == -ENAMETOOLONG ? "path too long" : why);
		return err;
	}
	skel = open_pinned(cfg, dir, &err);
	if (!skel && err == -EINVAL) {
		/* Pins of another layout (an older cutthru): start afresh. */
		pr_warn("the pinned maps in %s do not fit this cutthru: replacing them", dir);
		pin_remove(dir);
		err = pin_prepare(cfg->bpffs, dir, why, sizeof(why));
		skel = err ? NULL : open_pinned(cfg, dir, &err);
	}
	if (!skel) {
		pr_err("loading the BPF programs failed: %s", strerror(-err));
		return err;
	}
	ld->skel = skel;
	if (cfg->xdp_mode != XDP_MODE_OFF) {
		err = load_xdp(ld);
		if (err) {
			pr_err("loading the XDP prefilter failed: %s", strerror(-err));
			goto err_destroy;
		}
	}
	clear_map(bpf_map__fd(skel->maps.local_addrs));
	/* The local addresses first: the services' flags are read from them. */
	err = fill_local_addrs(skel) ?: loader_apply_policy(ld, cfg);
	if (err) {
		pr_err("filling the BPF maps failed: %s", strerror(-err));
		goto err_destroy;
	}
	ld->skel = skel;
	return 0;

err_destroy:
	xdp_bpf__destroy(ld->xdp_skel);
	ld->xdp_skel = NULL;
	intercept_bpf__destroy(skel);
	ld->skel = NULL;
	return err;
}

int loader_set_listener(struct loader *ld, int slot, int fd)
{
	__u32 key = (__u32)slot;
	__u64 value = (__u64)fd;

	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.listeners), &key, &value, BPF_ANY))
		return -errno;
	return 0;
}

/* A qdisc or filter kind the kernel does not know (not built, or its module
 * missing) is all ENOENT says; the kernel's own text is no clearer. */
#define LACKS_CLSACT "the clsact qdisc (sch_ingress, CONFIG_NET_SCH_INGRESS)"
#define LACKS_CLS_BPF "the BPF TC classifier (cls_bpf, CONFIG_NET_CLS_BPF)"

/* Removes the interface's clsact qdisc: with both attach points named,
 * libbpf deletes the qdisc rather than flushing one hook. */
static void destroy_clsact(const struct tc_attachment *att)
{
	struct bpf_tc_hook hook = att->hook;

	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	bpf_tc_hook_destroy(&hook);
}

static int attach_filter(struct tc_attachment *att, int prog_fd)
{
	int err = bpf_tc_hook_create(&att->hook);
	int created_qdisc = !err;

	att->lacks = NULL;
	if (err && err != -EEXIST) {
		if (err == -ENOENT || err == -EOPNOTSUPP)
			att->lacks = LACKS_CLSACT;
		return err;
	}
	memset(&att->opts, 0, sizeof(att->opts));
	att->opts.sz = sizeof(att->opts);
	att->opts.handle = CUTTHRU_TC_HANDLE;
	att->opts.priority = CUTTHRU_TC_PRIORITY;
	/* A filter left by a run that was killed is replaced in place. */
	att->opts.flags = BPF_TC_F_REPLACE;
	att->opts.prog_fd = prog_fd;
	err = bpf_tc_attach(&att->hook, &att->opts);
	if (err == -ENOENT || err == -EOPNOTSUPP)
		att->lacks = LACKS_CLS_BPF;
	/* A qdisc only this failed attempt made is not left behind. */
	if (err && created_qdisc)
		destroy_clsact(att);
	return err;
}

int loader_ensure_attached(struct loader *ld)
{
	int prog_fd = bpf_program__fd(ld->skel->progs.cutthru_intercept);
	int i, err, restored = 0;

	for (i = 0; i < ld->n_att; i++) {
		struct tc_attachment *att = &ld->att[i];
		struct bpf_tc_opts query = {
			.sz = sizeof(query),
			.handle = CUTTHRU_TC_HANDLE,
			.priority = CUTTHRU_TC_PRIORITY,
		};

		if (!bpf_tc_query(&att->hook, &query) && query.prog_id == att->opts.prog_id)
			continue;
		err = attach_filter(att, prog_fd);
		if (err)
			return err;
		restored++;
	}
	return restored;
}

int loader_attach(struct loader *ld, const char *ifname, char *why, size_t len)
{
	struct tc_attachment *att = &ld->att[ld->n_att];
	int ifindex = (int)if_nametoindex(ifname);
	int err;

	if (!ifindex) {
		snprintf(why, len, "%s", strerror(ENODEV));
		return -ENODEV;
	}
	memset(att, 0, sizeof(*att));
	snprintf(att->ifname, sizeof(att->ifname), "%s", ifname);
	att->hook.sz = sizeof(att->hook);
	att->hook.ifindex = ifindex;
	att->hook.attach_point = BPF_TC_INGRESS;
	err = attach_filter(att, bpf_program__fd(ld->skel->progs.cutthru_intercept));
	if (err) {
		if (att->lacks)
			snprintf(why, len, "kernel lacks %s", att->lacks);
		else
			snprintf(why, len, "%s", strerror(-err));
		return err;
	}
	att->attached = 1;
	ld->n_att++;
	return 0;
}

int loader_attach_netns(struct loader *ld)
{
	struct bpf_link *link;
	int fd, err;

	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	link = bpf_program__attach_netns(ld->skel->progs.cutthru_listener_lookup, fd);
	err = libbpf_get_error(link);
	close(fd);
	if (err)
		return err;
	ld->lookup_link = link;
	return 0;
}

static void detach_xdp(struct loader *ld);

void loader_detach_all(struct loader *ld)
{
	int i;

	detach_xdp(ld);
	bpf_link__destroy(ld->lookup_link);
	ld->lookup_link = NULL;

	for (i = 0; i < ld->n_att; i++) {
		struct tc_attachment *att = &ld->att[i];

		if (!att->attached)
			continue;
		att->opts.flags = 0;
		att->opts.prog_fd = 0;
		att->opts.prog_id = 0;
		if (bpf_tc_detach(&att->hook, &att->opts))
			pr_warn("detaching from %s failed", att->ifname);
		/* The clsact qdisc goes too, unless another filter still uses it. */
		if (!routing_tc_hook_in_use(att->hook.ifindex))
			destroy_clsact(att);
		att->attached = 0;
	}
	ld->n_att = 0;
}

int loader_detach_stale(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int count = 0;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		struct bpf_tc_hook hook = { .sz = sizeof(hook),
					    .ifindex = (int)i->if_index,
					    .attach_point = BPF_TC_INGRESS };
		struct bpf_tc_opts opts = { .sz = sizeof(opts),
					    .handle = CUTTHRU_TC_HANDLE,
					    .priority = CUTTHRU_TC_PRIORITY };

		if (bpf_tc_detach(&hook, &opts))
			continue;
		count++;
		if (!routing_tc_hook_in_use(hook.ifindex)) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
	}
	if_freenameindex(ifs);
	return count;
}

void loader_close(struct loader *ld)
{
	loader_detach_all(ld);
	xdp_bpf__destroy(ld->xdp_skel);
	ld->xdp_skel = NULL;
	intercept_bpf__destroy(ld->skel);
	ld->skel = NULL;
}

void loader_proxy_maps(const struct loader *ld, struct proxy_maps *maps)
{
	maps->quads_fd = bpf_map__fd(ld->skel->maps.quads);
	maps->auth_sources_fd = bpf_map__fd(ld->skel->maps.auth_sources);
	maps->auth_failures_fd = bpf_map__fd(ld->skel->maps.auth_failures);
	maps->counters_fd = bpf_map__fd(ld->skel->maps.counters);
	maps->xdp_counters_fd = bpf_map__fd(ld->skel->maps.xdp_counters);
}

/* --- The XDP prefilter. --------------------------------------------------- */

/* Is the program with this id cutthru's XDP prefilter? */
static int xdp_prog_is_ours(__u32 id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd, ours;

	if (!id)
		return 0;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return 0;
	ours = !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	       !strcmp(info.name, CUTTHRU_XDP_PROG_NAME);
	close(fd);
	return ours;
}

static int xdp_query(int ifindex, struct bpf_xdp_query_opts *q)
{
	memset(q, 0, sizeof(*q));
	q->sz = sizeof(*q);
	return bpf_xdp_query(ifindex, 0, q);
}

static __u32 xdp_prog_in_mode(const struct bpf_xdp_query_opts *q, __u32 mode_flag)
{
	return mode_flag == XDP_FLAGS_DRV_MODE ? q->drv_prog_id : q->skb_prog_id;
}

/*
 * Attaches in one mode, replacing a program of a killed run in place. The
 * kernel holds one mode at a time, so cutthru's program in the other mode
 * (a run with the other --xdp) goes first; anyone else's program is never
 * replaced: -EBUSY.
 */
static int xdp_attach_mode(struct xdp_attachment *att, int prog_fd, __u32 mode_flag)
{
	__u32 other_flag = mode_flag == XDP_FLAGS_DRV_MODE ? XDP_FLAGS_SKB_MODE :
							     XDP_FLAGS_DRV_MODE;
	struct bpf_xdp_query_opts q;
	__u32 mine, other;
	int err;

	err = xdp_query(att->ifindex, &q);
	if (err)
		return err;
	mine = xdp_prog_in_mode(&q, mode_flag);
	other = xdp_prog_in_mode(&q, other_flag);
	if (q.hw_prog_id || (mine && !xdp_prog_is_ours(mine)) ||
	    (other && !xdp_prog_is_ours(other)))
		return -EBUSY;
	if (other) {
		err = bpf_xdp_detach(att->ifindex, other_flag, NULL);
		if (err)
			return err;
	}
	err = bpf_xdp_attach(att->ifindex, prog_fd, mode_flag, NULL);
	if (!err)
		att->mode_flag = mode_flag;
	return err;
}

int loader_attach_xdp(struct loader *ld, const char *ifname, enum xdp_mode mode, char *why,
		      size_t len)
{
	struct xdp_attachment *att = &ld->xdp_att[ld->n_xdp];
	int prog_fd = bpf_program__fd(ld->xdp_skel->progs.cutthru_xdp);
	int err, native_err = 0;

	memset(att, 0, sizeof(*att));
	snprintf(att->ifname, sizeof(att->ifname), "%s", ifname);
	att->ifindex = (int)if_nametoindex(ifname);
	if (!att->ifindex) {
		snprintf(why, len, "%s", strerror(ENODEV));
		return -ENODEV;
	}
	err = -EOPNOTSUPP;
	if (mode == XDP_MODE_NATIVE) {
		err = native_err = xdp_attach_mode(att, prog_fd, XDP_FLAGS_DRV_MODE);
		if (!err)
			pr_notice("XDP prefilter on %s: native", ifname);
	}
	/* The driver has no XDP of its own (or refuses it): the generic hook,
	 * after the skb is built, runs the same program on any interface. */
	if (err && err != -EBUSY) {
		err = xdp_attach_mode(att, prog_fd, XDP_FLAGS_SKB_MODE);
		if (!err && native_err)
			pr_notice("XDP prefilter on %s: generic (native mode unavailable: %s)",
				  ifname, strerror(-native_err));
		else if (!err)
			pr_notice("XDP prefilter on %s: generic", ifname);
	}
	if (err == -EBUSY)
		snprintf(why, len, "another XDP program is attached to it: not replacing it");
	else if (err)
		snprintf(why, len, "%s", strerror(-err));
	if (err)
		return err;
	ld->n_xdp++;
	return 0;
}

/* Puts the prefilter back where someone removed it. Not a guard (TC is):
 * where that fails, it says so and TC goes on alone. */
int loader_ensure_xdp(struct loader *ld)
{
	struct bpf_xdp_query_opts q;
	int i, err, restored = 0;

	for (i = 0; i < ld->n_xdp; i++) {
		struct xdp_attachment *att = &ld->xdp_att[i];

		if (!att->ifindex || (!xdp_query(att->ifindex, &q) &&
				      xdp_prog_in_mode(&q, att->mode_flag) == ld->xdp_prog_id))
			continue;
		err = xdp_attach_mode(att, bpf_program__fd(ld->xdp_skel->progs.cutthru_xdp),
				      att->mode_flag);
		if (err) {
			pr_warn("the XDP prefilter was removed from %s and cannot be put back (%s): "
				"TC alone judges its packets",
				att->ifname,
				err == -EBUSY ? "another XDP program is there" : strerror(-err));
			att->ifindex = 0;
			continue;
		}
		restored++;
	}
	return restored;
}

static void detach_xdp(struct loader *ld)
{
	struct bpf_xdp_query_opts q;
	int i;

	for (i = 0; i < ld->n_xdp; i++) {
		struct xdp_attachment *att = &ld->xdp_att[i];

		if (!att->ifindex || xdp_query(att->ifindex, &q) ||
		    xdp_prog_in_mode(&q, att->mode_flag) != ld->xdp_prog_id)
			continue;
		if (bpf_xdp_detach(att->ifindex, att->mode_flag, NULL))
			pr_warn("detaching the XDP prefilter from %s failed", att->ifname);
	}
	ld->n_xdp = 0;
}

int loader_detach_stale_xdp(void)
{
	static const __u32 modes[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	struct if_nameindex *ifs = if_nameindex(), *i;
	struct bpf_xdp_query_opts q;
	int count = 0;
	size_t m;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		if (xdp_query((int)i->if_index, &q))
			continue;
		for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
			if (xdp_prog_is_ours(xdp_prog_in_mode(&q, modes[m])) &&
			    !bpf_xdp_detach((int)i->if_index, modes[m], NULL))
				count++;
	}
	if_freenameindex(ifs);
	return count;
}
