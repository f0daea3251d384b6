// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of user/privs.c. Each case runs in a forked child, since a
 * drop cannot be undone; the child reports a failure through a pipe (never
 * with cmocka's asserts, which would jump back into the child's copy of
 * the runner) and leaves with _exit. The cases that use the network do it
 * in a network namespace of the child's own, which dies with it.
 *
 * Needs root: it checks what a root daemon keeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ctype.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <cap-ng.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "conn.h"
#include "cut.h"
#include "loader.h"
#include "log.h"
#include "privs.h"
#include "routing.h"

/* What a dropped daemon must hold, written out rather than taken from
 * privs.h, so that a change there has to change this too. */
#define WANT_CAPS ((1ULL << CAP_NET_ADMIN) | (1ULL << CAP_NET_BIND_SERVICE))
#define CHILD_TIMEOUT_MS 30000
#define UNIT_FILE "dist/cutthru.service"

static int report_fd = -1;

/* In the child: say what failed, where, and leave. */
static void __attribute__((format(printf, 2, 3), noreturn))
child_fail(int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (write(report_fd, msg, strlen(msg)) < 0)
		_exit(3);
	_exit(1);
}

#define CHECK(cond, ...)                                   \
	do {                                               \
		if (!(cond))                               \
			child_fail(__LINE__, __VA_ARGS__); \
	} while (0)

/* Runs body(arg) in a child, bounded in time; fails the test with the
 * child's message. */
