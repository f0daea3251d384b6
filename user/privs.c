// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Least privilege after set-up, with libcap-ng.
 *
 * Kept, in the effective and permitted sets only:
 *
 * - CAP_NET_ADMIN. The watchdog (main.c) puts back what someone removed:
 *   the clsact qdisc and the TC filter (loader_ensure_attached:
 *   bpf_tc_hook_create, bpf_tc_attach = RTM_NEWQDISC, RTM_NEWTFILTER), the
 *   fwmark rules and local routes (routing_ensure: RTM_NEWRULE,
 *   RTM_NEWROUTE) and the nftables table (nfnetlink); teardown at exit
 *   removes them. Every server leg (conn.c open_server_leg) sets
 *   IP_TRANSPARENT / IPV6_TRANSPARENT and SO_MARK, which the kernel grants
 *   to CAP_NET_ADMIN or CAP_NET_RAW: CAP_NET_ADMIN is kept anyway, so
 *   CAP_NET_RAW is not.
 * - CAP_NET_BIND_SERVICE. The server leg binds the client's own port; a
 *   client port below 1024 needs it, IP_TRANSPARENT or not.
 *
 * Not kept:
 *
 * - CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN. Loading the programs needs
 *   CAP_BPF and CAP_PERFMON (without it the verifier refuses
 *   intercept.bpf.c). After set-up BPF objects are only used through fds
 *   already held: map lookups, updates and deletes (quads,
 *   auth_sources, auth_failures, the cut-through's sockhash and flows),
 *   BPF_OBJ_GET_INFO_BY_FD (libbpf's bpf_tc_attach calls it on the program
 *   fd) and the program fd passed to cls_bpf over netlink. Since 5.19
 *   ("bpf: refine kernel.unprivileged_bpf_disabled behaviour") the kernel
 *   asks for CAP_BPF only to create maps, load programs or BTF and to get
 *   objects by id, whatever kernel.unprivileged_bpf_disabled says; cutthru
 *   needs 6.1. So nothing after the drop may load a program or create a
 *   map: a reload reuses what set-up created. tests/unit/test_privs.c
 *   checks each of these after the drop.
 * - CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: a file read later (a users file
 *   or the configuration on reload) must be readable by the daemon's uid.
 *   Without --user that uid is 0, which owns root's files: pam_unix reads
 *   /etc/shadow (root:shadow 0640) through the owner bits.
 * - Everything else, and the inheritable, ambient and bounding sets are
 *   emptied: cutthru never executes anything, so a program something else
 *   executes (a PAM module's helper) gets no capability at all.
 *
 * no_new_privs is set too: a set-user-ID or set-group-ID program a PAM
 * module executes runs without that privilege. The one that matters,
 * pam_unix's unix_chkpwd (set-group-ID shadow), is used only when the
 * daemon is not root, and then checks nothing but the calling user's own
 * password, so it could not help anyway: with --user, pam_unix works only
 * if the user's primary group may read /etc/shadow. PAM modules that need
 * a set-user-ID helper need cutthru to run without --user; systemd's
 * hardening options imply no_new_privs in any case.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <cap-ng.h>
#include "privs.h"

static const unsigned int kept_caps[] = { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Capabilities, the bounding set and no_new_privs are per thread. */
static int count_threads(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static int lookup_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *found = NULL;
	size_t len = 4096;
	char *buf = NULL;
	int rc;

	do {
		free(buf);
		len *= 2;
		buf = malloc(len);
		if (!buf) {
			rc = ENOMEM;
			break;
		}
		rc = getpwnam_r(user, &pw, buf, len, &found);
	} while (rc == ERANGE && len < (1 << 20));
	if (!rc && found) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	free(buf);
	if (rc) {
		snprintf(err, errlen, "looking up user '%s' failed: %s", user, strerror(rc));
		return -rc;
	}
	if (!found) {
		snprintf(err, errlen, "user '%s' does not exist", user);
		return -ENOENT;
	}
	return 0;
}

/* The set-up ran with these; a missing one would fail the drop obscurely. */
static int check_kept_present(char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kept_caps); i++) {
		if (capng_have_capability(CAPNG_PERMITTED, kept_caps[i]))
			continue;
		snprintf(err, errlen, "cannot keep %s: the process does not have it",
			 capng_capability_to_name(kept_caps[i]));
		return -EPERM;
	}
	return 0;
}

static int drop_staying_root(int bounding_empty, int have_setpcap, char *err, size_t errlen)
{
	int rc;

	if (!bounding_empty) {
		/* libcap-ng would skip the bounding set without a word. */
		if (!have_setpcap) {
			snprintf(err, errlen,
				 "emptying the capability bounding set needs CAP_SETPCAP, which "
				 "the process does not have");
			return -EPERM;
		}
		rc = capng_apply(CAPNG_SELECT_BOUNDS);
		if (rc) {
			snprintf(err, errlen,
				 "emptying the capability bounding set failed (libcap-ng %d): "
				 "it needs CAP_SETPCAP",
				 rc);
			return -EPERM;
		}
	}
	rc = capng_apply(CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT);
	if (rc) {
		snprintf(err, errlen, "setting the capability sets failed (libcap-ng %d)", rc);
		return -EPERM;
	}
	return 0;
}

/* capng_change_id's return codes, by the step that failed. */
static const char *change_id_step(int rc)
{
	switch (rc) {
	case -2:
	case -7:
		return "PR_SET_KEEPCAPS";
	case -3:
		return "raising CAP_SETUID, CAP_SETGID and CAP_SETPCAP for the switch "
		       "(missing from the permitted set?)";
	case -4:
		return "setresgid";
	case -5:
		return "dropping the supplementary groups";
	case -6:
		return "setresuid";
	case -8:
		return "emptying the bounding set";
	case -9:
		return "setting the capability sets after the switch";
	default:
		return "libcap-ng";
	}
}

static int drop_switching_user(const char *user, uid_t uid, gid_t gid, int bounding_empty,
			       char *err, size_t errlen)
{
	int flags = CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_AMBIENT;
	int rc;

	/* Clearing an already empty bounding set would still ask for
	 * CAP_SETPCAP, which systemd's CapabilityBoundingSet= may have taken. */
	if (!bounding_empty)
		flags |= CAPNG_CLEAR_BOUNDING;
	rc = capng_change_id((int)uid, (int)gid, flags);
	if (rc) {
		snprintf(err, errlen, "switching to user %s (uid %u, gid %u) failed at %s (%s)",
			 user, (unsigned)uid, (unsigned)gid, change_id_step(rc),
			 errno ? strerror(errno) : "no errno");
		return -EPERM;
	}
	return 0;
}

/* "CapEff:\t0000000000003000" -> its value; -ENOENT when absent. */
static int status_hex(const char *field, unsigned long long *value)
{
	size_t flen = strlen(field);
	char line[256];
	FILE *f;
	int rc = -ENOENT;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, flen) || line[flen] != ':')
			continue;
		rc = sscanf(line + flen + 1, "%llx", value) == 1 ? 0 : -EINVAL;
		break;
	}
	fclose(f);
	return rc;
}

