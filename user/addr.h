/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Addresses, prefixes and endpoints as users write them. */
#ifndef CUTTHRU_ADDR_H
#define CUTTHRU_ADDR_H

#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "cutthru/abi.h"

struct prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t len; /* prefix length in bits */
	union cutthru_addr addr; /* host bits cleared */
};

struct endpoint_prefix {
	struct prefix prefix;
	uint16_t port; /* host order */
};

/* "198.18.0.0/15", "2001:db8::/32", or a bare address (full length). */
int prefix_parse(const char *text, struct prefix *out);
/* "198.19.2.2:80", "198.19.2.0/24:80", "[2001:db8::2]:80", "[2001:db8::/64]:80" */
int endpoint_prefix_parse(const char *text, struct endpoint_prefix *out);
/* Does p contain a (of the same family)? */
int prefix_contains(const struct prefix *p, uint8_t family, const union cutthru_addr *a);

/* sockaddr <-> (family, address, port) */
void sockaddr_to_addr(const struct sockaddr_storage *ss, uint8_t *family, union cutthru_addr *addr,
		      uint16_t *port);
socklen_t addr_to_sockaddr(uint8_t family, const union cutthru_addr *addr, uint16_t port,
			   struct sockaddr_storage *ss);

#define ENDPOINT_STRLEN (INET6_ADDRSTRLEN + 16)
/* "198.18.1.2:40000" or "[2001:db8::1]:40000" */
const char *endpoint_str(uint8_t family, const union cutthru_addr *addr, uint16_t port, char *buf,
			 size_t len);
const char *prefix_str(const struct prefix *p, char *buf, size_t len);

#endif