static void run_in_child(void (*body)(void *), void *arg)
{
	struct pollfd pfd;
	char msg[512] = "";
	size_t got = 0;
	int pipefd[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (geteuid() != 0)
		fail_msg("test_privs needs root: it checks what a root daemon keeps");
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		report_fd = pipefd[1];
		body(arg);
		_exit(0);
	}
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	for (;;) {
		if (poll(&pfd, 1, CHILD_TIMEOUT_MS) != 1) {
			kill(pid, SIGKILL);
			snprintf(msg, sizeof(msg), "child did not finish within %d ms",
				 CHILD_TIMEOUT_MS);
			break;
		}
		n = read(pipefd[0], msg + got, sizeof(msg) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (msg[0])
		fail_msg("%s", msg);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("child ended with status %#x and no message", status);
}

/* A field of /proc/self/status, read as hex (the capability sets) or as
 * the first decimal (Uid:, Gid:, NoNewPrivs:). */
static unsigned long long status_field(const char *name, int hex)
{
	size_t len = strlen(name);
	unsigned long long v = 0;
	char line[256];
	int found = 0;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	CHECK(f, "opening /proc/self/status: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':')
			found = sscanf(line + len + 1, hex ? "%llx" : "%llu", &v) == 1;
	fclose(f);
	CHECK(found, "no %s in /proc/self/status", name);
	return v;
}

/* The kernel's view of a dropped process: exactly WANT_CAPS, nothing to
 * inherit, an empty bounding set, no_new_privs. */
static void check_dropped_caps(void)
{
	unsigned long long v;

	v = status_field("CapEff", 1);
	CHECK(v == WANT_CAPS, "CapEff %#llx, want %#llx", v, WANT_CAPS);
	v = status_field("CapPrm", 1);
	CHECK(v == WANT_CAPS, "CapPrm %#llx, want %#llx", v, WANT_CAPS);
	v = status_field("CapInh", 1);
	CHECK(v == 0, "CapInh %#llx, want 0", v);
	v = status_field("CapBnd", 1);
	CHECK(v == 0, "CapBnd %#llx, want 0", v);
	v = status_field("CapAmb", 1);
	CHECK(v == 0, "CapAmb %#llx, want 0", v);
	v = status_field("NoNewPrivs", 0);
	CHECK(v == 1, "NoNewPrivs %llu, want 1", v);
}

static void drop_or_fail(const char *user)
{
	char err[256] = "";
	int rc = privs_drop(user, err, sizeof(err));

	CHECK(rc == 0, "privs_drop(%s) = %d: %s", user ? user : "NULL", rc, err);
}

static void body_drop_as_root(void *arg)
{
	(void)arg;
	drop_or_fail(NULL);
	check_dropped_caps();
	CHECK(getuid() == 0 && geteuid() == 0, "uid changed to %u/%u", getuid(), geteuid());
}

static void test_drop_as_root(void **state)
{
	(void)state;
	run_in_child(body_drop_as_root, NULL);
}

static void body_drop_to_nobody(void *arg)
{
	const struct passwd *pw = arg;
	uid_t r, e, s;
	gid_t rg, eg, sg;

	drop_or_fail("nobody");
	check_dropped_caps();
	CHECK(!getresuid(&r, &e, &s) && r == pw->pw_uid && e == pw->pw_uid && s == pw->pw_uid,
	      "uids %u/%u/%u, want %u", r, e, s, pw->pw_uid);
	CHECK(!getresgid(&rg, &eg, &sg) && rg == pw->pw_gid && eg == pw->pw_gid && sg == pw->pw_gid,
	      "gids %u/%u/%u, want %u", rg, eg, sg, pw->pw_gid);
	CHECK(getgroups(0, NULL) == 0, "%d supplementary groups left", getgroups(0, NULL));
	/* And there is no way back. */
	CHECK(setuid(0) == -1 && errno == EPERM, "setuid(0) after the drop: %s", strerror(errno));
}

static void test_drop_to_nobody(void **state)
{
	struct passwd *pw = getpwnam("nobody");

	(void)state;
	if (!pw)
		fail_msg("this system has no user 'nobody'");
	/* The child gets its own copy; getpwnam's buffer is static. */
	run_in_child(body_drop_to_nobody, pw);
}

static void body_unknown_user(void *arg)
{
	char err[256] = "";
	unsigned long long before, after;
	int rc;

	(void)arg;
	before = status_field("CapEff", 1);
	rc = privs_drop("cutthru-no-such-user", err, sizeof(err));
	CHECK(rc == -ENOENT, "privs_drop of an unknown user = %d (%s), want -ENOENT", rc, err);
	CHECK(strstr(err, "cutthru-no-such-user"), "message does not name the user: %s", err);
	after = status_field("CapEff", 1);
	CHECK(before == after, "a refused drop changed CapEff from %#llx to %#llx", before, after);
}

static void test_unknown_user_changes_nothing(void **state)
{
	(void)state;
	run_in_child(body_unknown_user, NULL);
}

static void *wait_on_pipe(void *arg)
{
	char c;

	return (void *)(intptr_t)read(*(int *)arg, &c, 1);
}

/* Capabilities are per thread: with a second thread, a drop would leave
 * it with everything, so it is refused. */
static void body_refuses_with_threads(void *arg)
{
	unsigned long long before, after;
	char err[256] = "";
	int fds[2], rc;
	pthread_t t;

	(void)arg;
	CHECK(!pipe(fds), "pipe: %s", strerror(errno));
	CHECK(!pthread_create(&t, NULL, wait_on_pipe, &fds[0]), "pthread_create failed");
	before = status_field("CapEff", 1);
	rc = privs_drop(NULL, err, sizeof(err));
	CHECK(rc == -EBUSY, "privs_drop with 2 threads = %d (%s), want -EBUSY", rc, err);
	CHECK(strstr(err, "2 threads"), "message does not say why: %s", err);
	after = status_field("CapEff", 1);
	CHECK(before == after, "a refused drop changed CapEff from %#llx to %#llx", before, after);
	CHECK(write(fds[1], "x", 1) == 1, "waking the thread failed");
	pthread_join(t, NULL);
}

static void test_refuses_with_threads(void **state)
{
	(void)state;
	run_in_child(body_refuses_with_threads, NULL);
}

/*
 * What the running daemon does after the drop, each checked for real in a
 * network namespace of the child's own: the watchdog's repairs (TC filter,
 * qdisc, rules, routes, nftables table), map updates through held fds
 * (hash and sockhash), a transparent, marked server leg on a low port.
 * And what it can no longer do: load a program, create a map.
 */
struct netns_env {
	struct config cfg;
	struct loader ld;
	int sockhash_fd;
	int tcp_pair[2];
	int lo_ifindex;
};

/*
 * A mount namespace of the child's own with a fresh bpffs at /sys/fs/bpf:
 * the loader pins its maps there, and nothing of it reaches the host.
 */
static void private_bpffs(void)
{
	CHECK(!unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS): %s", strerror(errno));
	CHECK(!mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "making / private: %s",
	      strerror(errno));
	CHECK(!mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"), "mounting bpffs: %s",
	      strerror(errno));
}

static void bring_lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket: %s", strerror(errno));
	CHECK(!ioctl(fd, SIOCGIFFLAGS, &ifr), "SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	CHECK(!ioctl(fd, SIOCSIFFLAGS, &ifr), "SIOCSIFFLAGS lo: %s", strerror(errno));
	close(fd);
}

static void tcp_pair_on_loopback(int pair[2])
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(lfd >= 0 && !bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) && !listen(lfd, 1) &&
		      !getsockname(lfd, (struct sockaddr *)&sin, &len),
	      "loopback listener: %s", strerror(errno));
	pair[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(pair[0] >= 0 && !connect(pair[0], (struct sockaddr *)&sin, sizeof(sin)),
	      "loopback connect: %s", strerror(errno));
	pair[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(pair[1] >= 0, "accept: %s", strerror(errno));
	close(lfd);
}

/* The daemon's set-up, as root with every capability. */
static void set_up_like_the_daemon(struct netns_env *env)
{
	char why[256] = "";
	int err;

	CHECK(!unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET): %s", strerror(errno));
	private_bpffs();
	bring_lo_up();
	env->lo_ifindex = (int)if_nametoindex("lo");
	config_defaults(&env->cfg);
	err = loader_load(&env->ld, &env->cfg);
	CHECK(!err, "loader_load: %s", strerror(-err));
	err = loader_attach(&env->ld, "lo", why, sizeof(why));
	CHECK(!err, "loader_attach lo: %s", why);
	err = routing_install(&env->cfg);
	CHECK(!err, "routing_install: %s", strerror(-err));
	env->sockhash_fd = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "t_sockhash", sizeof(__u64),
					  sizeof(__u64), 4, NULL);
	CHECK(env->sockhash_fd >= 0, "creating a sockhash: %s", strerror(errno));
	tcp_pair_on_loopback(env->tcp_pair);
}

static void check_watchdog_repairs(struct netns_env *env)
{
	struct tc_attachment *att = &env->ld.att[0];
	struct bpf_tc_hook hook = att->hook;
	struct bpf_tc_opts opts = { .sz = sizeof(opts),
				    .handle = CUTTHRU_TC_HANDLE,
				    .priority = CUTTHRU_TC_PRIORITY };
	int n;

	/* Someone deletes the filter; then the whole clsact qdisc. */
	CHECK(!bpf_tc_detach(&hook, &opts), "removing the filter: %s", strerror(errno));
	n = loader_ensure_attached(&env->ld);
	CHECK(n == 1, "re-attaching the filter after the drop gave %d (%s)", n,
	      n < 0 ? strerror(-n) : "count");
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	CHECK(!bpf_tc_hook_destroy(&hook), "removing the qdisc: %s", strerror(errno));
	n = loader_ensure_attached(&env->ld);
	CHECK(n == 1, "re-creating qdisc and filter after the drop gave %d (%s)", n,
	      n < 0 ? strerror(-n) : "count");

	/* Someone deletes the rules, routes and the nftables table. */
	routing_remove(&env->cfg);
	n = routing_ensure(&env->cfg);
	CHECK(n == 5, "restoring 2 rules, 2 routes and the nftables table gave %d (%s)", n,
	      n < 0 ? strerror(-n) : "count");
	n = routing_ensure(&env->cfg);
	CHECK(n == 0, "a second routing_ensure found %d missing", n);
}

static void check_map_updates(struct netns_env *env)
{
	struct proxy_maps maps;
	struct cutthru_quad quad = { .family = AF_INET, .sport = htons(40000), .dport = htons(80) };
	struct cutthru_conn value = { .service_id = 1 }, back;
	__u64 cookie = 1, fd = (__u64)env->tcp_pair[0];

	loader_proxy_maps(&env->ld, &maps);
	CHECK(!bpf_map_update_elem(maps.quads_fd, &quad, &value, BPF_ANY),
	      "quads update after the drop: %s", strerror(errno));
	CHECK(!bpf_map_lookup_elem(maps.quads_fd, &quad, &back) && back.service_id == 1,
	      "quads lookup after the drop: %s", strerror(errno));
	CHECK(!bpf_map_delete_elem(maps.quads_fd, &quad), "quads delete after the drop: %s",
	      strerror(errno));
	CHECK(!bpf_map_update_elem(env->sockhash_fd, &cookie, &fd, BPF_NOEXIST),
	      "sockhash insert of a TCP socket after the drop: %s", strerror(errno));
	CHECK(!bpf_map_delete_elem(env->sockhash_fd, &cookie), "sockhash delete: %s",
	      strerror(errno));
}

static void check_bpf_creation_refused(void)
{
	static const struct bpf_insn ret0[] = {
		{ .code = 0xb7, .dst_reg = BPF_REG_0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 }, /* exit */
	};
	LIBBPF_OPTS(bpf_map_create_opts, lpm, .map_flags = BPF_F_NO_PREALLOC);
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "t_ret0", "GPL", ret0, 2, NULL);
	CHECK(fd == -EPERM, "loading a TC program after the drop gave %d, want -EPERM", fd);
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_lpm", 8, 4, 4, &lpm);
	CHECK(fd == -EPERM, "creating an LPM trie after the drop gave %d, want -EPERM", fd);
}

/* conn.c's server leg: the client's address and port, transparent, marked. */
static void check_server_leg(int family, const char *addr, uint16_t port, uint32_t mark)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, fd;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0, "socket: %s", strerror(errno));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		len = sizeof(*sin);
		CHECK(!setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)),
		      "IP_TRANSPARENT after the drop: %s", strerror(errno));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		len = sizeof(*sin6);
		CHECK(!setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)),
		      "IPV6_TRANSPARENT after the drop: %s", strerror(errno));
	}
	CHECK(!setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)),
	      "SO_MARK after the drop: %s", strerror(errno));
	CHECK(!bind(fd, (struct sockaddr *)&ss, len), "binding %s port %u after the drop: %s", addr,
	      port, strerror(errno));
	close(fd);
}

