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
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include "intercept.skel.h"
#include "loader.h"
#include "log.h"
#include "routing.h"

/* libbpf's messages at our levels; a verifier log can be long, so it is
 * written whole rather than through log_msg's line buffer. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG;

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

static void service_key(const struct endpoint_prefix *svc, struct cutthru_service_key *key)
{
	memset(key, 0, sizeof(*key));
	key->prefixlen = CUTTHRU_SERVICE_KEY_FIXED_BITS + svc->prefix.len;
	key->port = htons(svc->port);
	key->family = svc->prefix.family;
	key->addr = svc->prefix.addr;
}

static int fill_services(struct intercept_bpf *skel, const struct config *cfg)
{
	int svc_fd = bpf_map__fd(skel->maps.services);
	int net_fd = bpf_map__fd(skel->maps.protected_nets);
	__u32 one = 1;
	int i;

	for (i = 0; i < cfg->n_services; i++) {
		const struct endpoint_prefix *svc = &cfg->services[i];
		struct cutthru_service value = { .id = (__u32)i + 1 };
		struct cutthru_service_key key;
		struct cutthru_net_key net = {
			.prefixlen = CUTTHRU_NET_KEY_FIXED_BITS + svc->prefix.len,
			.family = svc->prefix.family,
			.addr = svc->prefix.addr,
		};

		service_key(svc, &key);
		if (bpf_map_update_elem(svc_fd, &key, &value, BPF_ANY) ||
		    bpf_map_update_elem(net_fd, &net, &one, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int allow_prefix(int fd, __u32 service_id, const struct prefix *p)
{
	struct cutthru_allow_key key = {
		.prefixlen = CUTTHRU_ALLOW_KEY_FIXED_BITS + p->len,
		.service_id = service_id,
		.family = p->family,
		.addr = p->addr,
	};
	__u32 one = 1;

	return bpf_map_update_elem(fd, &key, &one, BPF_ANY) ? -errno : 0;
}

/* With no --allow, every source of either family is admitted. */
static int fill_allowed(struct intercept_bpf *skel, const struct config *cfg)
{
	static const struct prefix any4 = { .family = AF_INET }, any6 = { .family = AF_INET6 };
	int fd = bpf_map__fd(skel->maps.allowed);
	int i, j, err;

	for (i = 0; i < cfg->n_services; i++) {
		__u32 id = (__u32)i + 1;

		if (!cfg->n_allow) {
			err = allow_prefix(fd, id, &any4) ?: allow_prefix(fd, id, &any6);
			if (err)
				return err;
		}
		for (j = 0; j < cfg->n_allow; j++) {
			err = allow_prefix(fd, id, &cfg->allow[j]);
			if (err)
				return err;
		}
	}
	return 0;
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

int loader_load(struct loader *ld, const struct config *cfg)
{
	struct intercept_bpf *skel;
	int err;

	memset(ld, 0, sizeof(*ld));
	libbpf_set_print(libbpf_log);
	skel = intercept_bpf__open();
	if (!skel)
		return -errno;
	skel->rodata->steer_mark = cfg->steer_mark;
	err = intercept_bpf__load(skel);
	if (err) {
		pr_err("loading the BPF programs failed: %s", strerror(-err));
		goto err_destroy;
	}
	err = fill_services(skel, cfg) ?: fill_allowed(skel, cfg) ?: fill_local_addrs(skel);
	if (err) {
		pr_err("filling the BPF maps failed: %s", strerror(-err));
		goto err_destroy;
	}
	ld->skel = skel;
	return 0;

err_destroy:
	intercept_bpf__destroy(skel);
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

void loader_detach_all(struct loader *ld)
{
	int i;

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

void loader_close(struct loader *ld)
{
	loader_detach_all(ld);
	intercept_bpf__destroy(ld->skel);
	ld->skel = NULL;
}

int loader_quads_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.quads);
}
