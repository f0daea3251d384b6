// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The intercepting controller's test world (see fixture.h). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cutthru/abi.h"
#include "intercept.skel.h"
#include "xdp.skel.h"
#include "loader.h"
#include "fixture.h"

/* The tables are constant: a typo there is a bug in the test. */
static void pkt_addr(int family, const char *text, void *out)
{
	if (inet_pton(family, text, out) != 1)
		memset(out, 0xee, family == AF_INET ? 4 : 16);
}

int fixture_fail(char *why, size_t len, const char *what, int err)
{
	snprintf(why, len, "%s: %s", what, strerror(err < 0 ? -err : err));
	return -1;
}

/* --- Maps, as user/loader.c fills them. ---------------------------------- */

void fixture_addr(const char *text, __u8 *family, union cutthru_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	*family = strchr(text, ':') ? AF_INET6 : AF_INET;
	pkt_addr(*family, text, addr);
}

static int add_service(struct fixture *fx, const struct fixture_service *s, __u32 id)
{
	struct cutthru_service_key key = { .port = htons(s->port) };
	struct cutthru_net_key net = { 0 };
	struct cutthru_service svc = { .id = id };
	int plen = s->plen;
	__u32 one = 1;

	fixture_addr(s->addr, &key.family, &key.addr);
	/* The flags as user/loader.c gives them, from the local addresses. */
	svc.flags = loader_service_flags(bpf_map__fd(fx->skel->maps.local_addrs), key.family,
					 &key.addr, plen, s->limiter);
	key.prefixlen = CUTTHRU_SERVICE_KEY_FIXED_BITS + plen;
	net.prefixlen = CUTTHRU_NET_KEY_FIXED_BITS + plen;
	net.family = key.family;
	net.addr = key.addr;
	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.services), &key, &svc, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(fx->skel->maps.protected_nets), &net, &one, BPF_ANY))
		return -errno;
	return 0;
}

static int add_allowed(struct fixture *fx, __u32 id, const char *addr, int plen)
{
	struct cutthru_allow_key key = { .service_id = id };
	__u32 one = 1;

	fixture_addr(addr, &key.family, &key.addr);
	key.prefixlen = CUTTHRU_ALLOW_KEY_FIXED_BITS + plen;
	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.allowed), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