static void body_daemon_work_after_drop(void *arg)
{
	const char *user = arg;
	struct netns_env env;

	memset(&env, 0, sizeof(env));
	set_up_like_the_daemon(&env);
	drop_or_fail(user);
	check_dropped_caps();
	check_watchdog_repairs(&env);
	check_map_updates(&env);
	check_bpf_creation_refused();
	check_server_leg(AF_INET, "198.18.7.1", 80, env.cfg.sock_mark);
	check_server_leg(AF_INET6, "2001:db8:7::1", 443, env.cfg.sock_mark);
	/* The teardown at exit. */
	loader_detach_all(&env.ld);
	CHECK(!routing_tc_hook_in_use(env.lo_ifindex), "the filter is still on lo after detach");
	routing_remove(&env.cfg);
	CHECK(routing_ensure(&env.cfg) == 5, "routing_remove after the drop left something");
}

static void test_daemon_work_after_drop_as_root(void **state)
{
	(void)state;
	run_in_child(body_daemon_work_after_drop, NULL);
}

static void test_daemon_work_after_drop_as_nobody(void **state)
{
	(void)state;
	run_in_child(body_daemon_work_after_drop, "nobody");
}

/*
 * The whole set-up, sockmap self-test included, with only the capabilities
 * of the systemd unit's CapabilityBoundingSet= (read from the unit, so the
 * two cannot drift apart) and no_new_privs, as systemd would start it;
 * then the drop.
 */
