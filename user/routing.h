/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What bpf_sk_assign needs around it: intercepted packets carry a mark, a
 * rule sends marked packets to a table whose default route is local, for
 * IPv4 and IPv6 (netlink, libmnl). And the proxied flows are kept out of
 * conntrack (notrack by mark, libnftables): with the client's port spoofed
 * both legs have the same 4-tuple and would collide there.
 */
#ifndef CUTTHRU_ROUTING_H
#define CUTTHRU_ROUTING_H

#include "cli.h"

/* The nftables table cutthru owns in the namespace it runs in. */
#define CUTTHRU_NFT_TABLE "cutthru"

/* Installs rules, routes and the notrack table, replacing stale ones.
 * Logs what failed. */
int routing_install(const struct config *cfg);
/* Puts back whatever of it someone removed. Returns how many pieces were
 * missing (0: all there) or -errno. */
int routing_ensure(const struct config *cfg);
/* Removes all of it; quiet about what is already gone. */
void routing_remove(const struct config *cfg);
/* Does any TC filter remain on ifindex's clsact hooks? */
int routing_tc_hook_in_use(int ifindex);

#endif
