// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <nftables/libnftables.h>
#include "log.h"
#include "routing.h"

#ifndef TC_H_CLSACT
#define TC_H_CLSACT TC_H_INGRESS
#endif
#ifndef TC_H_MIN_INGRESS
#define TC_H_MIN_INGRESS 0xFFF2U
#define TC_H_MIN_EGRESS 0xFFF3U
#endif

/* Routes cutthru adds are tagged with their own protocol number. */
#define RTPROT_CUTTHRU 0x43

struct nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
	char buf[32768]; /* MNL_SOCKET_DUMP_SIZE; the libmnl macro is not constant */
};

static int nl_open(struct nl *nl)
{
	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID)) {
		mnl_socket_close(nl->sock);
		return -errno;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned int)time(NULL);
	return 0;
}

static void nl_close(struct nl *nl)
{
	mnl_socket_close(nl->sock);
}

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Sends a request and runs cb over the replies until the ack or the end of
 * a dump. Returns 0 or -errno from the kernel. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	unsigned int seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

static struct nlmsghdr *rule_msg(struct nl *nl, uint16_t type, int family, const struct config *cfg)
{
	struct nlmsghdr *nlh =
		nl_msg(nl, type, NLM_F_ACK | (type == RTM_NEWRULE ? NLM_F_CREATE : 0));
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = (uint8_t)family;
	frh->action = FR_ACT_TO_TBL;
	mnl_attr_put_u32(nlh, FRA_FWMARK, cfg->steer_mark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, cfg->table);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, cfg->rule_priority);
	return nlh;
}

static struct nlmsghdr *route_msg(struct nl *nl, uint16_t type, int family,
				  const struct config *cfg)
{
	uint16_t flags = NLM_F_ACK | (type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	struct nlmsghdr *nlh = nl_msg(nl, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_table = RT_TABLE_UNSPEC; /* the table goes in RTA_TABLE */
	rtm->rtm_protocol = RTPROT_CUTTHRU;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put_u32(nlh, RTA_TABLE, cfg->table);
	mnl_attr_put_u32(nlh, RTA_OIF, if_nametoindex("lo"));
	return nlh;
}

/* Removes every copy of our rule (a killed run leaves one behind). */
static void remove_rules(struct nl *nl, int family, const struct config *cfg)
{
	int i;

	for (i = 0; i < 16; i++)
		if (nl_talk(nl, rule_msg(nl, RTM_DELRULE, family, cfg), NULL, NULL))
			break;
}

static int install_family(struct nl *nl, int family, const struct config *cfg)
{
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	int err;

	err = nl_talk(nl, route_msg(nl, RTM_NEWROUTE, family, cfg), NULL, NULL);
	if (err) {
		pr_err("adding the %s local route to table %u failed: %s", fam, cfg->table,
		       strerror(-err));
		return err;
	}
	remove_rules(nl, family, cfg);
	err = nl_talk(nl, rule_msg(nl, RTM_NEWRULE, family, cfg), NULL, NULL);
	if (err)
		pr_err("adding the %s rule 'fwmark 0x%x lookup %u' failed: %s", fam,
		       cfg->steer_mark, cfg->table, strerror(-err));
	return err;
}

static int nft_run(const char *cmd, int quiet)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	int err;

	if (!nft)
		return -ENOMEM;
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	err = nft_run_cmd_from_buffer(nft, cmd);
	if (err && !quiet)
		pr_err("nftables: %s", nft_ctx_get_error_buffer(nft));
	nft_ctx_free(nft);
	return err ? -EINVAL : 0;
}

/*
 * Proxied packets carry the steer mark on the way in and the socket mark on
 * the way out; neither enters conntrack. The "add table; delete table" pair
 * makes the set-up replace a table a killed run left behind.
 */
static int install_notrack(const struct config *cfg)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "add table inet %1$s\n"
		 "delete table inet %1$s\n"
		 "table inet %1$s {\n"
		 "  chain prerouting {\n"
		 "    type filter hook prerouting priority raw; policy accept;\n"
		 "    meta mark 0x%2$x notrack\n"
		 "  }\n"
		 "  chain output {\n"
		 "    type filter hook output priority raw; policy accept;\n"
		 "    meta mark 0x%3$x notrack\n"
		 "  }\n"
		 "}\n",
		 CUTTHRU_NFT_TABLE, cfg->steer_mark, cfg->sock_mark);
	return nft_run(cmd, 0);
}

int routing_install(const struct config *cfg)
{
	struct nl nl;
	int err;

	err = nl_open(&nl);
	if (err) {
		pr_err("opening rtnetlink failed: %s", strerror(-err));
		return err;
	}
	err = install_family(&nl, AF_INET, cfg) ?: install_family(&nl, AF_INET6, cfg);
	nl_close(&nl);
	if (err)
		return err;
	return install_notrack(cfg);
}

/* Adds what is missing, exclusively: -EEXIST means it was there. Returns 1
 * when it had to be added, 0 when present, or -errno. */
static int ensure(struct nl *nl, struct nlmsghdr *nlh)
{
	int err;

	nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_flags &= (uint16_t)~NLM_F_REPLACE;
	err = nl_talk(nl, nlh, NULL, NULL);
	if (err == -EEXIST)
		return 0;
	return err ? err : 1;
}

int routing_ensure(const struct config *cfg)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int restored = 0, r = 0;
	struct nl nl;
	size_t i;

	r = nl_open(&nl);
	if (r)
		return r;
	for (i = 0; i < 2 && r >= 0; i++) {
		r = ensure(&nl, route_msg(&nl, RTM_NEWROUTE, families[i], cfg));
		if (r > 0)
			restored++;
		if (r >= 0)
			r = ensure(&nl, rule_msg(&nl, RTM_NEWRULE, families[i], cfg));
		if (r > 0)
			restored++;
	}
	nl_close(&nl);
	if (r < 0)
		return r;
	if (nft_run("list table inet " CUTTHRU_NFT_TABLE "\n", 1)) {
		r = install_notrack(cfg);
		if (r)
			return r;
		restored++;
	}
	return restored;
}

void routing_remove(const struct config *cfg)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct nl nl;
	size_t i;

	nft_run("delete table inet " CUTTHRU_NFT_TABLE "\n", 1);
	if (nl_open(&nl))
		return;
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		remove_rules(&nl, families[i], cfg);
		nl_talk(&nl, route_msg(&nl, RTM_DELROUTE, families[i], cfg), NULL, NULL);
	}
	nl_close(&nl);
}

static int count_msg(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(*(int *)data)++;
	return MNL_CB_OK;
}

static int count_filters(struct nl *nl, int ifindex, uint32_t parent)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETTFILTER, NLM_F_DUMP);
	struct tcmsg *tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	int count = 0;

	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = parent;
	if (nl_talk(nl, nlh, count_msg, &count))
		return 1; /* unknown: assume in use, never remove others' filters */
	return count;
}

int routing_tc_hook_in_use(int ifindex)
{
	struct nl nl;
	int count;

	if (nl_open(&nl))
		return 1;
	count = count_filters(&nl, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)) +
		count_filters(&nl, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
	nl_close(&nl);
	return count > 0;
}