static void limit_to_unit_caps(const char *caps)
{
	char name[64];
	const char *p = caps;
	int n, cap;

	capng_clear(CAPNG_SELECT_ALL);
	while (sscanf(p, " %63s%n", name, &n) == 1) {
		char *c;

		p += n;
		for (c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		cap = capng_name_to_capability(strncmp(name, "cap_", 4) ? name : name + 4);
		CHECK(cap >= 0, "unknown capability %s in " UNIT_FILE, name);
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
			     (unsigned)cap);
	}
	CHECK(!capng_apply(CAPNG_SELECT_BOUNDS) && !capng_apply(CAPNG_SELECT_CAPS),
	      "limiting the capabilities to the unit's: %s", strerror(errno));
	CHECK(!prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs: %s", strerror(errno));
}

static void body_setup_with_unit_caps(void *arg)
{
	struct netns_env env;
	struct cut cut;
	char why[256] = "";
	int err;

	memset(&env, 0, sizeof(env));
	CHECK(!unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET): %s", strerror(errno));
	private_bpffs();
	bring_lo_up();
	limit_to_unit_caps(arg);
	config_defaults(&env.cfg);
	err = loader_load(&env.ld, &env.cfg);
	CHECK(!err, "loading the programs with the unit's capabilities: %s", strerror(-err));
	err = loader_attach_netns(&env.ld) ?: loader_attach(&env.ld, "lo", why, sizeof(why));
	CHECK(!err, "attaching with the unit's capabilities: %s", strerror(-err));
	err = cut_init(&cut, why, sizeof(why));
	CHECK(!err, "the sockmap cut-through with the unit's capabilities: %s", why);
	err = routing_install(&env.cfg);
	CHECK(!err, "routing_install with the unit's capabilities: %s", strerror(-err));
	check_server_leg(AF_INET, "198.18.7.1", 80, env.cfg.sock_mark);
	drop_or_fail(NULL);
	check_dropped_caps();
	CHECK(loader_ensure_attached(&env.ld) == 0, "the filter went missing");
}

static void test_setup_with_the_units_capabilities(void **state)
{
	char line[512], *caps = NULL;
	FILE *f = fopen(UNIT_FILE, "re");

	(void)state;
	if (!f)
		fail_msg("cannot open %s (run from the repository's root): %s", UNIT_FILE,
			 strerror(errno));
	while (!caps && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapabilityBoundingSet=", 22))
			caps = line + 22;
	fclose(f);
	if (!caps)
		fail_msg("%s has no CapabilityBoundingSet=", UNIT_FILE);
	run_in_child(body_setup_with_unit_caps, caps);
}

/* pam_unix reads /etc/shadow itself when it runs as uid 0: root:shadow
 * 0640 lets the owner read it without CAP_DAC_OVERRIDE. Not as nobody. */
static void body_shadow(void *arg)
{
	const char *user = arg;
	int fd;

	drop_or_fail(user);
	fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
	if (!user)
		CHECK(fd >= 0, "root without CAP_DAC_OVERRIDE cannot read /etc/shadow: %s",
		      strerror(errno));
	else
		CHECK(fd < 0 && errno == EACCES, "nobody opened /etc/shadow (fd %d, %s)", fd,
		      strerror(errno));
}

static void test_shadow_readable_as_root_only(void **state)
{
	(void)state;
	run_in_child(body_shadow, NULL);
	run_in_child(body_shadow, "nobody");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_as_root),
		cmocka_unit_test(test_drop_to_nobody),
		cmocka_unit_test(test_unknown_user_changes_nothing),
		cmocka_unit_test(test_refuses_with_threads),
		cmocka_unit_test(test_daemon_work_after_drop_as_root),
		cmocka_unit_test(test_daemon_work_after_drop_as_nobody),
		cmocka_unit_test(test_shadow_readable_as_root_only),
		cmocka_unit_test(test_setup_with_the_units_capabilities),
	};

	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