static int verify_ids(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	int groups;

	if (getresuid(&ruid, &euid, &suid) || getresgid(&rgid, &egid, &sgid)) {
		int rc = -errno;

		snprintf(err, errlen, "reading the process's ids failed: %s", strerror(-rc));
		return rc;
	}
	groups = getgroups(0, NULL);
	if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid ||
	    sgid != gid || groups != 0) {
		snprintf(err, errlen,
			 "after the switch uids are %u/%u/%u, gids %u/%u/%u and %d "
			 "supplementary groups instead of %u, %u and none",
			 (unsigned)ruid, (unsigned)euid, (unsigned)suid, (unsigned)rgid,
			 (unsigned)egid, (unsigned)sgid, groups, (unsigned)uid, (unsigned)gid);
		return -EPERM;
	}
	return 0;
}

/* What the kernel says now, not what libcap-ng meant to do. */
static int verify_caps(char *err, size_t errlen)
{
	static const struct {
		const char *field;
		unsigned long long want;
	} sets[] = {
		{ "CapEff", PRIVS_KEPT_MASK },
		{ "CapPrm", PRIVS_KEPT_MASK },
		{ "CapInh", 0 },
		{ "CapBnd", 0 },
		{ "CapAmb", 0 },
		{ "NoNewPrivs", 1 },
	};
	unsigned long long have;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(sets); i++) {
		rc = status_hex(sets[i].field, &have);
		if (rc) {
			snprintf(err, errlen, "reading %s from /proc/self/status failed: %s",
				 sets[i].field, strerror(-rc));
			return rc;
		}
		if (have != sets[i].want) {
			snprintf(err, errlen, "after the drop %s is %#llx instead of %#llx",
				 sets[i].field, have, sets[i].want);
			return -EPERM;
		}
	}
	return 0;
}

int privs_drop(const char *user, char *err, size_t errlen)
{
	int threads, bounding_empty, have_setpcap, rc;
	uid_t uid = 0;
	gid_t gid = 0;
	size_t i;

	if (user) {
		rc = lookup_user(user, &uid, &gid, err, errlen);
		if (rc)
			return rc;
	}

	threads = count_threads();
	if (threads != 1) {
		if (threads < 0)
			snprintf(err, errlen, "counting threads in /proc/self/task failed: %s",
				 strerror(-threads));
		else
			snprintf(err, errlen,
				 "dropping privileges with %d threads running: capabilities are "
				 "per thread, it must happen before any thread starts",
				 threads);
		return threads < 0 ? threads : -EBUSY;
	}
	if (capng_get_caps_process()) {
		snprintf(err, errlen, "reading the process's capabilities failed: %s",
			 strerror(errno));
		return -EIO;
	}
	rc = check_kept_present(err, errlen);
	if (rc)
		return rc;
	bounding_empty = capng_have_capabilities(CAPNG_SELECT_BOUNDS) == CAPNG_NONE;
	have_setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);

	capng_clear(CAPNG_SELECT_ALL);
	for (i = 0; i < ARRAY_SIZE(kept_caps); i++)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, kept_caps[i]);
	errno = 0;
	rc = user ? drop_switching_user(user, uid, gid, bounding_empty, err, errlen) :
		    drop_staying_root(bounding_empty, have_setpcap, err, errlen);
	if (rc)
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		rc = -errno;
		snprintf(err, errlen, "setting no_new_privs failed: %s", strerror(-rc));
		return rc;
	}
	rc = verify_caps(err, errlen);
	if (!rc && user)
		rc = verify_ids(uid, gid, err, errlen);
	return rc;
}