static int add_local(struct fixture *fx, const char *addr)
{
	struct cutthru_local_key key = { 0 };
	__u32 one = 1;

	fixture_addr(addr, &key.family, &key.addr);
	if (bpf_map_update_elem(bpf_map__fd(fx->skel->maps.local_addrs), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

const struct fixture_service fixture_services[] = {
	{ S4, 32, 80, 1 },
	{ S6, 128, 80, 0 },
	{ "198.19.3.0", 24, 443, 0 },
};
const size_t fixture_n_services = sizeof(fixture_services) / sizeof(fixture_services[0]);

const char *const fixture_local_addrs[] = { OWN4, OWN6, OWN_IN_P4 };
const size_t fixture_n_local_addrs = sizeof(fixture_local_addrs) / sizeof(fixture_local_addrs[0]);

/* Admitted to every service. */
static const struct {
	const char *addr;
	int plen;
} sources[] = { { "198.18.1.0", 24 }, { "2001:db8:1::", 64 } };

static int fill_maps(struct fixture *fx)
{
	const struct fixture_service *svc;
	__u32 id, j;
	int err = 0;

	/* The local addresses first: the services' flags are read from them. */
	for (j = 0; !err && j < fixture_n_local_addrs; j++)
		err = add_local(fx, fixture_local_addrs[j]);
	for (id = 1; !err && id <= fixture_n_services; id++) {
		svc = &fixture_services[id - 1];
		if (id == fx->omit_service)
			continue;
		err = add_service(fx, svc, id);
		for (j = 0; !err && j < sizeof(sources) / sizeof(sources[0]); j++)
			err = add_allowed(fx, id, sources[j].addr, sources[j].plen);
	}
	return err;
}

int fixture_set_listeners(struct fixture *fx, int on)
{
	__u32 slot;

	for (slot = 0; slot < CUTTHRU_LISTENER_SLOTS; slot++) {
		__u64 fd = (__u64)fx->listen_fd[slot];
		int err = on ? bpf_map_update_elem(fx->listeners_fd, &slot, &fd, BPF_ANY) :
			       bpf_map_delete_elem(fx->listeners_fd, &slot);

		if (err && (on || errno != ENOENT))
			return -errno;
	}
	return 0;
}

/* --- Sockets in the test's namespace. ------------------------------------ */

static socklen_t to_sockaddr(const char *addr, __u16 port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		pkt_addr(AF_INET6, addr, &sin6->sin6_addr);
		return sizeof(*sin6);
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	pkt_addr(AF_INET, addr, &sin->sin_addr);
	return sizeof(*sin);
}

static int tcp_socket_at(const char *addr, __u16 port)
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(addr, port, &ss);
	int one = 1, fd;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int tcp_listen_at(const char *addr, __u16 port)
{
	int fd = tcp_socket_at(addr, port);

	if (fd >= 0 && listen(fd, 16)) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A connection from client to the listener lfd at server:80. */
static int tcp_pair(int lfd, const char *client, const char *server, int fds[2])
{
	struct sockaddr_storage ss;
	socklen_t len = to_sockaddr(server, 80, &ss);

	fds[0] = tcp_socket_at(client, 0);
	if (fds[0] < 0)
		return fds[0];
	if (connect(fds[0], (struct sockaddr *)&ss, len))
		return -errno;
	fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fds[1] < 0 ? -errno : 0;
}

/* Is there a TIME_WAIT socket at local S4:80, remote client:rport? */
static int in_time_wait(const char *client, __u16 rport)
{
	unsigned int laddr, lport, raddr, port, state;
	struct in_addr s4, c4;
	char line[256];
	int found = 0;
	FILE *f;

	pkt_addr(AF_INET, S4, &s4);
	pkt_addr(AF_INET, client, &c4);
	f = fopen("/proc/net/tcp", "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, " %*d: %8X:%4X %8X:%4X %2X", &laddr, &lport, &raddr, &port,
			       &state) == 5 &&
			laddr == s4.s_addr && lport == 80 && raddr == c4.s_addr && port == rport &&
			state == 6;
	fclose(f);
	return found;
}

/* The server side closes first, so its socket ends in TIME_WAIT. */
static int tcp_time_wait(int lfd, const char *client, __u16 *cport)
{
	struct pollfd pfd;
	int fds[2], i, err;
	char c;

	err = tcp_pair(lfd, client, S4, fds);
	if (err)
		return err;
	*cport = local_port(fds[0]);
	close(fds[1]);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	if (poll(&pfd, 1, 1000) != 1 || read(fds[0], &c, 1) != 0)
		return -ETIMEDOUT;
	close(fds[0]);
	for (i = 0; i < 100 && !in_time_wait(client, *cport); i++)
		usleep(10000);
	return in_time_wait(client, *cport) ? 0 : -ETIMEDOUT;
}

/* Connections whose sockets live here: the owners the program looks up. */
static int make_connections(struct fixture *fx, char *why, size_t len)
{
	int l4 = tcp_listen_at(S4, 80), l6 = tcp_listen_at(S6, 80), err;

	if (l4 < 0 || l6 < 0)
		return fixture_fail(why, len, "listening on the service addresses",
				    l4 < 0 ? l4 : l6);
	err = tcp_pair(l4, C4, S4, &fx->est_fd[0]) ?: tcp_pair(l6, C6, S6, &fx->est_fd[2]);
	if (err)
		return fixture_fail(why, len, "connecting over lo", err);
	fx->port_est4 = local_port(fx->est_fd[0]);
	fx->port_est6 = local_port(fx->est_fd[2]);
	err = tcp_time_wait(l4, C4, &fx->port_tw4) ?: tcp_time_wait(l4, X4, &fx->port_tw4x);
	if (err)
		return fixture_fail(why, len, "getting a socket into TIME_WAIT", err);
	/* The service ports have no local listener in the cases. */
	close(l4);
	close(l6);
	return 0;
}

static int if_up(int fd, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(fd, SIOCSIFFLAGS, &ifr) ? -errno : 0;
}

/* An IPv4 /32 on lo, through an alias label. */
static int lo_add_addr4(int fd, const char *label, const char *addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", label);
	pkt_addr(AF_INET, addr, &sin.sin_addr);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	if (ioctl(fd, SIOCSIFADDR, &ifr))
		return -errno;
	pkt_addr(AF_INET, "255.255.255.255", &sin.sin_addr);
	memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
	return ioctl(fd, SIOCSIFNETMASK, &ifr) ? -errno : 0;
}

/* struct in6_ifreq of linux/ipv6.h, which clashes with netinet/in.h. */
struct lo_in6_ifreq {
	struct in6_addr addr;
	__u32 prefixlen;
	int ifindex;
};

static int lo_add_addr6(int ifindex, const char *addr)
{
	struct lo_in6_ifreq req = { .prefixlen = 128, .ifindex = ifindex };
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	pkt_addr(AF_INET6, addr, &req.addr);
	if (ioctl(fd, SIOCSIFADDR, &req))
		err = -errno;
	close(fd);
	return err;
}

/* A namespace of our own: lo up, the clients' and services' addresses on it. */
static int make_netns(struct fixture *fx, char *why, size_t len)
{
	static const char *const addrs4[] = { C4, S4, X4 }, *const addrs6[] = { C6, S6 };
	char label[IFNAMSIZ];
	int fd, err;
	size_t i;

	if (unshare(CLONE_NEWNET))
		return fixture_fail(why, len, "unshare(CLONE_NEWNET) (needs CAP_SYS_ADMIN)", errno);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fixture_fail(why, len, "socket", errno);
	err = if_up(fd, "lo");
	for (i = 0; !err && i < sizeof(addrs4) / sizeof(addrs4[0]); i++) {
		snprintf(label, sizeof(label), "lo:%zu", i + 1);
		err = lo_add_addr4(fd, label, addrs4[i]);
	}
	close(fd);
	fx->lo_ifindex = (int)if_nametoindex("lo");
	for (i = 0; !err && i < sizeof(addrs6) / sizeof(addrs6[0]); i++)
		err = lo_add_addr6(fx->lo_ifindex, addrs6[i]);
	return err ? fixture_fail(why, len, "configuring lo (IPv6 needs CONFIG_IPV6)", err) : 0;
}

static int make_sockets(struct fixture *fx, char *why, size_t len)
{
	fx->listen_fd[CUTTHRU_LISTENER_INET] = tcp_listen_at("127.0.0.1", 0);
	fx->listen_fd[CUTTHRU_LISTENER_INET6] = tcp_listen_at("::1", 0);
	fx->wildcard_fd = tcp_listen_at("0.0.0.0", 443);
	if (fx->listen_fd[0] < 0 || fx->listen_fd[1] < 0 || fx->wildcard_fd < 0)
		return fixture_fail(why, len, "listening on lo", errno);
	if (fixture_set_listeners(fx, 1))
		return fixture_fail(why, len, "filling the listener sockmap", errno);
	return make_connections(fx, why, len);
}

/* --- The program. --------------------------------------------------------- */

static int load(struct fixture *fx, char *why, size_t len)
{
	int err;

	fx->skel = intercept_bpf__open();
	if (!fx->skel)
		return fixture_fail(why, len, "opening the skeleton", errno);
	fx->skel->rodata->steer_mark = STEER_MARK;
	err = intercept_bpf__load(fx->skel);
	if (err)
		return fixture_fail(why, len, "loading the BPF program", err);
	fx->prog_fd = bpf_program__fd(fx->skel->progs.cutthru_intercept);
	fx->counters_fd = bpf_map__fd(fx->skel->maps.counters);
	fx->listeners_fd = bpf_map__fd(fx->skel->maps.listeners);
	fx->quads_fd = bpf_map__fd(fx->skel->maps.quads);
	fx->xdp_counters_fd = bpf_map__fd(fx->skel->maps.xdp_counters);
	/* The XDP prefilter on the same maps, as user/loader.c loads it. */
	fx->xdp_skel = xdp_bpf__open();
	if (!fx->xdp_skel)
		return fixture_fail(why, len, "opening the XDP skeleton", errno);
	err = loader_share_maps(fx->skel->obj, fx->xdp_skel->obj) ?: xdp_bpf__load(fx->xdp_skel);
	if (err)
		return fixture_fail(why, len, "loading the XDP program", err);
	fx->xdp_prog_fd = bpf_program__fd(fx->xdp_skel->progs.cutthru_xdp);
	fx->ncpus = libbpf_num_possible_cpus();
	if (fx->ncpus <= 0)
		return fixture_fail(why, len, "counting CPUs", fx->ncpus);
	fx->percpu = calloc((size_t)fx->ncpus * CUTTHRU_REASONS, sizeof(*fx->percpu));
	if (!fx->percpu)
		return fixture_fail(why, len, "calloc", ENOMEM);
	err = fill_maps(fx);
	return err ? fixture_fail(why, len, "filling the maps", err) : 0;
}

/* One batch lookup for all reasons and CPUs: the fuzzer reads them per frame. */
static int read_counter_map(struct fixture *fx, int fd, struct cutthru_counter sum[CUTTHRU_REASONS])
{
	__u32 keys[CUTTHRU_REASONS], count = CUTTHRU_REASONS, next, r;
	int err, cpu;

	err = bpf_map_lookup_batch(fd, NULL, &next, keys, fx->percpu, &count, NULL);
	if (err && err != -ENOENT)
		return err;
	if (count != CUTTHRU_REASONS)
		return -EIO;
	for (r = 0; r < CUTTHRU_REASONS; r++) {
		const struct cutthru_counter *c = &fx->percpu[(size_t)r * fx->ncpus];

		sum[keys[r]] = (struct cutthru_counter){ 0 };
		for (cpu = 0; cpu < fx->ncpus; cpu++) {
			sum[keys[r]].packets += c[cpu].packets;
			sum[keys[r]].bytes += c[cpu].bytes;
		}
	}
	return 0;
}

int fixture_read_counters(struct fixture *fx, struct cutthru_counter sum[CUTTHRU_REASONS])
{
	return read_counter_map(fx, fx->counters_fd, sum);
}

int fixture_read_xdp_counters(struct fixture *fx, struct cutthru_counter sum[CUTTHRU_REASONS])
{
	return read_counter_map(fx, fx->xdp_counters_fd, sum);
}

#define REASON(r) [CUTTHRU_##r] = #r

const char *fixture_reason_name(__u32 r)
{
	static const char *const names[CUTTHRU_REASONS] = {
		REASON(PASS_NOT_IP),	    REASON(PASS_LOCAL),	       REASON(PASS_UNPROTECTED),
		REASON(PASS_NOT_TCP),	    REASON(STEER_SYN),	       REASON(STEER_FLOW),
		REASON(STEER_ICMP),	    REASON(STEER_NO_CONN),     REASON(DROP_NOT_ADMITTED),
		REASON(DROP_NO_LISTENER),   REASON(DROP_NO_CONN),      REASON(DROP_ASSIGN),
		REASON(DROP_MALFORMED),	    REASON(DROP_FRAGMENT),     REASON(DROP_UNPARSED),
		REASON(PASS_AUTHENTICATED), REASON(DROP_AUTH_BLOCKED), REASON(DROP_SYN_RATE),
	};

	return r < CUTTHRU_REASONS && names[r] ? names[r] : "?";
}

int fixture_test_run(struct fixture *fx, const __u8 *frame, size_t len, __u32 *retval, __u32 *mark)
{
	struct __sk_buff ctx_in = { 0 }, ctx_out = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .ctx_in = &ctx_in, .ctx_size_in = sizeof(ctx_in), .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out), .repeat = 1);

	if (bpf_prog_test_run_opts(fx->prog_fd, &opts))
		return -errno;
	*retval = opts.retval;
	*mark = ctx_out.mark;
	return 0;
}

int fixture_xdp_run(struct fixture *fx, const __u8 *frame, size_t len, __u32 *retval, __u8 *out,
		    __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = *out_len, .repeat = 1);

	if (bpf_prog_test_run_opts(fx->xdp_prog_fd, &opts))
		return -errno;
	*retval = opts.retval;
	*out_len = opts.data_size_out;
	return 0;
}

int fixture_setup(struct fixture *fx, char *why, size_t len)
{
	return make_netns(fx, why, len) ?: load(fx, why, len) ?: make_sockets(fx, why, len);
}

void fixture_teardown(struct fixture *fx)
{
	if (fx->live_fd > 0)
		close(fx->live_fd);
	if (fx->tc_opts.prog_id) {
		fx->tc_opts.flags = fx->tc_opts.prog_fd = fx->tc_opts.prog_id = 0;
		bpf_tc_detach(&fx->hook, &fx->tc_opts);
	}
	free(fx->percpu);
	xdp_bpf__destroy(fx->xdp_skel);
	intercept_bpf__destroy(fx->skel);
}
