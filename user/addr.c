// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"

static void clear_host_bits(struct prefix *p)
{
	int bits = p->family == AF_INET ? 32 : 128;
	int i;

	for (i = p->len; i < bits; i++)
		p->addr.bytes[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

static int parse_u32(const char *text, unsigned long max, unsigned long *out)
{
	char *end;

	/* strtoul would skip blanks and take a sign: only digits are numbers. */
	if (!isdigit((unsigned char)*text))
		return -EINVAL;
	errno = 0;
	*out = strtoul(text, &end, 10);
	if (errno || *end || *out > max)
		return -EINVAL;
	return 0;
}

int prefix_parse(const char *text, struct prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned long len;
	char *slash;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	memset(out, 0, sizeof(*out));
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';

	if (inet_pton(AF_INET, buf, out->addr.bytes) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr.bytes) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;

	len = out->family == AF_INET ? 32 : 128;
	if (slash && parse_u32(slash + 1, len, &len))
		return -EINVAL;
	out->len = (uint8_t)len;
	clear_host_bits(out);
	return 0;
}

int endpoint_prefix_parse(const char *text, struct endpoint_prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 16];
	const char *port_text;
	unsigned long port;
	char *colon;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);

	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		port_text = close + 2;
		if (prefix_parse(buf + 1, &out->prefix) || out->prefix.family != AF_INET6)
			return -EINVAL;
	} else {
		colon = strrchr(buf, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		port_text = colon + 1;
		/* An unbracketed IPv6 address would leave colons behind. */
		if (strchr(buf, ':') || prefix_parse(buf, &out->prefix) ||
		    out->prefix.family != AF_INET)
			return -EINVAL;
	}
	if (parse_u32(port_text, 65535, &port) || port == 0)
		return -EINVAL;
	out->port = (uint16_t)port;
	return 0;
}

int prefix_contains(const struct prefix *p, uint8_t family, const union cutthru_addr *a)
{
	struct prefix probe = { .family = family, .len = p->len, .addr = *a };

	if (p->family != family)
		return 0;
	clear_host_bits(&probe);
	return memcmp(probe.addr.bytes, p->addr.bytes, sizeof(p->addr)) == 0;
}

void sockaddr_to_addr(const struct sockaddr_storage *ss, uint8_t *family, union cutthru_addr *addr,
		      uint16_t *port)
{
	memset(addr, 0, sizeof(*addr));
	*family = (uint8_t)ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		addr->v4 = sin->sin_addr.s_addr;
		*port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		memcpy(addr->bytes, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	}
}

socklen_t addr_to_sockaddr(uint8_t family, const union cutthru_addr *addr, uint16_t port,
			   struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = addr->v4;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (void *)ss;

	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, addr->bytes, 16);
	sin6->sin6_port = htons(port);
	return sizeof(*sin6);
}

const char *endpoint_str(uint8_t family, const union cutthru_addr *addr, uint16_t port, char *buf,
			 size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(family, addr->bytes, ip, sizeof(ip));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
	return buf;
}

const char *prefix_str(const struct prefix *p, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr.bytes, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, p->len);
	return buf;
}
